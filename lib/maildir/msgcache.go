package maildir

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	msgCacheName      = "mailctl-msgcache"
	msgCacheLock      = "mailctl-msgcache.lock"
	msgCacheHeaderLen = 41
	// maxCacheRecord bounds one record, so a corrupt length can't make a
	// reader walk off into the weeds.
	maxCacheRecord = 1 << 24
)

// CacheRecord is one message's entry in the folder's message-data cache:
// whatever a reader (imapd) derived from the message and wants to keep,
// in the reader's own encoding.
type CacheRecord struct {
	UID  uint32
	Key  string
	Data []byte
}

// msgCache follows a folder's mailctl-msgcache file (format in doc.go):
// opaque per-message records, keyed by UID and checked against the
// message key, appended by any process and shared through the page cache
// (the file is mapped read-only, not read). The file only ever grows in
// place; anything else (compaction, a half-written tail, a new
// UIDVALIDITY) replaces it by rename, so a mapping never loses its pages.
type msgCache struct {
	refreshMu sync.Mutex // one refresh at a time

	mu       sync.RWMutex // guards everything below; readers hold it while using data
	file     *os.File
	ino      uint64
	gen      uint32
	validity uint32
	data     []byte // the file's first len(data) bytes: mapped, or read when mapping fails
	mapped   bool
	end      int                  // end of the last complete record indexed
	index    map[uint32]cacheSpan // UID → latest record
	records  int                  // records indexed, superseded ones included
}

type cacheSpan struct {
	rec, data int // offsets of the record and of its data
	n         int // data length
}

func formatMsgCacheHeader(v, g uint32) []byte {
	return fmt.Appendf(nil, "mailctl-msgcache 1 V%010d G%08x\n", v, g)
}

func parseMsgCacheHeader(b []byte) (v, g uint32, ok bool) {
	if len(b) < msgCacheHeaderLen {
		return 0, 0, false
	}
	if _, err := fmt.Sscanf(string(b[:msgCacheHeaderLen]), "mailctl-msgcache 1 V%d G%x\n", &v, &g); err != nil {
		return 0, 0, false
	}
	return v, g, bytes.Equal(b[:msgCacheHeaderLen], formatMsgCacheHeader(v, g))
}

// closeLocked drops the mapping and the file; c.mu is held for writing.
func (c *msgCache) closeLocked() {
	if c.mapped && c.data != nil {
		unix.Munmap(c.data)
	}
	if c.file != nil {
		c.file.Close()
	}
	c.file, c.data, c.mapped = nil, nil, false
	c.ino, c.gen, c.end, c.records = 0, 0, 0, 0
	c.index = nil
}

// refresh brings the index up to date with the file: a stat when nothing
// changed, a remap and a scan of the new records when others appended,
// a reopen when the file was replaced. validity is the folder's current
// UIDVALIDITY; a cache of another one counts as empty.
func (c *msgCache) refresh(u *User, dir string, validity uint32) {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	p := path.Join(dir, msgCacheName)
	st, err := u.root.Stat(p)
	if err != nil {
		c.mu.Lock()
		c.closeLocked()
		c.mu.Unlock()
		return
	}
	ino := stampOf(st).ino
	c.mu.RLock()
	same := c.file != nil && ino == c.ino && c.validity == validity
	grown := same && st.Size() > int64(len(c.data))
	c.mu.RUnlock()
	if same && !grown {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !same {
		c.closeLocked()
		f, err := u.root.OpenFile(p, os.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return
		}
		hdr := make([]byte, msgCacheHeaderLen)
		n, _ := f.ReadAt(hdr, 0)
		v, g, ok := parseMsgCacheHeader(hdr[:n])
		if !ok || v != validity {
			f.Close()
			return
		}
		fst, err := f.Stat()
		if err != nil {
			f.Close()
			return
		}
		c.file, c.ino, c.gen, c.validity = f, stampOf(fst).ino, g, v
		c.index = map[uint32]cacheSpan{}
		c.end = msgCacheHeaderLen
	}
	c.remapLocked()
	c.scanLocked()
}

// remapLocked maps the whole current file (or reads it when mapping is
// not possible).
func (c *msgCache) remapLocked() {
	st, err := c.file.Stat()
	if err != nil || st.Size() <= int64(len(c.data)) {
		return
	}
	size := int(st.Size())
	if c.mapped {
		unix.Munmap(c.data)
		c.data, c.mapped = nil, false
	}
	if b, err := unix.Mmap(int(c.file.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED); err == nil {
		c.data, c.mapped = b, true
		return
	}
	b := make([]byte, size)
	n, _ := c.file.ReadAt(b, 0)
	c.data = b[:n]
}

// scanLocked indexes the complete records after c.end.
func (c *msgCache) scanLocked() {
	d := c.data
	for c.end < len(d) {
		nl := bytes.IndexByte(d[c.end:min(len(d), c.end+600)], '\n')
		if nl < 0 {
			return // half-written, or garbage: stop here
		}
		f := bytes.Fields(d[c.end : c.end+nl])
		if len(f) != 3 {
			return
		}
		uid, e1 := strconv.ParseUint(string(f[0]), 10, 32)
		n, e2 := strconv.Atoi(string(f[2]))
		if e1 != nil || e2 != nil || n < 0 || n > maxCacheRecord {
			return
		}
		start := c.end + nl + 1
		if start+n >= len(d) || d[start+n] != '\n' {
			return
		}
		c.index[uint32(uid)] = cacheSpan{rec: c.end, data: start, n: n}
		c.records++
		c.end = start + n + 1
	}
}

// lookup calls fn with the cached data of uid if the record names key.
// fn must not keep the slice.
func (c *msgCache) lookup(uid uint32, key string, fn func([]byte)) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	sp, ok := c.index[uid]
	if !ok || string(c.keyLocked(sp)) != key {
		return false
	}
	fn(c.data[sp.data : sp.data+sp.n])
	return true
}

// keyLocked returns the message key a record names.
func (c *msgCache) keyLocked(sp cacheSpan) []byte {
	hdr := c.data[sp.rec : sp.data-1]
	_, rest, _ := bytes.Cut(hdr, []byte{' '})
	k, _, _ := bytes.Cut(rest, []byte{' '})
	return k
}

func appendCacheRecord(b []byte, r CacheRecord) []byte {
	b = strconv.AppendUint(b, uint64(r.UID), 10)
	b = append(b, ' ')
	b = append(b, r.Key...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(r.Data)), 10)
	b = append(b, '\n')
	b = append(b, r.Data...)
	return append(b, '\n')
}

