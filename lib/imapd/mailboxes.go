package imapd

import (
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailctl/lib/maildir"
)

func (s *session) Create(name string, _ *imap.CreateOptions) error {
	name = strings.TrimSuffix(name, string(delim)) // "CREATE a/" means a (RFC 3501 §6.3.3)
	norm, err := maildir.NormalizeName(name)
	if err != nil {
		return s.mailboxError("create", err)
	}
	if norm == maildir.Inbox {
		return no(imap.ResponseCodeAlreadyExists, "INBOX always exists")
	}
	return s.mailboxError("create", s.user.u.CreateFolder(norm))
}

func (s *session) Delete(name string) error {
	norm, err := maildir.NormalizeName(name)
	if err != nil {
		return s.mailboxError("delete", err)
	}
	// A session that has it selected stays so (go-imap keeps the state):
	// its commands find no messages, its polls nothing new.
	if err := s.user.u.DeleteFolder(norm); err != nil {
		return s.mailboxError("delete", err)
	}
	s.srv.reg.forget(s.user, norm)
	return nil
}

func (s *session) Rename(oldName, newName string, _ *imap.RenameOptions) error {
	on, err := maildir.NormalizeName(oldName)
	if err != nil {
		return s.mailboxError("rename", err)
	}
	nn, err := maildir.NormalizeName(strings.TrimSuffix(newName, string(delim)))
	if err != nil {
		return s.mailboxError("rename", err)
	}
	if nn == on {
		return no(imap.ResponseCodeAlreadyExists, "Same name")
	}
	if on != maildir.Inbox {
		s.srv.reg.forget(s.user, on)
	}
	if err := s.user.u.RenameFolder(on, nn); err != nil {
		return s.mailboxError("rename", err)
	}
	if on != maildir.Inbox {
		ctx, cancel := s.ctx()
		defer cancel()
		if err := s.user.u.RenameSubscriptions(ctx, on, nn); err != nil {
			s.log.Warn("imapd: rename subscriptions", "err", err)
		}
	}
	return nil
}

func (s *session) Subscribe(name string) error   { return s.subscribe(name, true) }
func (s *session) Unsubscribe(name string) error { return s.subscribe(name, false) }

func (s *session) subscribe(name string, on bool) error {
	ctx, cancel := s.ctx()
	defer cancel()
	return s.mailboxError("subscribe", s.user.u.SetSubscribed(ctx, name, on))
}

// listEntry is one name LIST may show.
type listEntry struct {
	name        string
	exists      bool // a real folder, not just a parent implied by a child
	hasChildren bool
	subscribed  bool
}

