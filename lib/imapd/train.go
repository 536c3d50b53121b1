package imapd

import (
	"context"
	"io"
	"strings"
)

// Trainer learns from the user's own sorting: a message moved into Junk
// is spam, one moved out of Junk (but not to Trash) is ham. *scan.Bayes
// satisfies it. Only MOVE trains; APPEND and COPY never do.
type Trainer interface {
	Train(ctx context.Context, user string, spam bool, msgs ...[]byte) error
}

// Folder names that training watches (matched case-insensitively).
const (
	junkFolder  = "Junk"
	trashFolder = "Trash"
)

// maxTrainBytes is how much of a message the trainer reads: the start
// carries the headers and the text that decide.
const maxTrainBytes = 1 << 20

// trainKind says whether moving from src to dst teaches spam, ham or
// nothing.
func trainKind(src, dst string) (spam, train bool) {
	srcJunk, dstJunk := strings.EqualFold(src, junkFolder), strings.EqualFold(dst, junkFolder)
	switch {
	case dstJunk && !srcJunk:
		return true, true
	case srcJunk && !dstJunk && !strings.EqualFold(dst, trashFolder):
		return false, true
	}
	return false, false
}

// readForTraining reads the messages at idx of the selected folder before
// they move. Unreadable ones are skipped: training is best effort.
func (s *session) readForTraining(idx []int) map[uint32][]byte {
	out := map[uint32][]byte{}
	msgs := s.sel.msgs()
	for _, j := range idx {
		rc, err := s.sel.ref.f.Open(msgs[j])
		if err != nil {
			s.log.Warn("imapd: read for training", "uid", msgs[j].UID, "err", err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxTrainBytes))
		rc.Close()
		if err == nil {
			out[msgs[j].UID] = data
		}
	}
	return out
}

// train hands the moved messages (those in mapping) to the Trainer; a
// failure is logged, never the MOVE's failure.
func (s *session) train(spam bool, data map[uint32][]byte, mapping map[uint32]uint32) {
	var msgs [][]byte
	for uid, d := range data {
		if _, ok := mapping[uid]; ok {
			msgs = append(msgs, d)
		}
	}
	if len(msgs) == 0 {
		return
	}
	ctx, cancel := s.ctx()
	defer cancel()
	if err := s.srv.opts.Trainer.Train(ctx, s.user.key, spam, msgs...); err != nil {
		s.log.Warn("imapd: train classifier", "user", s.user.key, "spam", spam, "messages", len(msgs), "err", err)
		return
	}
	s.log.Info("imapd: trained classifier", "user", s.user.key, "spam", spam, "messages", len(msgs))
}
