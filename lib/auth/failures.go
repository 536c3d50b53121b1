package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// record counts recent failures of one key (a client address or a user).
type record struct {
	Count int
	First time.Time // start of the current window
	Last  time.Time
}

// failureStore keeps records. Keys are "ip …" or "user …".
type failureStore interface {
	get(key string) (record, error)
	add(key string, now time.Time, window time.Duration) error
	reset(key string) error
}

func bump(r record, now time.Time, window time.Duration) record {
	if r.Count == 0 || now.Sub(r.First) > window {
		return record{Count: 1, First: now, Last: now}
	}
	r.Count++
	r.Last = now
	return r
}

// memStore is a failureStore for one process (tests).
type memStore struct {
	mu sync.Mutex
	m  map[string]record
}

func newMemStore() *memStore { return &memStore{m: map[string]record{}} }

func (s *memStore) get(key string) (record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[key], nil
}

func (s *memStore) add(key string, now time.Time, window time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = bump(s.m[key], now, window)
	return nil
}

func (s *memStore) reset(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, key)
	return nil
}

// fileStore keeps one small file per key in a directory every process
// shares. A file is updated in place under an OFD lock on itself (it is
// never renamed over, so the lock means something); its content is
// "count first-unix last-unix\n". Files idle longer than maxAge are pruned
// now and then, so a distributed attack leaves no lasting pile.
type fileStore struct {
	dir    string
	maxAge time.Duration

	mu         sync.Mutex
	lastPruned time.Time
}

func newFileStore(dir string, maxAge time.Duration) (*fileStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("auth state: %w", err)
	}
	return &fileStore{dir: dir, maxAge: maxAge}, nil
}

// path names the file of key without revealing the key (user names, client
// addresses) in a directory listing.
func (s *fileStore) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	prefix, _, _ := strings.Cut(key, " ")
	return filepath.Join(s.dir, prefix+"-"+hex.EncodeToString(sum[:16]))
}

func (s *fileStore) get(key string) (record, error) {
	b, err := os.ReadFile(s.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return record{}, nil
	}
	if err != nil {
		return record{}, err
	}
	return parseRecord(string(b)), nil
}

func (s *fileStore) add(key string, now time.Time, window time.Duration) error {
	s.maybePrune(now)
	return s.update(key, func(r record) record { return bump(r, now, window) })
}

func (s *fileStore) reset(key string) error {
	err := os.Remove(s.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// update changes one record under the file's own lock.
func (s *fileStore) update(key string, fn func(record) record) error {
	f, err := os.OpenFile(s.path(key), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLKW, &lk); err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	line := formatRecord(fn(parseRecord(string(b))))
	if _, err := f.WriteAt([]byte(line), 0); err != nil {
		return err
	}
	return f.Truncate(int64(len(line)))
}

func (s *fileStore) maybePrune(now time.Time) {
	s.mu.Lock()
	due := now.Sub(s.lastPruned) > time.Hour
	if due {
		s.lastPruned = now
	}
	s.mu.Unlock()
	if !due {
		return
	}
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > s.maxAge {
			os.Remove(filepath.Join(s.dir, e.Name()))
		}
	}
}

// parseRecord reads "count first last"; anything unreadable counts as no
// failures (a torn write can only lower a count, never lock anyone out).
func parseRecord(s string) record {
	f := strings.Fields(s)
	if len(f) != 3 {
		return record{}
	}
	n, err1 := strconv.Atoi(f[0])
	first, err2 := strconv.ParseInt(f[1], 10, 64)
	last, err3 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || n < 0 {
		return record{}
	}
	return record{Count: n, First: time.Unix(first, 0), Last: time.Unix(last, 0)}
}

func formatRecord(r record) string {
	return fmt.Sprintf("%d %d %d\n", r.Count, r.First.Unix(), r.Last.Unix())
}
