package imapd

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailctl/lib/maildir"
)

// selected is the state of the selected folder as this client knows it:
// the first n messages of an immutable Snapshot shared with every other
// session that saw the same state. Sequence number i is
// view.Messages[i-1]. Newer states are announced (EXISTS, EXPUNGE, FETCH
// FLAGS) when the protocol allows, and then become the view.
type selected struct {
	ref      *folderRef
	readOnly bool
	view     *maildir.Snapshot
	n        int
	// recent holds the UIDs that are \Recent for this session (RFC 3501
	// §2.3.2): the ones its syncs claimed.
	recent    imap.UIDSet
	keywords  []string // announced in the last FLAGS response, sorted
	searchRes imap.UIDSet
	// copied holds UIDs that COPY put where training applies (spam: true
	// into Junk, false out of it): expunged here, they train as MOVE does.
	copied map[uint32]bool
}

const flagRecent imap.Flag = `\Recent`

// systemFlags are the flags every folder supports.
var systemFlags = []imap.Flag{imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagSeen, imap.FlagDraft}

func (sel *selected) msgs() []maildir.Message { return sel.view.Messages[:sel.n] }

// lastUID is the UID of the last message the client knows (0: none).
func (sel *selected) lastUID() uint32 {
	if sel.n == 0 {
		return 0
	}
	return sel.view.Messages[sel.n-1].UID
}

// claim records the \Recent messages a sync reported.
func (sel *selected) claim(snap *maildir.Snapshot) {
	if snap.FirstRecent > 0 && snap.FirstRecent < snap.UIDNext {
		sel.recent.AddRange(imap.UID(snap.FirstRecent), imap.UID(snap.UIDNext-1))
	}
}

func (s *session) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	s.unselect()
	fr, err := s.srv.reg.folder(s.user, name)
	if err != nil {
		return nil, s.mailboxError("select", err)
	}
	ctx, cancel := s.ctx()
	defer cancel()
	snap, err := fr.f.SyncWith(ctx, maildir.SyncOptions{ReadOnly: options.ReadOnly, Lazy: true})
	if err != nil {
		s.srv.reg.releaseFolder(fr)
		return nil, s.mailboxError("select", err)
	}
	sel := &selected{ref: fr, readOnly: options.ReadOnly, view: snap, n: len(snap.Messages)}
	sel.claim(snap)
	sel.keywords = folderKeywords(snap)
	data := &imap.SelectData{
		NumMessages: uint32(sel.n),
		UIDNext:     imap.UID(snap.UIDNext),
		UIDValidity: snap.UIDValidity,
		Flags:       sel.flagsList(),
	}
	if !options.ReadOnly {
		data.PermanentFlags = append(slices.Clone(data.Flags), imap.FlagWildcard)
	}
	for i := range snap.Messages {
		m := &snap.Messages[i]
		if sel.recent.Contains(imap.UID(m.UID)) {
			data.NumRecent++
		}
		if data.FirstUnseenSeqNum == 0 && !strings.Contains(m.Flags, "S") {
			data.FirstUnseenSeqNum = uint32(i + 1)
		}
	}
	s.sel = sel
	s.log.Debug("imapd: select", "folder", fr.name, "messages", sel.n, "read_only", options.ReadOnly)
	return data, nil
}

func (sel *selected) flagsList() []imap.Flag {
	fl := slices.Clone(systemFlags)
	for _, k := range sel.keywords {
		fl = append(fl, imap.Flag(k))
	}
	return fl
}

// folderKeywords lists the keywords in use, sorted.
func folderKeywords(snap *maildir.Snapshot) []string {
	var kws []string
	for i := range snap.Messages {
		for _, k := range snap.Messages[i].Keywords {
			if !slices.Contains(kws, k) {
				kws = append(kws, k)
			}
		}
	}
	slices.Sort(kws)
	return kws
}

func (s *session) Unselect() error {
	s.unselect()
	return nil
}

func (s *session) unselect() {
	if s.sel != nil {
		s.srv.reg.releaseFolder(s.sel.ref)
		s.sel = nil
	}
}

// sync brings the shared folder up to date and returns its state, without
// telling the client.
func (s *session) sync() (*maildir.Snapshot, error) {
	ctx, cancel := s.ctx()
	defer cancel()
	snap, err := s.sel.ref.f.SyncWith(ctx, maildir.SyncOptions{ReadOnly: s.sel.readOnly, Lazy: true})
	if err != nil {
		return nil, err
	}
	s.sel.claim(snap)
	return snap, nil
}

