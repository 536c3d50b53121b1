package imapd

import (
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailctl/lib/maildir"
)

func (s *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, _ *imap.StoreOptions) error {
	sel := s.sel
	if sel.readOnly {
		return errReadOnly
	}
	idx, err := sel.resolve(numSet)
	if err != nil {
		return err
	}
	letters, keywords := maildir.FromIMAP(flagStrings(flags.Flags))
	// Start from the folder's flags, not the view's: another session of
	// this process may have changed them since the client last heard.
	// (What other processes did was seen at the last poll.)
	cur, err := sel.ref.f.Current()
	if err != nil {
		return s.mailboxError("store", err)
	}
	msgs := sel.msgs()
	type result struct {
		seq   uint32
		m     maildir.Message
		flags string
		kws   []string
	}
	results := make([]result, 0, len(idx))
	var ups []maildir.FlagUpdate
	for _, i := range idx {
		m := msgs[i]
		if c := findUID(cur.Messages, m.UID); c != nil {
			m = *c
		}
		nl, nk := applyStore(m.Flags, m.Keywords, letters, keywords, flags.Op)
		results = append(results, result{seq: uint32(i + 1), m: m, flags: nl, kws: nk})
		if nl != m.Flags || !slices.Equal(nk, m.Keywords) {
			ups = append(ups, maildir.FlagUpdate{UID: m.UID, Flags: nl, Keywords: nk})
		}
	}
	if len(ups) > 0 {
		ctx, cancel := s.ctx()
		err := sel.ref.f.StoreFlags(ctx, ups)
		cancel()
		if err != nil && !errors.Is(err, maildir.ErrNoMessage) {
			return s.mailboxError("store", err)
		}
		s.afterWrite()
	}
	if flags.Silent {
		return nil
	}
	_, uidKind := numSet.(imap.UIDSet)
	rev2 := s.rev2()
	end := s.conn.batch()
	defer end()
	for _, r := range results {
		m := r.m
		m.Flags, m.Keywords = r.flags, r.kws
		rw := w.CreateMessage(r.seq)
		if uidKind {
			rw.WriteUID(imap.UID(m.UID))
		}
		rw.WriteFlags(sel.flags(&m, rev2))
		if err := rw.Close(); err != nil {
			return err
		}
	}
	return nil
}

// applyStore computes a message's new flags for STORE. The Maildir letter
// P (passed) has no IMAP flag and is kept.
func applyStore(oldFlags string, oldKws []string, letters string, kws []string, op imap.StoreFlagsOp) (string, []string) {
	switch op {
	case imap.StoreFlagsSet:
		keep := ""
		if strings.Contains(oldFlags, "P") {
			keep = "P"
		}
		return sortedLetters(keep + letters), dedupKeywords(kws)
	case imap.StoreFlagsAdd:
		return sortedLetters(oldFlags + letters), dedupKeywords(append(slices.Clone(oldKws), kws...))
	default:
		nl := strings.Map(func(r rune) rune {
			if strings.ContainsRune(letters, r) {
				return -1
			}
			return r
		}, oldFlags)
		nk := slices.DeleteFunc(slices.Clone(oldKws), func(k string) bool {
			return slices.ContainsFunc(kws, func(d string) bool { return strings.EqualFold(d, k) })
		})
		if len(nk) == 0 {
			nk = nil
		}
		return nl, nk
	}
}

func sortedLetters(s string) string {
	b := []byte(s)
	slices.Sort(b)
	return string(slices.Compact(b))
}

// dedupKeywords drops repeated keywords (compared case-insensitively, as
// IMAP does), keeping the first spelling.
func dedupKeywords(kws []string) []string {
	var out []string
	for _, k := range kws {
		if !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, k) }) {
			out = append(out, k)
		}
	}
	return out
}

// findUID finds a message by UID in a sorted slice.
func findUID(msgs []maildir.Message, uid uint32) *maildir.Message {
	i := sort.Search(len(msgs), func(i int) bool { return msgs[i].UID >= uid })
	if i < len(msgs) && msgs[i].UID == uid {
		return &msgs[i]
	}
	return nil
}

