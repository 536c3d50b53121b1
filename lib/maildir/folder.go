package maildir

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Folder is the IMAP view of one folder: UIDs, flags, keywords, sizes. It
// keeps the state of its last Sync in memory; the UID arguments of its
// methods refer to that state. One Folder is meant for one session, but
// it is safe for concurrent use.
type Folder struct {
	u    *User
	name string
	dir  string // relative to the user's Maildir: "." or ".Lists.Go"

	mu      sync.Mutex
	list    uidList
	cache   Cache
	mc      msgCache // the message-data cache; has its own locks
	kw      keywordTable
	msgs    map[uint32]*entry
	order   []uint32 // UIDs of msgs, ascending
	stamp   dirStamp // what new/, cur/ and the list looked like at the last scan
	stamped bool
	stampRO bool      // the last scan was read-only (claimed nothing, moved nothing)
	partial bool      // a lazy scan left sizes or dates unknown
	last    *Snapshot // built from msgs; nil when msgs changed since
}

// entry is a message as the folder knows it.
type entry struct {
	key            string
	name           string // relative to the folder: "cur/<key>:2,FS" or "new/<key>"
	letters        string // info letters on disk, sorted
	size, crlfSize int64
	date           time.Time
}

// Message describes one message of a Snapshot.
type Message struct {
	UID            uint32
	Key            string    // the file name up to ":"; never changes
	Flags          string    // system flag letters (DFPRST), sorted
	Keywords       []string  // IMAP keywords
	Size, CRLFSize int64     // stored (LF) size; size with CRLF line ends (what IMAP reports)
	InternalDate   time.Time // the file's mtime when the message was first seen
	Name           string    // current file, relative to the folder: "cur/…" or "new/…"
}

// Snapshot is a folder's state after a Sync. A Sync that finds nothing
// changed may return the previous Snapshot itself: treat it as read-only.
type Snapshot struct {
	UIDValidity, UIDNext uint32
	// FirstRecent: messages with UID >= FirstRecent are \Recent for the
	// caller. A Sync claims them (the next Sync of anyone starts above);
	// a read-only Sync only reports where unclaimed messages start.
	FirstRecent uint32
	Messages    []Message // ascending UID
	// Version identifies Messages: two Snapshots with the same Version
	// share the very same Messages (only FirstRecent may differ), so a
	// session can tell "nothing changed" without comparing messages.
	Version uint64
}

// SyncOptions tune Sync.
type SyncOptions struct {
	// ReadOnly leaves new/ alone and claims no \Recent message: for
	// EXAMINE, STATUS and POP3. UIDs are still assigned.
	ReadOnly bool
	// Lazy reads and stats no message file: sizes and dates that neither
	// the file name (S=, W=) nor the cache tell stay unknown
	// (Message.Size or CRLFSize -1, InternalDate zero) until Learn. A
	// folder of 10,000 foreign files (no W=) then opens without reading
	// 10,000 files.
	Lazy bool
}

// Name returns the folder's IMAP name.
func (f *Folder) Name() string { return f.name }

// UIDValidity returns the folder's UIDVALIDITY as of the last Sync or
// change (0 before the first).
func (f *Folder) UIDValidity() uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.list.validity
}

// fileStamp identifies a version of a file or directory.
type fileStamp struct {
	ino   uint64
	size  int64
	mtime int64
}

func stampOf(st fs.FileInfo) fileStamp {
	s := fileStamp{size: st.Size(), mtime: st.ModTime().UnixNano()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		s.ino = sys.Ino
	}
	return s
}

type dirStamp struct {
	files [3]fileStamp // new/, cur/, the UID list
	at    time.Time
}

// settled reports whether the stamp was taken long enough after the last
// change it shows that an unchanged stamp proves nothing changed: a change
// within the same timestamp tick leaves the mtime as it was. On a file
// system with whole-second timestamps that takes a second; where they
// carry nanoseconds (ext4, XFS, btrfs, tmpfs) the kernel's clock tick is a
// few milliseconds, and 50 ms is plenty.
func (d dirStamp) settled() bool {
	var latest int64
	fine := false
	for _, f := range d.files {
		latest = max(latest, f.mtime)
		fine = fine || f.mtime%int64(time.Second) != 0
	}
	window := time.Second
	if fine {
		window = 50 * time.Millisecond
	}
	return d.at.UnixNano()-latest >= int64(window)
}