func (s *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		// LIST "" "": the hierarchy delimiter and root.
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	names, err := s.user.u.Folders()
	if err != nil {
		return s.mailboxError("list", err)
	}
	needSubs := options.SelectSubscribed || options.ReturnSubscribed
	subs := map[string]bool{}
	if needSubs {
		sl, err := s.user.u.Subscriptions()
		if err != nil {
			return s.mailboxError("list", err)
		}
		for _, n := range sl {
			subs[n] = true
		}
	}
	entries := listTree(names, subs, options.SelectSubscribed)
	ref = canonInbox(ref)
	for i := range patterns {
		patterns[i] = canonInbox(patterns[i])
	}
	for _, e := range entries {
		if !slices.ContainsFunc(patterns, func(p string) bool { return imapserver.MatchList(e.name, delim, ref, p) }) {
			continue
		}
		if options.SelectSubscribed && !e.subscribed {
			continue
		}
		use := maildir.SpecialUse(e.name)
		if options.SelectSpecialUse && use == "" {
			continue
		}
		data := &imap.ListData{Delim: delim, Mailbox: e.name}
		switch {
		case !e.exists && e.subscribed:
			data.Attrs = append(data.Attrs, imap.MailboxAttrNonExistent)
		case !e.exists:
			data.Attrs = append(data.Attrs, imap.MailboxAttrNoSelect)
		}
		if e.hasChildren {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if use != "" {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(use))
		}
		if needSubs && e.subscribed {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if options.ReturnStatus != nil && e.exists {
			if st, err := s.status(e.name, options.ReturnStatus); err == nil {
				data.Status = st
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

// listTree returns the folders, the parents their names imply (Maildir++
// has "a/b" without "a") and, when withSubs, subscribed names that don't
// exist; INBOX first, then sorted.
func listTree(names []string, subs map[string]bool, withSubs bool) []listEntry {
	m := map[string]*listEntry{}
	add := func(n string, exists bool) {
		e := m[n]
		if e == nil {
			e = &listEntry{name: n}
			m[n] = e
		}
		e.exists = e.exists || exists
		e.subscribed = subs[n]
		for i := strings.LastIndexByte(n, delim); i > 0; i = strings.LastIndexByte(n[:i], delim) {
			p := n[:i]
			pe := m[p]
			if pe == nil {
				pe = &listEntry{name: p, subscribed: subs[p]}
				m[p] = pe
			}
			pe.hasChildren = true
		}
	}
	for _, n := range names {
		add(n, true)
	}
	if withSubs {
		for n := range subs {
			if m[n] == nil {
				add(n, false)
			}
		}
	}
	out := make([]listEntry, 0, len(m))
	for _, e := range m {
		out = append(out, *e)
	}
	slices.SortFunc(out, func(a, b listEntry) int {
		if (a.name == maildir.Inbox) != (b.name == maildir.Inbox) {
			if a.name == maildir.Inbox {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	return out
}

// canonInbox spells a leading INBOX component in upper case, as the
// mailbox name is compared case-insensitively (RFC 3501 §5.1).
func canonInbox(p string) string {
	first, rest, hasRest := strings.Cut(p, string(delim))
	if strings.EqualFold(first, maildir.Inbox) {
		if hasRest {
			return maildir.Inbox + string(delim) + rest
		}
		return maildir.Inbox
	}
	return p
}

func (s *session) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	return s.status(name, options)
}

func (s *session) status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	fr, err := s.srv.reg.folder(s.user, name)
	if err != nil {
		return nil, s.mailboxError("status", err)
	}
	defer s.srv.reg.releaseFolder(fr)
	ctx, cancel := s.ctx()
	defer cancel()
	snap, err := fr.f.SyncWith(ctx, maildir.SyncOptions{ReadOnly: true, Lazy: true})
	if err != nil {
		return nil, s.mailboxError("status", err)
	}
	data := &imap.StatusData{Mailbox: fr.name, UIDNext: imap.UID(snap.UIDNext), UIDValidity: snap.UIDValidity}
	var learnt map[uint32]maildir.CacheEntry
	if options.Size {
		if learnt, err = fr.f.Learn(ctx, unknownSizes(snap.Messages)); err != nil {
			return nil, s.mailboxError("status", err)
		}
	}
	var unseen, deleted, recent uint32
	var size int64
	for i := range snap.Messages {
		m := &snap.Messages[i]
		if !strings.Contains(m.Flags, "S") {
			unseen++
		}
		if strings.Contains(m.Flags, "T") {
			deleted++
		}
		if m.UID >= snap.FirstRecent {
			recent++
		}
		if m.CRLFSize >= 0 {
			size += m.CRLFSize
		} else {
			size += max(learnt[m.UID].CRLFSize, 0)
		}
	}
	n := uint32(len(snap.Messages))
	if options.NumMessages {
		data.NumMessages = &n
	}
	if options.NumUnseen {
		data.NumUnseen = &unseen
	}
	if options.NumDeleted {
		data.NumDeleted = &deleted
	}
	if options.NumRecent {
		data.NumRecent = &recent
	}
	if options.Size {
		data.Size = &size
	}
	if options.AppendLimit {
		lim := uint32(s.srv.opts.AppendLimit)
		data.AppendLimit = &lim
	}
	if options.DeletedStorage {
		var ds int64
		data.DeletedStorage = &ds
	}
	return data, nil
}

func (s *session) Append(name string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	fr, err := s.srv.reg.folder(s.user, name)
	if errors.Is(err, maildir.ErrNoFolder) {
		return nil, errTryCreate
	}
	if err != nil {
		return nil, s.mailboxError("append", err)
	}
	defer s.srv.reg.releaseFolder(fr)
	letters, keywords := maildir.FromIMAP(flagStrings(options.Flags))
	ctx, cancel := s.ctx()
	defer cancel()
	uid, err := fr.f.Append(ctx, r, letters, keywords, options.Time)
	if err != nil {
		return nil, s.mailboxError("append", err)
	}
	return &imap.AppendData{UID: imap.UID(uid), UIDValidity: fr.f.UIDValidity()}, nil
}

func flagStrings(flags []imap.Flag) []string {
	out := make([]string, len(flags))
	for i, f := range flags {
		out[i] = string(f)
	}
	return out
}

// unknownSizes lists the UIDs whose size or date a lazy sync left
// unknown.
func unknownSizes(msgs []maildir.Message) []uint32 {
	var uids []uint32
	for i := range msgs {
		if msgs[i].CRLFSize < 0 || msgs[i].InternalDate.IsZero() {
			uids = append(uids, msgs[i].UID)
		}
	}
	return uids
}
