package maildir

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"syscall"
)

const (
	uidlistName      = "mailctl-uidlist"
	uidlistLock      = "mailctl-uidlist.lock"
	uidlistHeaderLen = 64
	maxUID           = 1<<32 - 1
)

// uidList is the in-memory copy of a folder's mailctl-uidlist (format in
// doc.go). Its file is open only while the folder lock is held.
type uidList struct {
	log  appendLog
	file *os.File

	validity, next, recent uint32
	gen                    uint32 // changes whenever the file is rewritten
	byKey                  map[string]uint32
	byUID                  map[uint32]string
	dead                   int // lines that no longer name a message
}

type listEntry struct {
	uid uint32
	key string
}

func formatUIDHeader(v, n, r, g uint32) []byte {
	return fmt.Appendf(nil, "mailctl-uidlist 1 V%010d N%010d R%010d G%08x\n", v, n, r, g)
}

func parseUIDHeader(b []byte) (v, n, r, g uint32, err error) {
	if len(b) < uidlistHeaderLen || b[uidlistHeaderLen-1] != '\n' {
		return 0, 0, 0, 0, errors.New("short header")
	}
	h := string(b[:uidlistHeaderLen-1])
	if _, err := fmt.Sscanf(h, "mailctl-uidlist 1 V%d N%d R%d G%x", &v, &n, &r, &g); err != nil {
		return 0, 0, 0, 0, fmt.Errorf("header %q: %w", h, err)
	}
	if !bytes.Equal(formatUIDHeader(v, n, r, g), b[:uidlistHeaderLen]) || v == 0 || n == 0 {
		return 0, 0, 0, 0, fmt.Errorf("header %q", h)
	}
	return v, n, r, g, nil
}

func (l *uidList) resetMaps() {
	l.byKey = map[string]uint32{}
	l.byUID = map[uint32]string{}
	l.dead = 0
	l.next = 1
}

// apply interprets complete lines. Lines that make no sense are counted
// dead (and dropped at the next compaction) rather than failing the folder.
func (l *uidList) apply(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		line := data[:i]
		data = data[i+1:]
		if len(line) > 0 && line[0] == '-' {
			uid, err := strconv.ParseUint(string(line[1:]), 10, 32)
			if err != nil {
				l.dead++
				continue
			}
			if key, ok := l.byUID[uint32(uid)]; ok {
				delete(l.byUID, uint32(uid))
				delete(l.byKey, key)
				l.dead++ // the message line
			}
			l.dead++ // the tombstone itself
			l.bump(uint32(uid))
			continue
		}
		sp := bytes.IndexByte(line, ' ')
		if sp <= 0 || sp == len(line)-1 {
			l.dead++
			continue
		}
		uid64, err := strconv.ParseUint(string(line[:sp]), 10, 32)
		uid := uint32(uid64)
		if err != nil || uid == 0 || l.byUID[uid] != "" {
			l.dead++
			continue
		}
		key := string(line[sp+1:])
		if old, ok := l.byKey[key]; ok { // a later line for the same key wins
			delete(l.byUID, old)
			l.dead++
		}
		l.byKey[key] = uid
		l.byUID[uid] = key
		l.bump(uid)
	}
}

func (l *uidList) bump(uid uint32) {
	if uid >= l.next && uid < maxUID {
		l.next = uid + 1
	}
}

