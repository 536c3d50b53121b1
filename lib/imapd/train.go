package imapd

import (
	"context"
	"io"
	"strings"

	"mailctl/lib/maildir"
)

// Trainer learns from the user's own sorting: a message moved into Junk
// is spam, one moved out of Junk (but not to Trash) is ham. *scan.Bayes
// satisfies it. MOVE trains, and so does COPY followed by the expunge of
// the source in the same session (clients without MOVE: STORE \Deleted,
// EXPUNGE); a COPY alone or an APPEND never does.
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

// maxCopied bounds the COPY UIDs a session remembers for training.
const maxCopied = 10000

// readForTraining reads the messages at idx of the selected folder before
// they move.
func (s *session) readForTraining(idx []int) map[uint32][]byte {
	msgs := s.sel.msgs()
	ms := make([]maildir.Message, len(idx))
	for i, j := range idx {
		ms[i] = msgs[j]
	}
	return s.readMessages(ms)
}

// readMessages reads ms from the selected folder. Unreadable ones are
// skipped: training is best effort.
func (s *session) readMessages(ms []maildir.Message) map[uint32][]byte {
	out := map[uint32][]byte{}
	for _, m := range ms {
		rc, err := s.sel.ref.f.Open(m)
		if err != nil {
			s.log.Warn("imapd: read for training", "uid", m.UID, "err", err)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rc, maxTrainBytes))
		rc.Close()
		if err == nil {
			out[m.UID] = data
		}
	}
	return out
}

// noteCopy remembers copied source UIDs that train once expunged here.
func (s *session) noteCopy(dest string, mapping map[uint32]uint32) {
	spam, train := trainKind(s.sel.ref.f.Name(), dest)
	if !train || s.srv.opts.Trainer == nil {
		return
	}
	if s.sel.copied == nil {
		s.sel.copied = map[uint32]bool{}
	}
	for uid := range mapping {
		if len(s.sel.copied) >= maxCopied {
			return
		}
		s.sel.copied[uid] = spam
	}
}

// copiedForTraining reads, before they are expunged, the messages among
// del that an earlier COPY sent to or from Junk, by spam (true) and ham.
func (s *session) copiedForTraining(cur []maildir.Message, del []uint32) map[bool][][]byte {
	if len(s.sel.copied) == 0 {
		return nil
	}
	var ms []maildir.Message
	for _, uid := range del {
		if _, ok := s.sel.copied[uid]; ok {
			if m := findUID(cur, uid); m != nil {
				ms = append(ms, *m)
			}
		}
	}
	out := map[bool][][]byte{}
	for uid, data := range s.readMessages(ms) {
		spam := s.sel.copied[uid]
		out[spam] = append(out[spam], data)
		delete(s.sel.copied, uid)
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
	s.trainMsgs(spam, msgs)
}

// trainMsgs teaches the Trainer msgs as the user's spam (or ham).
func (s *session) trainMsgs(spam bool, msgs [][]byte) {
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
