package pop3d

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/maildir"
	"mailctl/lib/safeio"
)

// lockName is the file in the user's Maildir whose OFD lock marks a POP3
// session: a second session, in this process or another, gets [IN-USE].
// The kernel drops the lock when the session's descriptor closes, also
// when the process dies.
const lockName = "mailctl-pop3.lock"

// errInUse is returned by openMaildrop when another session holds the
// maildrop.
var errInUse = errors.New("maildrop in use by another POP3 session")

// maildrop is a user's INBOX as one POP3 session sees it: the messages
// present at login, numbered from 1, with the session's marks.
type maildrop struct {
	user   *maildir.User
	folder *maildir.Folder
	lock   *safeio.Lock
	msgs   []message
	// live and liveSize count the messages not marked deleted.
	live     int
	liveSize int64
}

type message struct {
	maildir.Message
	uidl      string
	size      int64 // octets with CRLF line ends: LIST, STAT, RETR
	deleted   bool
	retrieved bool // sent whole by RETR: \Seen at QUIT
}

// openMaildrop locks and reads the user's INBOX. The sync is read-only:
// POP3 neither claims IMAP's \Recent nor moves files out of new/.
func openMaildrop(ctx context.Context, store *maildir.Store, a addr.Address, lockWait time.Duration) (b *maildrop, err error) {
	u, err := store.User(a)
	if errors.Is(err, maildir.ErrNoUser) {
		// A user without mail yet: make the Maildir, as delivery would.
		if err = store.CreateUser(ctx, a); err == nil {
			u, err = store.User(a)
		}
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			u.Close()
		}
	}()
	lctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	// Store.User refused symlinks on the way to the user's directory; the
	// lock file is ours alone, next to mailctl-uidlist.
	lk, err := safeio.LockFile(lctx, filepath.Join(store.Dir(), a.Domain, a.Local, lockName))
	if errors.Is(err, safeio.ErrLockTimeout) {
		return nil, errInUse
	}
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lk.Unlock()
		}
	}()
	f, err := u.Folder(maildir.Inbox)
	if err != nil {
		return nil, err
	}
	snap, err := f.SyncWith(ctx, maildir.SyncOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	b = &maildrop{user: u, folder: f, lock: lk, msgs: make([]message, len(snap.Messages))}
	for i, m := range snap.Messages {
		size := m.CRLFSize
		if size < 0 {
			if size, err = b.measure(m); err != nil {
				return nil, err
			}
		}
		b.msgs[i] = message{Message: m, uidl: UIDL(m.Key), size: size}
		b.live++
		b.liveSize += size
	}
	return b, nil
}

// measure counts what RETR would send of a message whose CRLF size is
// unknown (a file without W= in its name that could not be read at sync).
func (b *maildrop) measure(m maildir.Message) (int64, error) {
	r, err := b.folder.Open(m)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return crlfSize(r)
}

// get returns message n (1-based) unless it is missing or deleted.
func (b *maildrop) get(n int) (*message, error) {
	if n < 1 || n > len(b.msgs) {
		return nil, fmt.Errorf("no such message")
	}
	m := &b.msgs[n-1]
	if m.deleted {
		return nil, fmt.Errorf("message %d already deleted", n)
	}
	return m, nil
}

func (b *maildrop) markDeleted(m *message) {
	m.deleted = true
	b.live--
	b.liveSize -= m.size
}

// reset unmarks every deleted message (RSET).
func (b *maildrop) reset() {
	for i := range b.msgs {
		if m := &b.msgs[i]; m.deleted {
			m.deleted = false
			b.live++
			b.liveSize += m.size
		}
	}
}

// open opens a message's file, following a rename by another process
// (new flags).
func (b *maildrop) open(m *message) (io.ReadCloser, error) {
	return b.folder.Open(m.Message)
}

// update is the UPDATE state: it removes the messages marked deleted and
// gives \Seen to those retrieved. The folder is synced first and messages
// are found by their Maildir key, not by the UIDs of the login snapshot:
// a message another program renamed (IMAP flags) is still found, one it
// removed or moved away is skipped, and one delivered meanwhile is never
// touched. It returns how many messages were removed.
func (b *maildrop) update(ctx context.Context, markSeen bool) (int, error) {
	var del, seen []string
	for _, m := range b.msgs {
		switch {
		case m.deleted:
			del = append(del, m.Key)
		case m.retrieved && markSeen && !strings.Contains(m.Flags, "S"):
			seen = append(seen, m.Key)
		}
	}
	if len(del) == 0 && len(seen) == 0 {
		return 0, nil
	}
	snap, err := b.folder.SyncWith(ctx, maildir.SyncOptions{ReadOnly: true})
	if err != nil {
		return 0, err
	}
	byKey := make(map[string]*maildir.Message, len(snap.Messages))
	for i := range snap.Messages {
		byKey[snap.Messages[i].Key] = &snap.Messages[i]
	}
	var uids []uint32
	for _, k := range del {
		if m, ok := byKey[k]; ok {
			uids = append(uids, m.UID)
		}
	}
	var ups []maildir.FlagUpdate
	for _, k := range seen {
		if m, ok := byKey[k]; ok && !strings.Contains(m.Flags, "S") {
			ups = append(ups, maildir.FlagUpdate{UID: m.UID, Flags: m.Flags + "S", Keywords: m.Keywords})
		}
	}
	if len(uids) > 0 {
		if err := b.folder.Expunge(ctx, uids); err != nil {
			return 0, err
		}
	}
	if len(ups) > 0 {
		// A message expunged by IMAP meanwhile is no loss here.
		if err := b.folder.StoreFlags(ctx, ups); err != nil && !errors.Is(err, maildir.ErrNoMessage) {
			return len(uids), err
		}
	}
	return len(uids), nil
}

// close releases the lock and the Maildir.
func (b *maildrop) close() {
	b.lock.Unlock()
	b.user.Close()
}