// CacheRefresh makes the folder's message-data cache see what other
// processes added since the last look (one stat when nothing changed).
// Call it before a batch of CacheLookups.
func (f *Folder) CacheRefresh() {
	f.mu.Lock()
	v := f.list.validity
	f.mu.Unlock()
	if v == 0 {
		return // never synced
	}
	f.mc.refresh(f.u, f.dir, v)
}

// CacheLookup calls fn with the cached data of message m, if there is
// any, and reports whether it did. fn must not keep the slice: it points
// into a shared mapping of the cache file.
func (f *Folder) CacheLookup(m Message, fn func(data []byte)) bool {
	return f.mc.lookup(m.UID, m.Key, fn)
}

// CacheStore adds records to the folder's message-data cache, for this
// and every other process. Records of messages the folder no longer has
// are dropped when the file is compacted. It is a cache: callers may
// ignore the error.
func (f *Folder) CacheStore(ctx context.Context, recs []CacheRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for _, r := range recs {
		if !validFileName(r.Key) || bytes.ContainsAny([]byte(r.Key), " \t") || len(r.Data) > maxCacheRecord {
			return fmt.Errorf("maildir: cache record for UID %d: bad key or too large", r.UID)
		}
	}
	f.mu.Lock()
	v := f.list.validity
	live := make(map[uint32]string, len(f.msgs))
	for uid, e := range f.msgs {
		live[uid] = e.key
	}
	f.mu.Unlock()
	if v == 0 {
		return errors.New("maildir: cache store before the first sync")
	}
	l, err := f.u.lock(ctx, path.Join(f.dir, msgCacheLock))
	if err != nil {
		return err
	}
	defer l.unlock()
	c := &f.mc
	c.refresh(f.u, f.dir, v)

	p := path.Join(f.dir, msgCacheName)
	c.mu.RLock()
	ok := c.file != nil
	var size int64 = -1
	if ok {
		if st, err := c.file.Stat(); err == nil {
			size = st.Size()
		}
	}
	appendable := ok && size == int64(c.end) && c.records <= 2*len(live)+64
	c.mu.RUnlock()

	if appendable {
		var b []byte
		for _, r := range recs {
			b = appendCacheRecord(b, r)
		}
		w, err := f.u.root.OpenFile(p, os.O_WRONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("maildir: %s/%s: %w", f.u.key, p, err)
		}
		_, err = w.WriteAt(b, size)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("maildir: %s/%s: %w", f.u.key, p, err)
		}
		c.refresh(f.u, f.dir, v)
		return nil
	}

	// Start over: a new file with the live records kept and the new ones.
	b := formatMsgCacheHeader(v, newGeneration())
	fresh := make(map[uint32]bool, len(recs))
	for _, r := range recs {
		fresh[r.UID] = true
	}
	c.mu.RLock()
	for uid, sp := range c.index {
		key, ok := live[uid]
		if ok && !fresh[uid] && string(c.keyLocked(sp)) == key {
			b = appendCacheRecord(b, CacheRecord{UID: uid, Key: key, Data: c.data[sp.data : sp.data+sp.n]})
		}
	}
	c.mu.RUnlock()
	for _, r := range recs {
		b = appendCacheRecord(b, r)
	}
	if err := f.u.s.writeAtomic(f.u.root, p, b, false); err != nil {
		return err
	}
	c.refresh(f.u, f.dir, v)
	return nil
}

// Close releases what the folder holds open between calls (the message
// cache's file and mapping). The Folder stays usable.
func (f *Folder) Close() error {
	f.mc.refreshMu.Lock()
	defer f.mc.refreshMu.Unlock()
	f.mc.mu.Lock()
	f.mc.closeLocked()
	f.mc.mu.Unlock()
	return nil
}