func (f *Folder) takeStamp() (dirStamp, error) {
	d := dirStamp{at: time.Now()}
	for i, n := range []string{"new", "cur", uidlistName} {
		st, err := f.u.root.Stat(path.Join(f.dir, n))
		if err != nil {
			if i == 2 && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return d, fmt.Errorf("maildir: %s/%s: %w", f.u.key, path.Join(f.dir, n), err)
		}
		d.files[i] = stampOf(st)
	}
	return d, nil
}

// Sync brings the folder's state up to date, as for IMAP SELECT: it scans
// new/ and cur/, gives UIDs to new messages (durably, under the lock),
// moves new/ to cur/ and claims the \Recent messages.
func (f *Folder) Sync(ctx context.Context) (*Snapshot, error) {
	return f.SyncWith(ctx, SyncOptions{})
}

// SyncWith is Sync with options. When new/, cur/ and the UID list are
// unchanged since the last scan (and that scan was well after their last
// change) it skips the directory scan.
func (f *Folder) SyncWith(ctx context.Context, o SyncOptions) (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	stamp, err := f.takeStamp()
	if err != nil {
		return nil, err
	}
	if f.stamped && stamp.files == f.stamp.files && f.stamp.settled() && (o.ReadOnly || !f.stampRO) && (o.Lazy || !f.partial) {
		first := f.list.next // nothing new to claim
		if o.ReadOnly {
			first = f.list.recent
		}
		return f.snapshot(first)
	}
	l, err := f.u.lock(ctx, path.Join(f.dir, uidlistLock))
	if err != nil {
		return nil, err
	}
	defer l.unlock()
	if err := f.openList(ctx); err != nil {
		return nil, err
	}
	defer f.list.close()
	if err := f.cache.open(f.u, f.dir, f.list.validity); err != nil {
		return nil, err
	}
	defer f.cache.close()

	found, err := f.scan()
	if err != nil {
		return nil, err
	}
	first, err := f.assignUIDs(found, o.ReadOnly)
	if err != nil {
		return nil, err
	}
	if !o.ReadOnly {
		f.moveNewToCur(found)
	}
	changed := f.rebuild(found, o.Lazy)
	if err := f.compactList(); err != nil {
		return nil, err
	}
	if err := f.cache.compact(f.u, f.dir, f.list.byUID); err != nil {
		f.u.s.log.Warn("maildir: compact cache", "folder", f.name, "err", err)
	}
	f.stamp, f.stamped, f.stampRO = stamp, true, o.ReadOnly
	if changed || f.keywordsChanged() {
		f.last = nil
	}
	return f.snapshot(first)
}

// scan lists new/ then cur/ (in that order, so a message moving from new/
// to cur/ during the scan is still seen) and returns key → file name.
// Keys the UID list knows but the scan missed get a second look: a readdir
// can miss an entry renamed under it.
func (f *Folder) scan() (map[string]string, error) {
	look := func(found map[string]string) error {
		for _, sub := range []string{"new", "cur"} {
			names, err := f.u.readNames(path.Join(f.dir, sub))
			if err != nil {
				return fmt.Errorf("maildir: scan %s/%s: %w", f.u.key, path.Join(f.dir, sub), err)
			}
			for _, n := range names {
				key, _ := splitName(n)
				if prev, ok := found[key]; ok && strings.HasPrefix(prev, "cur/") {
					continue // the same key twice: cur/ wins
				}
				found[key] = sub + "/" + n
			}
		}
		return nil
	}
	found := make(map[string]string, len(f.list.byKey)+16)
	if err := look(found); err != nil {
		return nil, err
	}
	for key := range f.list.byKey {
		if _, ok := found[key]; !ok {
			again := make(map[string]string, len(found))
			if err := look(again); err != nil {
				return nil, err
			}
			maps.Copy(found, again) // fresher names, and what the first look missed
			break
		}
	}
	return found, nil
}

