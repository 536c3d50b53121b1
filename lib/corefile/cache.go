package corefile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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
// file changes. It is safe for concurrent use; every Get costs one stat.
type Cache[T any] struct {
	path      string
	parse     ParseFunc[T]
	missingOK bool
	now       func() time.Time // replaced in tests

	mu       sync.Mutex
	loaded   bool
	st       stamp
	loadedAt time.Time
	val      T
	err      error
}

// NewCache returns a cache of the file at path. With missingOK a missing
// file reads as an empty one; without, Get returns an error wrapping
// os.ErrNotExist (for the users file, where a wrong path must not look
// like "no such user").
func NewCache[T any](path string, parse ParseFunc[T], missingOK bool) *Cache[T] {
	return &Cache[T]{path: path, parse: parse, missingOK: missingOK, now: time.Now}
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
// of the version actually parsed. Called with mu held.
func (c *Cache[T]) load() {
	c.loadedAt = c.now()
	c.loaded = true
	f, err := os.Open(c.path)
	if errors.Is(err, os.ErrNotExist) && c.missingOK {
		c.st = stamp{missing: true}
		c.val, c.err = c.parse(strings.NewReader(""), c.path)
		return
	}
	if err != nil {
		// Not cached: a stamp of zero never matches, so the next Get retries.
		c.loaded = false
		var zero T
		c.val, c.err = zero, fmt.Errorf("read %s: %w", c.path, err)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		c.loaded = false
		var zero T
		c.val, c.err = zero, fmt.Errorf("stat %s: %w", c.path, err)
		return
	}
	c.st = stampOf(fi)
	c.val, c.err = c.parse(bufio.NewReader(f), c.path)
}
