package maildir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// FlagUpdate sets the flags of one message.
type FlagUpdate struct {
	UID      uint32
	Flags    string   // system flag letters (DFPRST)
	Keywords []string // IMAP keywords
}

// SetFlags replaces the flags and keywords of one message.
func (f *Folder) SetFlags(ctx context.Context, uid uint32, flags string, keywords []string) error {
	return f.StoreFlags(ctx, []FlagUpdate{{UID: uid, Flags: flags, Keywords: keywords}})
}

// StoreFlags sets the flags of many messages under one lock (a STORE over
// a range). Renames happen under the folder lock, so no other mailctl
// process scans the folder halfway through one. Messages that are gone are
// skipped and reported with ErrNoMessage after the others are done.
func (f *Folder) StoreFlags(ctx context.Context, ups []FlagUpdate) error {
	for _, up := range ups {
		if err := checkFlags(up.Flags); err != nil {
			return err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	missing := 0
	err := f.withLock(ctx, func() error {
		if err := f.refreshKeywords(); err != nil {
			return err
		}
		kwLetters := make([]string, len(ups))
		dirty := false
		for i, up := range ups {
			l, changed, err := f.kw.letters(up.Keywords)
			if err != nil {
				return err
			}
			kwLetters[i], dirty = l, dirty || changed
		}
		if dirty {
			if err := f.saveKeywords(); err != nil {
				return err
			}
		}
		rn := newDirRenamer(f)
		defer rn.close()
		for i, up := range ups {
			if err := ctx.Err(); err != nil {
				return err
			}
			e := f.msgs[up.UID]
			if e == nil {
				missing++
				continue
			}
			letters := sortLetters(up.Flags + kwLetters[i])
			to := "cur/" + curName(e.key, letters)
			if to == e.name {
				continue
			}
			if err := f.renameMessage(rn, e, to); err != nil {
				if errors.Is(err, ErrNoMessage) {
					missing++
					continue
				}
				return err
			}
			e.letters = letters
		}
		return nil
	})
	if err == nil && missing > 0 {
		err = fmt.Errorf("%w: %d of %d messages are gone", ErrNoMessage, missing, len(ups))
	}
	return err
}

// renameMessage renames e's file to to (relative to the folder), finding
// it by key if another program renamed it first.
func (f *Folder) renameMessage(rn *dirRenamer, e *entry, to string) error {
	err := rn.rename(e.name, to)
	if errors.Is(err, fs.ErrNotExist) {
		name, ok := f.findKey(e.key)
		if !ok {
			return fmt.Errorf("%w: %s", ErrNoMessage, e.key)
		}
		err = rn.rename(name, to)
	}
	if err != nil {
		return fmt.Errorf("maildir: rename %s in %s: %w", e.key, f.name, err)
	}
	e.name = to
	return nil
}

// dirRenamer renames message files within one folder through descriptors
// of its new/ and cur/, opened once: a STORE over 10,000 messages is then
// 10,000 renameat(2) calls, where os.Root would open, stat and close the
// directories for each. Names are single path components (checked), so
// nothing can lead outside the directories.
type dirRenamer struct {
	f    *Folder
	dirs map[string]*os.File
}

func newDirRenamer(f *Folder) *dirRenamer { return &dirRenamer{f: f, dirs: map[string]*os.File{}} }

func (r *dirRenamer) dir(sub string) (*os.File, error) {
	if d := r.dirs[sub]; d != nil {
		return d, nil
	}
	d, err := r.f.u.root.Open(path.Join(r.f.dir, sub))
	if err != nil {
		return nil, err
	}
	r.dirs[sub] = d
	return d, nil
}

// rename renames from to to, both "new/NAME" or "cur/NAME".
func (r *dirRenamer) rename(from, to string) error {
	fs, fb, ok1 := strings.Cut(from, "/")
	ts, tb, ok2 := strings.Cut(to, "/")
	if !ok1 || !ok2 || !validSub(fs) || !validSub(ts) || !validBase(fb) || !validBase(tb) {
		// Not a plain message name: the careful way.
		return r.f.u.root.Rename(path.Join(r.f.dir, from), path.Join(r.f.dir, to))
	}
	fd, err := r.dir(fs)
	if err != nil {
		return err
	}
	td, err := r.dir(ts)
	if err != nil {
		return err
	}
	if err := unix.Renameat(int(fd.Fd()), fb, int(td.Fd()), tb); err != nil {
		return &os.LinkError{Op: "renameat", Old: from, New: to, Err: err}
	}
	return nil
}

func (r *dirRenamer) close() {
	for _, d := range r.dirs {
		d.Close()
	}
}

func validSub(s string) bool { return s == "cur" || s == "new" }

func validBase(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "/\x00")
}

// Append stores a message in the folder with flags and keywords (IMAP
// APPEND) and returns its UID, which is durable when Append returns. The
// message counts against User.Quota.
func (f *Folder) Append(ctx context.Context, r io.Reader, flags string, keywords []string, date time.Time) (uint32, error) {
	if err := checkFlags(flags); err != nil {
		return 0, err
	}
	lim := f.u.Quota
	limited := lim != Quota{}
	var q quotaFile
	var err error
	if limited {
		if q, err = f.u.checkQuota(ctx, lim, 1, 1); err != nil {
			return 0, err
		}
	}
	t, err := f.u.writeTmp(ctx, f.dir, r, date)
	if err != nil {
		return 0, fmt.Errorf("maildir: append to %s: %w", f.name, err)
	}
	if limited && q.exceeds(lim, t.size, 1) {
		f.u.root.Remove(t.path)
		return 0, fmt.Errorf("%w: message of %d bytes", ErrQuotaExceeded, t.size)
	}
	if date.IsZero() {
		date = time.Now()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var uid uint32
	err = f.withLock(ctx, func() error {
		kwl, err := f.keywordLetters(keywords)
		if err != nil {
			return err
		}
		to := path.Join(f.dir, "cur", curName(t.key(), sortLetters(flags+kwl)))
		if err := f.u.root.Rename(t.path, to); err != nil {
			return err
		}
		if err := f.u.syncDir(ctx, path.Join(f.dir, "cur")); err != nil {
			f.u.root.Remove(to)
			return err
		}
		adds, err := f.list.assign([]string{t.key()})
		if err != nil {
			return err
		}
		if err := f.list.write(adds, nil, f.list.recent, true); err != nil {
			return err
		}
		uid = adds[0].uid
		f.cache.put(uid, CacheEntry{InternalDate: date, Size: t.size, CRLFSize: t.crlfSize})
		return nil
	})
	if err != nil {
		f.u.root.Remove(t.path)
		return 0, fmt.Errorf("maildir: append to %s: %w", f.name, err)
	}
	f.u.addQuota(t.size, 1)
	return uid, nil
}

// keywordLetters maps keywords to this folder's letters, saving the table
// if it grew. The folder lock is held.
func (f *Folder) keywordLetters(keywords []string) (string, error) {
	if len(keywords) == 0 {
		return "", nil
	}
	if err := f.refreshKeywords(); err != nil {
		return "", err
	}
	l, changed, err := f.kw.letters(keywords)
	if err != nil {
		return "", err
	}
	if changed {
		if err := f.saveKeywords(); err != nil {
			return "", err
		}
	}
	return l, nil
}

// Expunge removes messages for good. UIDs not in the folder's state are
// ignored.
func (f *Folder) Expunge(ctx context.Context, uids []uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var bytes, n int64
	err := f.withLock(ctx, func() error {
		var tombs []uint32
		for _, uid := range uids {
			e := f.msgs[uid]
			if e == nil {
				continue
			}
			if e.size < 0 { // a lazy sync: quota needs the size
				if st, err := f.u.root.Stat(path.Join(f.dir, e.name)); err == nil {
					e.size = st.Size()
				}
			}
			err := f.u.root.Remove(path.Join(f.dir, e.name))
			if errors.Is(err, fs.ErrNotExist) {
				if name, ok := f.findKey(e.key); ok {
					err = f.u.root.Remove(path.Join(f.dir, name))
				} else {
					err = nil // gone already
				}
			}
			if err != nil {
				return fmt.Errorf("maildir: expunge %d from %s: %w", uid, f.name, err)
			}
			if f.list.byUID[uid] == e.key {
				tombs = append(tombs, uid)
			}
			if e.size > 0 {
				bytes += e.size
			}
			n++
			delete(f.msgs, uid)
		}
		f.order = slices.DeleteFunc(f.order, func(uid uint32) bool { return f.msgs[uid] == nil })
		if err := f.list.write(nil, tombs, f.list.recent, false); err != nil {
			return err
		}
		return f.compactList()
	})
	f.u.addQuota(-bytes, -n)
	return err
}

// CopyTo copies messages into dst (IMAP COPY) and returns source UID →
// new UID. Within one user the copy is a hard link (as Dovecot does); the
// copies count against User.Quota.
func (f *Folder) CopyTo(ctx context.Context, uids []uint32, dst *Folder) (map[uint32]uint32, error) {
	return f.transfer(ctx, uids, dst, false)
}

// MoveTo moves messages into dst (IMAP MOVE) by renaming them, and returns
// source UID → new UID. The files keep their keys.
func (f *Folder) MoveTo(ctx context.Context, uids []uint32, dst *Folder) (map[uint32]uint32, error) {
	return f.transfer(ctx, uids, dst, true)
}

type transferItem struct {
	uid            uint32
	key, name      string
	flags          string
	keywords       []string
	size, crlfSize int64
	date           time.Time
	newKey         string
}

func (f *Folder) transfer(ctx context.Context, uids []uint32, dst *Folder, move bool) (map[uint32]uint32, error) {
	items, err := f.transferItems(uids)
	if err != nil || len(items) == 0 {
		return map[uint32]uint32{}, err
	}
	sameUser := f.u.root == dst.u.root || f.u.key == dst.u.key
	if move && !sameUser {
		return nil, fmt.Errorf("maildir: move between users is not supported")
	}
	var total int64
	for _, it := range items {
		total += max(it.size, 0)
	}
	if !move && dst.u.Quota != (Quota{}) {
		if _, err := dst.u.checkQuota(ctx, dst.u.Quota, total, int64(len(items))); err != nil {
			return nil, err
		}
	}
	done, err := dst.receive(ctx, f, items, move, sameUser)
	result := make(map[uint32]uint32, len(done))
	for _, it := range done {
		result[it.uid] = it.newUID
	}
	if !move {
		var b int64
		for _, it := range done {
			b += max(it.size, 0)
		}
		dst.u.addQuota(b, int64(len(done)))
	}
	if move && len(done) > 0 {
		moved := make([]uint32, len(done))
		for i, it := range done {
			moved[i] = it.uid
		}
		if terr := f.forget(ctx, moved); terr != nil && err == nil {
			err = terr
		}
	}
	return result, err
}

// transferItems collects what a copy or move needs to know about uids.
func (f *Folder) transferItems(uids []uint32) ([]transferItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sorted := slices.Clone(uids)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var items []transferItem
	kwLoaded := false
	for _, uid := range sorted {
		e := f.msgs[uid]
		if e == nil {
			continue
		}
		sys, kwl := splitLetters(e.letters)
		it := transferItem{uid: uid, key: e.key, name: e.name, flags: sys,
			size: e.size, crlfSize: e.crlfSize, date: e.date}
		if kwl != "" {
			if !kwLoaded {
				if err := f.refreshKeywords(); err != nil {
					return nil, err
				}
				kwLoaded = true
			}
			it.keywords = f.kw.keywords(kwl)
		}
		items = append(items, it)
	}
	return items, nil
}

type received struct {
	transferItem
	newUID uint32
}

// receive links, renames or copies items from src into f under f's lock
// and gives them UIDs.
func (f *Folder) receive(ctx context.Context, src *Folder, items []transferItem, move, sameUser bool) ([]received, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var done []received
	err := f.withLock(ctx, func() error {
		var keys []string
		var placed []transferItem
		for _, it := range items {
			if err := ctx.Err(); err != nil {
				return err
			}
			kwl, err := f.keywordLetters(it.keywords)
			if err != nil {
				return err
			}
			key := it.key
			if !move {
				size, crlf := it.size, it.crlfSize
				if size < 0 || crlf < 0 {
					size, crlf = keySizes(it.key)
				}
				key = f.u.s.uniqueName(time.Now())
				if size >= 0 && crlf >= 0 {
					key = withSizes(key, size, crlf)
				}
			}
			to := path.Join(f.dir, "cur", curName(key, sortLetters(it.flags+kwl)))
			ok, err := f.place(src, it, to, move, sameUser)
			if err != nil {
				return err
			}
			if !ok {
				continue // vanished from the source
			}
			it.newKey = key
			keys = append(keys, key)
			placed = append(placed, it)
		}
		if len(keys) == 0 {
			return nil
		}
		if err := f.u.syncDir(ctx, path.Join(f.dir, "cur")); err != nil {
			return err
		}
		adds, err := f.list.assign(keys)
		if err != nil {
			return err
		}
		if err := f.list.write(adds, nil, f.list.recent, true); err != nil {
			return err
		}
		for i, a := range adds {
			it := placed[i]
			done = append(done, received{transferItem: it, newUID: a.uid})
			if it.size >= 0 && it.crlfSize >= 0 && !it.date.IsZero() {
				f.cache.put(a.uid, CacheEntry{InternalDate: it.date, Size: it.size, CRLFSize: it.crlfSize})
			}
		}
		return nil
	})
	return done, err
}

// place puts one source message at to (relative to the user's Maildir):
// rename (move), hard link (copy within a user) or a streamed copy. It
// reports false when the source message is gone.
func (f *Folder) place(src *Folder, it transferItem, to string, move, sameUser bool) (bool, error) {
	from := path.Join(src.dir, it.name)
	op := f.u.root.Link
	if move {
		op = f.u.root.Rename
	}
	if sameUser {
		err := op(from, to)
		if errors.Is(err, fs.ErrNotExist) {
			name, ok := src.findKey(it.key)
			if !ok {
				return false, nil
			}
			from = path.Join(src.dir, name)
			err = op(from, to)
		}
		if err == nil || move {
			return err == nil, err
		}
		// No hard links here (some file systems): copy instead.
	}
	// Not src.Open: that takes src.mu, which is f.mu when src == f.
	rc, err := src.u.root.Open(path.Join(src.dir, it.name))
	if errors.Is(err, fs.ErrNotExist) {
		name, ok := src.findKey(it.key)
		if !ok {
			return false, nil
		}
		rc, err = src.u.root.Open(path.Join(src.dir, name))
	}
	if err != nil {
		return false, fmt.Errorf("maildir: copy %s: %w", it.key, err)
	}
	defer rc.Close()
	t, err := f.u.writeTmp(context.Background(), f.dir, rc, it.date)
	if err != nil {
		return false, err
	}
	if err := f.u.root.Rename(t.path, to); err != nil {
		f.u.root.Remove(t.path)
		return false, err
	}
	return true, nil
}

// forget records that moved messages left this folder.
func (f *Folder) forget(ctx context.Context, uids []uint32) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.withLock(ctx, func() error {
		var tombs []uint32
		for _, uid := range uids {
			if e := f.msgs[uid]; e != nil && f.list.byUID[uid] == e.key {
				tombs = append(tombs, uid)
			}
			delete(f.msgs, uid)
		}
		f.order = slices.DeleteFunc(f.order, func(uid uint32) bool { return f.msgs[uid] == nil })
		if err := f.list.write(nil, tombs, f.list.recent, false); err != nil {
			return err
		}
		return f.compactList()
	})
}