// assignUIDs records, under the lock, new messages (fresh UIDs, fsynced)
// and vanished ones (tombstones), and claims \Recent unless readOnly. It
// returns the snapshot's FirstRecent.
func (f *Folder) assignUIDs(found map[string]string, readOnly bool) (uint32, error) {
	l := &f.list
	var tombs []uint32
	for uid, key := range l.byUID {
		if _, ok := found[key]; !ok {
			tombs = append(tombs, uid)
		}
	}
	slices.Sort(tombs)
	var fresh []string
	for key := range found {
		if _, ok := l.byKey[key]; !ok {
			fresh = append(fresh, key)
		}
	}
	// Delivery order, as far as the names tell.
	slices.SortFunc(fresh, func(a, b string) int {
		as, au := keyTime(a)
		bs, bu := keyTime(b)
		return cmp.Or(cmp.Compare(as, bs), cmp.Compare(au, bu), strings.Compare(a, b))
	})
	adds, err := l.assign(fresh)
	if err != nil {
		return 0, err
	}
	first := l.recent
	recent := l.recent
	if !readOnly {
		recent = l.next + uint32(len(adds))
	}
	if err := l.write(adds, tombs, recent, len(adds) > 0); err != nil {
		return 0, err
	}
	return first, nil
}

// moveNewToCur moves messages out of new/, keeping any flags a foreign
// writer put on them. A failure is harmless: the message stays in new/.
func (f *Folder) moveNewToCur(found map[string]string) {
	for key, name := range found {
		rest, ok := strings.CutPrefix(name, "new/")
		if !ok {
			continue
		}
		_, info := splitName(rest)
		to := "cur/" + curName(key, sortLetters(infoLetters(info)))
		if err := f.u.root.Rename(path.Join(f.dir, name), path.Join(f.dir, to)); err == nil {
			found[key] = to
		}
	}
}

// rebuild makes f.msgs match the UID list and the scan, learning sizes and
// dates of messages seen for the first time (cache, else stat, unless
// lazy). It reports whether any message came, went, or changed its file
// name.
func (f *Folder) rebuild(found map[string]string, lazy bool) (changed bool) {
	msgs := make(map[uint32]*entry, len(f.list.byUID))
	changed = len(f.msgs) != len(f.list.byUID)
	f.partial = false
	for uid, key := range f.list.byUID {
		name := found[key]
		e := f.msgs[uid]
		if e == nil || e.key != key {
			e = f.learn(uid, key, name, lazy)
			changed = true
		} else if !lazy && !e.known() {
			ne := f.learn(uid, key, name, false)
			e.size, e.crlfSize, e.date = ne.size, ne.crlfSize, ne.date
			changed = true
		}
		if e.name != name {
			changed = true
		}
		f.partial = f.partial || !e.known()
		e.name = name
		_, info := splitName(name)
		e.letters = sortLetters(infoLetters(info))
		msgs[uid] = e
	}
	f.msgs = msgs
	f.order = f.order[:0]
	for uid := range msgs {
		f.order = append(f.order, uid)
	}
	slices.Sort(f.order)
	return changed
}

// known reports whether the entry's sizes and date are all known.
func (e *entry) known() bool { return e.size >= 0 && e.crlfSize >= 0 && !e.date.IsZero() }

// keywordsChanged reports whether dovecot-keywords changed on disk since
// it was last read (the letters in file names then mean other keywords).
func (f *Folder) keywordsChanged() bool {
	if !f.kw.loaded {
		return false
	}
	old := f.kw
	if err := f.refreshKeywords(); err != nil {
		return true
	}
	return f.kw.stamp != old.stamp
}