// Poll runs after every command: it announces what changed.
func (s *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if s.sel == nil {
		return nil
	}
	cur, err := s.sync()
	if err != nil {
		if errors.Is(err, maildir.ErrNoFolder) {
			return nil // deleted or renamed under us: nothing more to tell
		}
		s.log.Warn("imapd: poll", "folder", s.sel.ref.name, "err", err)
		return nil
	}
	return s.update(w, cur, allowExpunge)
}

// update tells the client how cur differs from its view, as far as
// allowExpunge permits, and makes cur the view when it could tell all.
func (s *session) update(w *imapserver.UpdateWriter, cur *maildir.Snapshot, allowExpunge bool) error {
	sel := s.sel
	if cur.Version == sel.view.Version && sel.n == len(cur.Messages) {
		return nil
	}
	old := sel.msgs()
	removed, changed, common := diff(old, cur.Messages)
	rev2 := s.rev2()
	if len(removed) > 0 && !allowExpunge {
		// Sequence numbers must stay put: flags only, in old numbering.
		for _, c := range changed {
			m := &cur.Messages[c.cur]
			if err := w.WriteMessageFlags(uint32(c.old+1), imap.UID(m.UID), sel.flags(m, rev2)); err != nil {
				return err
			}
		}
		return nil
	}
	for k := len(removed) - 1; k >= 0; k-- {
		if err := w.WriteExpunge(uint32(removed[k] + 1)); err != nil {
			return err
		}
	}
	if kws := folderKeywords(cur); !slices.Equal(kws, sel.keywords) {
		sel.keywords = kws
		if err := w.WriteMailboxFlags(sel.flagsList()); err != nil {
			return err
		}
	}
	if len(cur.Messages) > common {
		if err := w.WriteNumMessages(uint32(len(cur.Messages))); err != nil {
			return err
		}
		if !rev2 {
			var recent uint32
			for i := range cur.Messages {
				if sel.recent.Contains(imap.UID(cur.Messages[i].UID)) {
					recent++
				}
			}
			if err := w.WriteNumRecent(recent); err != nil {
				return err
			}
		}
	}
	for _, c := range changed {
		m := &cur.Messages[c.cur]
		if err := w.WriteMessageFlags(uint32(c.cur+1), imap.UID(m.UID), sel.flags(m, rev2)); err != nil {
			return err
		}
	}
	sel.view, sel.n = cur, len(cur.Messages)
	return nil
}

type flagChange struct{ old, cur int }

// diff compares the client's messages with a newer state: the indices in
// old of messages gone, the messages whose flags changed, and how many
// messages both have. UIDs only grow, so messages of cur that old lacks
// all come after the common ones.
func diff(old, cur []maildir.Message) (removed []int, changed []flagChange, common int) {
	j := 0
	for i := range old {
		for j < len(cur) && cur[j].UID < old[i].UID {
			j++
		}
		if j < len(cur) && cur[j].UID == old[i].UID {
			if old[i].Flags != cur[j].Flags || !slices.Equal(old[i].Keywords, cur[j].Keywords) {
				changed = append(changed, flagChange{old: i, cur: j})
			}
			common++
			j++
			continue
		}
		removed = append(removed, i)
	}
	return removed, changed, common
}

// applyExpunges tells the client, through write, about every message of
// its view that cur no longer has (EXPUNGE, from the highest sequence
// number down so each number is right when sent). The view becomes the
// old one minus those messages; the poll after the command announces the
// rest (new messages, flag changes).
func (s *session) applyExpunges(write func(seq uint32) error, cur *maildir.Snapshot) error {
	sel := s.sel
	old := sel.msgs()
	removed, _, _ := diff(old, cur.Messages)
	if len(removed) == 0 {
		return nil
	}
	for k := len(removed) - 1; k >= 0; k-- {
		if err := write(uint32(removed[k] + 1)); err != nil {
			return err
		}
	}
	kept := make([]maildir.Message, 0, len(old)-len(removed))
	r := 0
	for i := range old {
		if r < len(removed) && removed[r] == i {
			r++
			continue
		}
		kept = append(kept, old[i])
	}
	// Version 0 never matches a folder's: the next poll compares in full.
	sel.view = &maildir.Snapshot{UIDValidity: sel.view.UIDValidity, UIDNext: sel.view.UIDNext, Messages: kept}
	sel.n = len(kept)
	return nil
}

// afterWrite adopts the folder's state after our own change (flags)
// silently when it holds exactly the messages of the view: the client
// learns the new flags from our own replies. The disk is not looked at:
// the poll after the command does that.
func (s *session) afterWrite() {
	cur, err := s.sel.ref.f.Current()
	if err != nil {
		return
	}
	old := s.sel.msgs()
	if len(cur.Messages) != len(old) {
		return
	}
	for i := range old {
		if old[i].UID != cur.Messages[i].UID {
			return
		}
	}
	s.sel.view, s.sel.n = cur, len(cur.Messages)
}