func (s *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	sel := s.sel
	if sel.readOnly {
		return nil // CLOSE on an EXAMINEd folder expunges nothing
	}
	cur, err := s.sync()
	if err != nil {
		return s.mailboxError("expunge", err)
	}
	// Only messages the client knows: it can't be told about others.
	known := sel.lastUID()
	var del []uint32
	for i := range cur.Messages {
		m := &cur.Messages[i]
		if m.UID <= known && strings.Contains(m.Flags, "T") && (uids == nil || uids.Contains(imap.UID(m.UID))) {
			del = append(del, m.UID)
		}
	}
	if len(del) > 0 {
		copied := s.copiedForTraining(cur.Messages, del) // read before they go
		ctx, cancel := s.ctx()
		err := sel.ref.f.Expunge(ctx, del)
		cancel()
		if err != nil {
			return s.mailboxError("expunge", err)
		}
		for _, spam := range []bool{true, false} {
			s.trainMsgs(spam, copied[spam])
		}
		if cur, err = s.sync(); err != nil {
			return s.mailboxError("expunge", err)
		}
	}
	return s.applyExpunges(w.WriteExpunge, cur)
}

// uidsOf returns the UIDs of the view's messages at idx.
func (sel *selected) uidsOf(idx []int) []uint32 {
	msgs := sel.msgs()
	uids := make([]uint32, len(idx))
	for i, j := range idx {
		uids[i] = msgs[j].UID
	}
	return uids
}

// destination opens the target folder of COPY or MOVE.
func (s *session) destination(name string) (*folderRef, error) {
	fr, err := s.srv.reg.folder(s.user, name)
	if errors.Is(err, maildir.ErrNoFolder) {
		return nil, errTryCreate
	}
	if err != nil {
		return nil, s.mailboxError("copy", err)
	}
	return fr, nil
}

// copyData builds the COPYUID data: both sets in the same (ascending)
// order.
func copyData(validity uint32, src []uint32, mapping map[uint32]uint32) *imap.CopyData {
	if len(mapping) == 0 {
		return nil
	}
	data := &imap.CopyData{UIDValidity: validity}
	var from, to imap.UIDSet
	for _, u := range src {
		if d, ok := mapping[u]; ok {
			from.AddNum(imap.UID(u))
			to.AddNum(imap.UID(d))
		}
	}
	data.SourceUIDs, data.DestUIDs = from, to
	return data
}

func (s *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	sel := s.sel
	idx, err := sel.resolve(numSet)
	if err != nil {
		return nil, err
	}
	dst, err := s.destination(dest)
	if err != nil {
		return nil, err
	}
	defer s.srv.reg.releaseFolder(dst)
	uids := sel.uidsOf(idx)
	ctx, cancel := s.ctx()
	defer cancel()
	mapping, err := sel.ref.f.CopyTo(ctx, uids, dst.f)
	if err != nil {
		return nil, s.mailboxError("copy", err)
	}
	s.noteCopy(dst.f.Name(), mapping)
	return copyData(dst.f.UIDValidity(), uids, mapping), nil
}

func (s *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	sel := s.sel
	if sel.readOnly {
		return errReadOnly
	}
	idx, err := sel.resolve(numSet)
	if err != nil {
		return err
	}
	dst, err := s.destination(dest)
	if err != nil {
		return err
	}
	defer s.srv.reg.releaseFolder(dst)
	if dst == sel.ref {
		return no(imap.ResponseCodeCannot, "Source and destination are the same mailbox")
	}
	uids := sel.uidsOf(idx)
	spam, train := trainKind(sel.ref.f.Name(), dst.f.Name())
	var toTrain map[uint32][]byte
	if train && s.srv.opts.Trainer != nil {
		toTrain = s.readForTraining(idx)
	}
	ctx, cancel := s.ctx()
	mapping, err := sel.ref.f.MoveTo(ctx, uids, dst.f)
	cancel()
	if err != nil && len(mapping) == 0 {
		return s.mailboxError("move", err)
	}
	if toTrain != nil {
		s.train(spam, toTrain, mapping)
	}
	if data := copyData(dst.f.UIDValidity(), uids, mapping); data != nil {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
	}
	cur, serr := s.sync()
	if serr != nil {
		return s.mailboxError("move", serr)
	}
	if err := s.applyExpunges(w.WriteExpunge, cur); err != nil {
		return err
	}
	return s.mailboxError("move", err)
}