// learn builds the entry of a message seen for the first time: from its
// name and the cache, and unless lazy from a stat (and a read, without
// W=).
func (f *Folder) learn(uid uint32, key, name string, lazy bool) *entry {
	e := &entry{key: key}
	e.size, e.crlfSize = keySizes(key)
	if c, ok := f.cache.get(uid); ok {
		e.date, e.size, e.crlfSize = c.InternalDate, c.Size, c.CRLFSize
		return e
	}
	if lazy {
		return e
	}
	d, ok := f.measure(path.Join(f.dir, name), e.size, e.crlfSize)
	if !ok {
		return e // renamed meanwhile: learnt at the next sync
	}
	e.date, e.size, e.crlfSize = d.InternalDate, d.Size, d.CRLFSize
	if d.CRLFSize >= 0 {
		f.cache.put(uid, d)
	}
	return e
}

// measure stats a message file (and reads it when crlfSize is unknown).
func (f *Folder) measure(p string, size, crlfSize int64) (CacheEntry, bool) {
	st, err := f.u.root.Stat(p)
	if err != nil {
		return CacheEntry{}, false
	}
	d := CacheEntry{InternalDate: st.ModTime(), Size: size, CRLFSize: crlfSize}
	if d.Size < 0 {
		d.Size = st.Size()
	}
	if d.CRLFSize < 0 {
		if d.CRLFSize, err = f.crlfSizeOf(p); err != nil {
			d.CRLFSize = -1
		}
	}
	return d, true
}

// Learn finds out the sizes and dates a lazy Sync left unknown for the
// given messages, records them in the folder's cache for every process,
// and returns them by UID. Messages gone meanwhile are left out. The files
// are read without holding the folder lock.
func (f *Folder) Learn(ctx context.Context, uids []uint32) (map[uint32]CacheEntry, error) {
	type job struct {
		uid            uint32
		key, name      string
		size, crlfSize int64
	}
	var jobs []job
	out := make(map[uint32]CacheEntry, len(uids))
	f.mu.Lock()
	for _, uid := range uids {
		if e := f.msgs[uid]; e != nil {
			if e.known() {
				out[uid] = CacheEntry{InternalDate: e.date, Size: e.size, CRLFSize: e.crlfSize}
			} else {
				jobs = append(jobs, job{uid, e.key, e.name, e.size, e.crlfSize})
			}
		}
	}
	f.mu.Unlock()
	if len(jobs) == 0 {
		return out, nil
	}
	learnt := make(map[uint32]CacheEntry, len(jobs))
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		d, ok := f.measure(path.Join(f.dir, j.name), j.size, j.crlfSize)
		if !ok {
			name, found := f.findKey(j.key)
			if !found {
				continue
			}
			if d, ok = f.measure(path.Join(f.dir, name), j.size, j.crlfSize); !ok {
				continue
			}
		}
		learnt[j.uid] = d
		out[j.uid] = d
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// Only the cache is written: no need to re-read the UID list, nor to
	// rescan the directories at the next Sync.
	l, err := f.u.lock(ctx, path.Join(f.dir, uidlistLock))
	if err != nil {
		return out, err
	}
	defer l.unlock()
	if err := f.cache.open(f.u, f.dir, f.list.validity); err != nil {
		return out, err
	}
	defer f.cache.close()
	for uid, d := range learnt {
		if e := f.msgs[uid]; e != nil && f.list.byUID[uid] == e.key {
			e.date, e.size, e.crlfSize = d.InternalDate, d.Size, d.CRLFSize
			if d.CRLFSize >= 0 {
				f.cache.put(uid, d)
			}
		}
	}
	f.last = nil
	return out, nil
}