// rev2 reports whether the client enabled IMAP4rev2 (no \Recent then).
func (s *session) rev2() bool {
	return s.ic.EnabledCaps().Has(imap.CapIMAP4rev2)
}

// flags returns a message's flags as IMAP shows them to this session.
func (sel *selected) flags(m *maildir.Message, rev2 bool) []imap.Flag {
	recent := !rev2 && sel.recent.Contains(imap.UID(m.UID))
	if len(m.Keywords) == 0 {
		if mask, ok := systemMask(m.Flags); ok {
			return flagTable[mask][boolIndex(recent)]
		}
	}
	names := maildir.ToIMAP(m.Flags, m.Keywords)
	out := make([]imap.Flag, 0, len(names)+1)
	for _, n := range names {
		out = append(out, imap.Flag(n))
	}
	if recent {
		out = append(out, flagRecent)
	}
	return out
}

// maskLetters are the Maildir letters of the IMAP system flags, in the
// order of flagTable's bits.
const maskLetters = "RTDFS"

// flagTable holds, read-only and shared, the flag lists of messages
// without keywords — most messages — by system flags and \Recent: a
// FETCH FLAGS of 10,000 messages then builds no lists.
var flagTable = func() (t [32][2][]imap.Flag) {
	for mask := range 32 {
		var letters []byte
		for i := range len(maskLetters) {
			if mask&(1<<i) != 0 {
				letters = append(letters, maskLetters[i])
			}
		}
		var fl []imap.Flag
		for _, n := range maildir.ToIMAP(string(letters), nil) {
			fl = append(fl, imap.Flag(n))
		}
		t[mask][0] = slices.Clip(fl)
		t[mask][1] = slices.Clip(append(slices.Clone(fl), flagRecent))
	}
	return t
}()

// systemMask maps Maildir letters to flagTable's index; P (passed, no
// IMAP flag) is ignored, anything else is not in the table.
func systemMask(letters string) (int, bool) {
	mask := 0
	for i := 0; i < len(letters); i++ {
		if letters[i] == 'P' {
			continue
		}
		j := strings.IndexByte(maskLetters, letters[i])
		if j < 0 {
			return 0, false
		}
		mask |= 1 << j
	}
	return mask, true
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// idlePoll is how often IDLE looks at the folder even without a signal:
// inotify is a hint, never the only way a change is noticed.
const idlePoll = 30 * time.Second

// Idle waits for changes and announces them until stop is closed.
func (s *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.idle.Add(1)
	s.mu.Unlock()
	defer s.idle.Done()
	if s.sel == nil {
		<-stop
		return nil
	}
	// Subscribe before looking, so a change between the look and the
	// wait is not missed.
	wt := s.srv.getWatcher().Watch(s.sel.ref.f)
	defer wt.Close()
	if err := s.Poll(w, true); err != nil {
		return err
	}
	tick := time.NewTicker(idlePoll)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		case <-wt.C:
			// A delivery or a STORE over many messages is a burst of
			// events: let it settle a little.
			t := time.NewTimer(20 * time.Millisecond)
			select {
			case <-stop:
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		if err := s.Poll(w, true); err != nil {
			return err
		}
	}
}

// resolve returns the indices into the view of the messages a sequence or
// UID set names, ascending and without duplicates. Sequence numbers
// beyond the view are an error (RFC 9051 §9); unknown UIDs are ignored.
func (sel *selected) resolve(set imap.NumSet) ([]int, error) {
	if imap.IsSearchRes(set) {
		set = sel.searchRes
	}
	msgs := sel.msgs()
	var idx []int
	switch set := set.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := r.Start, r.Stop
			if start == 0 {
				start = uint32(len(msgs))
			}
			if stop == 0 {
				stop = uint32(len(msgs))
			}
			if start > stop {
				start, stop = stop, start
			}
			if start == 0 || int64(stop) > int64(len(msgs)) {
				return nil, errBadSeq
			}
			for i := start; i <= stop; i++ {
				idx = append(idx, int(i-1))
				if i == stop {
					break
				}
			}
		}
	case imap.UIDSet:
		last := sel.lastUID()
		for _, r := range set {
			start, stop := uint32(r.Start), uint32(r.Stop)
			if start == 0 {
				start = last
			}
			if stop == 0 {
				stop = last
			}
			if start > stop {
				start, stop = stop, start
			}
			i := sort.Search(len(msgs), func(i int) bool { return msgs[i].UID >= start })
			for ; i < len(msgs) && msgs[i].UID <= stop; i++ {
				idx = append(idx, i)
			}
		}
	default:
		return nil, bad("Invalid message set")
	}
	if !sort.IntsAreSorted(idx) {
		slices.Sort(idx)
	}
	return slices.Compact(idx), nil
}
