package corefile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// ParseFunc parses a whole core file read from r; name is used in errors.
type ParseFunc[T any] func(r io.Reader, name string) (T, error)

// Load opens path and parses it.
func Load[T any](path string, parse ParseFunc[T]) (T, error) {
	f, err := os.Open(path)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	return parse(bufio.NewReader(f), path)
}

// recentWindow is how long after a file's mtime a cached copy is not
// trusted: a rewrite within the same timestamp tick, keeping the size, would
// otherwise go unnoticed.
const recentWindow = time.Second

// stamp identifies one version of a file.
type stamp struct {
	missing  bool
	dev, ino uint64
	size     int64
	mtime    int64 // nanoseconds since the epoch
}

func stampOf(fi os.FileInfo) stamp {
	s := stamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.dev, s.ino = uint64(sys.Dev), sys.Ino
	}
	return s
}

// Cache holds the parsed content of one file and parses it again when the
// file changes. It is safe for concurrent use. A Get costs one stat, and
// within a second of a change also a read (parsing only if the content
// differs from what was parsed last).
type Cache[T any] struct {
	path      string
	parse     ParseFunc[T]
	missingOK bool

	mu       sync.Mutex
	loaded   bool
	st       stamp
	sum      uint64 // maphash of the content parsed
	seed     maphash.Seed
	loadedAt time.Time
	val      T
	err      error
}

// NewCache returns a cache of the file at path. With missingOK a missing
// file reads as an empty one; without, Get returns an error wrapping
// os.ErrNotExist (for the users file, where a wrong path must not look
// like "no such user").
func NewCache[T any](path string, parse ParseFunc[T], missingOK bool) *Cache[T] {
	return &Cache[T]{path: path, parse: parse, missingOK: missingOK, seed: maphash.MakeSeed()}
}

// Path returns the file's path.
func (c *Cache[T]) Path() string { return c.path }

// Get returns the file's current content. A parse error is cached too, until
// the file changes. The value is shared: callers must not modify it.
func (c *Cache[T]) Get() (T, error) {
	st, err := c.stat()
	if err != nil {
		var zero T
		return zero, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loaded && st == c.st && !c.recent() {
		return c.val, c.err
	}
	c.load()
	return c.val, c.err
}

func (c *Cache[T]) stat() (stamp, error) {
	fi, err := os.Stat(c.path)
	switch {
	case err == nil:
		return stampOf(fi), nil
	case errors.Is(err, os.ErrNotExist) && c.missingOK:
		return stamp{missing: true}, nil
	default:
		return stamp{}, fmt.Errorf("stat %s: %w", c.path, err)
	}
}

// recent reports whether the last load was too close to the file's mtime
// to trust the stamp.
func (c *Cache[T]) recent() bool {
	return !c.st.missing && c.loadedAt.Sub(time.Unix(0, c.st.mtime)) < recentWindow
}

// load reads the file through one descriptor, so the stamp kept is the one
// of the version actually parsed. Content that hashes as the last one read
// is not parsed again: within the one-second window every Get reads the
// file, and parsing is what costs. Called with mu held.
func (c *Cache[T]) load() {
	now := time.Now()
	data, st, err := c.read()
	if err != nil {
		// Not cached: the next Get tries again.
		var zero T
		c.loaded, c.val, c.err = false, zero, err
		return
	}
	sum := maphash.Bytes(c.seed, data)
	if !c.loaded || sum != c.sum {
		c.val, c.err = c.parse(bytes.NewReader(data), c.path)
	}
	c.loaded, c.st, c.sum, c.loadedAt = true, st, sum, now
}

func (c *Cache[T]) read() ([]byte, stamp, error) {
	f, err := os.Open(c.path)
	if errors.Is(err, os.ErrNotExist) && c.missingOK {
		return nil, stamp{missing: true}, nil
	}
	if err != nil {
		return nil, stamp{}, fmt.Errorf("read %s: %w", c.path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, stamp{}, fmt.Errorf("stat %s: %w", c.path, err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, stamp{}, fmt.Errorf("read %s: %w", c.path, err)
	}
	return data, stampOf(fi), nil
}
