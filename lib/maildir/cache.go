package maildir

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"strconv"
	"syscall"
	"time"
)

const cacheName = "mailctl-cache"

// CacheEntry is what the cache knows about one message.
type CacheEntry struct {
	InternalDate   time.Time
	Size, CRLFSize int64
}

// Cache holds per-message facts keyed by UID that cost a stat or a read to
// learn, in the folder's mailctl-cache file (format in doc.go), so that
// opening a big folder again costs a directory read, not a stat per
// message.
//
// This is the seam for the parsed-message cache imapd will want: envelope,
// body structure and chosen header fields go into CacheEntry, written as
// further fields on the same line (bump the "1" in the header; readers
// drop a cache whose version they don't know — it is only a cache).
//
// The file is appended under the folder lock and never fsynced; entries of
// a different UIDVALIDITY are discarded.
type Cache struct {
	log      appendLog
	file     *os.File
	validity uint32
	m        map[uint32]CacheEntry
	pending  []byte
}

const cacheHeaderLen = 38

func formatCacheHeader(v, g uint32) []byte {
	return fmt.Appendf(nil, "mailctl-cache 1 V%010d G%08x\n", v, g)
}

// open opens and refreshes the cache for a list of UIDVALIDITY v; the
// folder lock is held. A cache that is new, foreign, of another version
// or of another UIDVALIDITY starts afresh.
func (c *Cache) open(u *User, dir string, v uint32) error {
	p := path.Join(dir, cacheName)
	f, err := u.root.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("maildir: %s/%s: %w", u.key, p, err)
	}
	c.file = f
	if err := u.s.chownFile(f); err != nil {
		return err
	}
	hdr := make([]byte, cacheHeaderLen)
	var fv, g uint32
	n, _ := f.ReadAt(hdr, 0)
	if _, err := fmt.Sscanf(string(hdr[:n]), "mailctl-cache 1 V%d G%x\n", &fv, &g); err != nil ||
		fv != v || !bytes.Equal(hdr[:n], formatCacheHeader(fv, g)) {
		g = newGeneration()
		hdr = formatCacheHeader(v, g)
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("maildir: %s/%s: %w", u.key, p, err)
		}
		if _, err := f.WriteAt(hdr, 0); err != nil {
			return fmt.Errorf("maildir: %s/%s: %w", u.key, p, err)
		}
		c.m, c.validity = map[uint32]CacheEntry{}, v
		return c.log.replaced(f, int64(len(hdr)), g)
	}
	data, reset, err := c.log.readNew(f, g)
	if err != nil {
		return fmt.Errorf("maildir: %s/%s: %w", u.key, p, err)
	}
	if reset {
		c.m, c.validity = map[uint32]CacheEntry{}, v
		data = data[min(len(data), cacheHeaderLen):]
	}
	c.apply(data)
	return nil
}

func (c *Cache) apply(data []byte) {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		f := bytes.Fields(data[:i])
		data = data[i+1:]
		if len(f) < 4 {
			continue
		}
		uid, e1 := strconv.ParseUint(string(f[0]), 10, 32)
		ns, e2 := strconv.ParseInt(string(f[1]), 10, 64)
		sz, e3 := strconv.ParseInt(string(f[2]), 10, 64)
		w, e4 := strconv.ParseInt(string(f[3]), 10, 64)
		if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
			continue
		}
		c.m[uint32(uid)] = CacheEntry{InternalDate: time.Unix(0, ns), Size: sz, CRLFSize: w}
	}
}

func (c *Cache) get(uid uint32) (CacheEntry, bool) {
	e, ok := c.m[uid]
	return e, ok
}

// put records an entry; it reaches the file at close.
func (c *Cache) put(uid uint32, e CacheEntry) {
	if c.m == nil {
		c.m = map[uint32]CacheEntry{}
	}
	c.m[uid] = e
	c.pending = fmt.Appendf(c.pending, "%d %d %d %d\n", uid, e.InternalDate.UnixNano(), e.Size, e.CRLFSize)
}

// close writes pending entries (a failure only costs a stat later) and
// closes the file.
func (c *Cache) close() {
	if c.file == nil {
		return
	}
	if len(c.pending) > 0 {
		c.log.appendLines(c.file, c.pending)
	}
	c.pending = nil
	c.file.Close()
	c.file = nil
}

// compact rewrites the cache with only the live UIDs once more than half of
// it is dead.
func (c *Cache) compact(u *User, dir string, live map[uint32]string) error {
	if c.file == nil || len(c.m) <= 2*len(live) {
		return nil
	}
	gen := newGeneration()
	b := formatCacheHeader(c.validity, gen)
	m := make(map[uint32]CacheEntry, len(live))
	for uid, e := range c.m {
		if _, ok := live[uid]; ok {
			m[uid] = e
			b = fmt.Appendf(b, "%d %d %d %d\n", uid, e.InternalDate.UnixNano(), e.Size, e.CRLFSize)
		}
	}
	p := path.Join(dir, cacheName)
	if err := u.s.writeAtomic(u.root, p, b, false); err != nil {
		return err
	}
	f, err := u.root.OpenFile(p, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	c.file.Close()
	c.file, c.m, c.pending = f, m, nil
	return c.log.replaced(f, int64(len(b)), gen)
}