// crlfSizeOf reads a message (written by another program, without W=) and
// returns its size with every bare LF counted as CRLF.
func (f *Folder) crlfSizeOf(p string) (int64, error) {
	file, err := f.u.root.Open(p)
	if err != nil {
		return 0, err
	}
	defer file.Close()
	var n int64
	prevCR := false
	br := bufio.NewReaderSize(file, 32*1024)
	for {
		b, err := br.ReadSlice('\n')
		n += int64(len(b))
		if len(b) > 0 && b[len(b)-1] == '\n' {
			if !(len(b) >= 2 && b[len(b)-2] == '\r') && !(len(b) == 1 && prevCR) {
				n++
			}
		}
		if len(b) > 0 {
			prevCR = b[len(b)-1] == '\r'
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil && err != bufio.ErrBufferFull {
			return 0, err
		}
	}
}

// snapshot returns the state as a Snapshot. An unchanged state gives the
// same Snapshot again (so polling a big folder allocates nothing);
// callers must treat Snapshots as read-only.
func (f *Folder) snapshot(firstRecent uint32) (*Snapshot, error) {
	if l := f.last; l != nil && l.UIDNext == f.list.next && l.UIDValidity == f.list.validity {
		if l.FirstRecent == firstRecent {
			return l, nil
		}
		// Only the \Recent claim differs: share the messages (a Folder
		// shared by many sessions must not copy them per session).
		s := *l
		s.FirstRecent = firstRecent
		f.last = &s
		return &s, nil
	}
	s := &Snapshot{
		UIDValidity: f.list.validity,
		UIDNext:     f.list.next,
		FirstRecent: firstRecent,
		Messages:    make([]Message, 0, len(f.order)),
		Version:     snapshotVersions.Add(1),
	}
	kwLoaded := false
	for _, uid := range f.order {
		e := f.msgs[uid]
		sys, kwl := splitLetters(e.letters)
		m := Message{
			UID: uid, Key: e.key, Flags: sys, Size: e.size, CRLFSize: e.crlfSize,
			InternalDate: e.date, Name: e.name,
		}
		if kwl != "" {
			if !kwLoaded {
				if err := f.refreshKeywords(); err != nil {
					return nil, err
				}
				kwLoaded = true
			}
			m.Keywords = f.kw.keywords(kwl)
		}
		s.Messages = append(s.Messages, m)
	}
	f.last = s
	return s, nil
}

// Current returns the folder's state as this Folder last saw it or made
// it (after StoreFlags, say), without looking at the disk; it claims no
// \Recent message. Sync to learn what others changed.
func (f *Folder) Current() (*Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snapshot(f.list.next)
}

// snapshotVersions numbers Snapshot.Messages process-wide.
var snapshotVersions atomic.Uint64

// Open opens a message for reading. If another process renamed it (new
// flags) since the snapshot, it is found again by its key.
func (f *Folder) Open(m Message) (io.ReadCloser, error) {
	file, err := f.u.root.Open(path.Join(f.dir, m.Name))
	if err == nil {
		return file, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("maildir: open message %d: %w", m.UID, err)
	}
	name, ok := f.findKey(m.Key)
	if !ok {
		return nil, fmt.Errorf("%w: UID %d in %s", ErrNoMessage, m.UID, f.name)
	}
	f.mu.Lock()
	if e := f.msgs[m.UID]; e != nil && e.key == m.Key {
		e.name = name
		f.last = nil
	}
	f.mu.Unlock()
	file, err = f.u.root.Open(path.Join(f.dir, name))
	if err != nil {
		return nil, fmt.Errorf("maildir: open message %d: %w", m.UID, err)
	}
	return file, nil
}

// findKey looks for the current file of a key in cur/, then new/.
func (f *Folder) findKey(key string) (string, bool) {
	for _, sub := range []string{"cur", "new"} {
		names, err := f.u.readNames(path.Join(f.dir, sub))
		if err != nil {
			continue
		}
		for _, n := range names {
			if k, _ := splitName(n); k == key {
				return sub + "/" + n, true
			}
		}
	}
	return "", false
}

// withLock runs fn holding the folder lock with the UID list (and cache)
// open and fresh. f.mu must be held.
func (f *Folder) withLock(ctx context.Context, fn func() error) error {
	l, err := f.u.lock(ctx, path.Join(f.dir, uidlistLock))
	if err != nil {
		return err
	}
	defer l.unlock()
	if err := f.openList(ctx); err != nil {
		return err
	}
	defer f.list.close()
	if err := f.cache.open(f.u, f.dir, f.list.validity); err != nil {
		return err
	}
	defer f.cache.close()
	f.stamped = false // our own changes: look again next time
	f.last = nil
	return fn()
}