// openList opens and refreshes the list; the caller holds the folder lock
// and must call l.close. A missing list is created with a new UIDVALIDITY.
func (f *Folder) openList(ctx context.Context) error {
	l := &f.list
	p := path.Join(f.dir, uidlistName)
	file, err := f.u.root.OpenFile(p, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		v, verr := f.u.nextUIDValidity(ctx)
		if verr != nil {
			return verr
		}
		if err := f.u.s.writeAtomic(f.u.root, p, formatUIDHeader(v, 1, 1, newGeneration()), true); err != nil {
			return err
		}
		file, err = f.u.root.OpenFile(p, os.O_RDWR|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return fmt.Errorf("maildir: %s/%s: %w", f.u.key, p, err)
	}
	fail := func(err error) error {
		file.Close()
		l.log = appendLog{}
		return err
	}
	hdr := make([]byte, uidlistHeaderLen)
	if _, err := file.ReadAt(hdr, 0); err != nil && !errors.Is(err, io.EOF) {
		return fail(fmt.Errorf("maildir: %s/%s: %w", f.u.key, p, err))
	}
	v, n, r, g, err := parseUIDHeader(hdr)
	if err != nil {
		// Never invent a new UIDVALIDITY for a list that exists.
		return fail(fmt.Errorf("%w: %s/%s: %v (remove the file to start over with new UIDs)", ErrCorrupt, f.u.key, p, err))
	}
	data, reset, err := l.log.readNew(file, g)
	if err != nil {
		return fail(fmt.Errorf("maildir: %s/%s: %w", f.u.key, p, err))
	}
	if reset {
		l.resetMaps()
		data = data[min(len(data), uidlistHeaderLen):]
	} else if v != l.validity {
		return fail(fmt.Errorf("%w: %s/%s: UIDVALIDITY changed in place", ErrCorrupt, f.u.key, p))
	}
	l.validity, l.recent, l.gen = v, r, g
	l.apply(data)
	l.next = max(l.next, n)
	l.recent = min(l.recent, l.next)
	l.file = file
	return nil
}

func (l *uidList) close() {
	if l.file != nil {
		l.file.Close()
		l.file = nil
	}
}

// assign gives the next UIDs to keys, in order.
func (l *uidList) assign(keys []string) ([]listEntry, error) {
	if uint64(l.next)+uint64(len(keys)) >= maxUID {
		return nil, fmt.Errorf("maildir: UID space exhausted (UIDNEXT %d)", l.next)
	}
	out := make([]listEntry, len(keys))
	for i, k := range keys {
		out[i] = listEntry{uid: l.next + uint32(i), key: k}
	}
	return out, nil
}

// write appends entries and tombstones, rewrites the header with recent as
// the first unclaimed \Recent UID, and fsyncs when durable (before any new
// UID may be shown).
func (l *uidList) write(adds []listEntry, tombs []uint32, recent uint32, durable bool) error {
	var b []byte
	for _, uid := range tombs {
		b = append(b, '-')
		b = strconv.AppendUint(b, uint64(uid), 10)
		b = append(b, '\n')
	}
	for _, e := range adds {
		b = strconv.AppendUint(b, uint64(e.uid), 10)
		b = append(b, ' ')
		b = append(b, e.key...)
		b = append(b, '\n')
	}
	if len(b) == 0 && recent == l.recent {
		return nil
	}
	if len(b) > 0 {
		if err := l.log.appendLines(l.file, b); err != nil {
			return fmt.Errorf("maildir: append %s: %w", l.file.Name(), err)
		}
		l.apply(b)
	}
	l.recent = min(recent, l.next)
	if _, err := l.file.WriteAt(formatUIDHeader(l.validity, l.next, l.recent, l.gen), 0); err != nil {
		return fmt.Errorf("maildir: write %s: %w", l.file.Name(), err)
	}
	if durable {
		if err := l.file.Sync(); err != nil {
			return fmt.Errorf("maildir: fsync %s: %w", l.file.Name(), err)
		}
	}
	return nil
}

// compactList rewrites the list without dead lines once they are more than
// half of it.
func (f *Folder) compactList() error {
	l := &f.list
	if l.dead == 0 || l.dead <= len(l.byUID) {
		return nil
	}
	entries := make([]listEntry, 0, len(l.byUID))
	for uid, key := range l.byUID {
		entries = append(entries, listEntry{uid, key})
	}
	slices.SortFunc(entries, func(a, b listEntry) int { return cmp.Compare(a.uid, b.uid) })
	gen := newGeneration()
	b := formatUIDHeader(l.validity, l.next, l.recent, gen)
	for _, e := range entries {
		b = strconv.AppendUint(b, uint64(e.uid), 10)
		b = append(b, ' ')
		b = append(b, e.key...)
		b = append(b, '\n')
	}
	p := path.Join(f.dir, uidlistName)
	if err := f.u.s.writeAtomic(f.u.root, p, b, true); err != nil {
		return err
	}
	file, err := f.u.root.OpenFile(p, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("maildir: %s/%s: %w", f.u.key, p, err)
	}
	l.close()
	l.file, l.dead, l.gen = file, 0, gen
	return l.log.replaced(file, int64(len(b)), gen)
}
