// Package safeio holds the two primitives every writer of shared files uses:
// an atomic file replacement (write a temporary file, fsync it, rename it over
// the target, fsync the directory) and an exclusive lock that is safe both
// across processes and across goroutines of one process.
//
// Locks are Linux open-file-description locks (F_OFD_SETLKW) on a separate
// lock file that is never renamed over: a lock on a file that is then
// replaced protects nothing. OFD locks belong to the open file, not to the
// process, so two goroutines holding different descriptors exclude each
// other too; an in-process mutex per path is still taken first so waiting
// goroutines queue cheaply instead of each blocking in the kernel.
package safeio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// WriteFile atomically replaces path with data. The new file keeps the owner
// and mode of the file it replaces; when there is none it gets perm. Readers
// see either the old file or the new one, never a mix, and once WriteFile
// returns nil the new content survives a crash.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return WriteFileFunc(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// WriteFileFunc is WriteFile for content produced by a writer function.
func WriteFileFunc(path string, perm os.FileMode, write func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	mode, uid, gid := perm, -1, -1
	if st, serr := os.Stat(path); serr == nil {
		mode = st.Mode().Perm()
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(sys.Uid), int(sys.Gid)
		}
	} else if !errors.Is(serr, os.ErrNotExist) {
		return fmt.Errorf("safeio: stat %s: %w", path, serr)
	}

	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("safeio: create temporary file in %s: %w", dir, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmpName)
		}
	}()
	// Mode and owner are set before any content is written, so a secret is
	// never readable through a too-wide temporary file.
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("safeio: chmod %s: %w", tmpName, err)
	}
	if uid >= 0 {
		if cerr := tmp.Chown(uid, gid); cerr != nil && !errors.Is(cerr, os.ErrPermission) {
			return fmt.Errorf("safeio: chown %s: %w", tmpName, cerr)
		}
	}
	if err = write(tmp); err != nil {
		return fmt.Errorf("safeio: write %s: %w", tmpName, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safeio: fsync %s: %w", tmpName, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("safeio: close %s: %w", tmpName, err)
	}
	if err = os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("safeio: rename %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a directory so that entries created, renamed or removed in
// it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("safeio: open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("safeio: fsync dir %s: %w", dir, err)
	}
	return nil
}

// ErrLockTimeout is returned when a lock could not be taken in time.
var ErrLockTimeout = errors.New("safeio: timed out waiting for lock")

// Lock is a held exclusive lock. Unlock releases it.
type Lock struct {
	f  *os.File
	mu *sync.Mutex
}

var (
	pathMuMu sync.Mutex
	pathMu   = map[string]*sync.Mutex{}
)

func mutexFor(path string) *sync.Mutex {
	pathMuMu.Lock()
	defer pathMuMu.Unlock()
	m, ok := pathMu[path]
	if !ok {
		m = &sync.Mutex{}
		pathMu[path] = m
	}
	return m
}

// LockFile takes an exclusive lock on lockPath (created 0660 if missing),
// waiting until ctx is done. Use a dedicated ".lock" file beside the data,
// never the data file itself.
func LockFile(ctx context.Context, lockPath string) (*Lock, error) {
	abs, err := filepath.Abs(lockPath)
	if err != nil {
		return nil, fmt.Errorf("safeio: lock %s: %w", lockPath, err)
	}
	mu := mutexFor(abs)
	if !lockMutex(ctx, mu) {
		return nil, fmt.Errorf("%w: %s", ErrLockTimeout, lockPath)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o660)
	if err != nil {
		mu.Unlock()
		return nil, fmt.Errorf("safeio: open lock %s: %w", lockPath, err)
	}
	if err := ofdLock(ctx, f); err != nil {
		f.Close()
		mu.Unlock()
		return nil, fmt.Errorf("safeio: lock %s: %w", lockPath, err)
	}
	return &Lock{f: f, mu: mu}, nil
}

// Unlock releases the lock. Closing the descriptor drops the OFD lock.
func (l *Lock) Unlock() error {
	err := l.f.Close()
	l.mu.Unlock()
	return err
}

// lockMutex takes mu unless ctx ends first.
func lockMutex(ctx context.Context, mu *sync.Mutex) bool {
	if mu.TryLock() {
		return true
	}
	delay := 100 * time.Microsecond
	for {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(delay):
		}
		if mu.TryLock() {
			return true
		}
		if delay < 10*time.Millisecond {
			delay *= 2
		}
	}
}

// ofdLock takes an OFD write lock on the whole file. It polls with the
// non-blocking F_OFD_SETLK so that ctx is honoured; contention is short.
func ofdLock(ctx context.Context, f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0, Start: 0, Len: 0}
	delay := 50 * time.Microsecond
	for {
		err := unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EAGAIN) && !errors.Is(err, unix.EACCES) && !errors.Is(err, unix.EINTR) {
			return err
		}
		select {
		case <-ctx.Done():
			return ErrLockTimeout
		case <-time.After(delay):
		}
		if delay < 5*time.Millisecond {
			delay *= 2
		}
	}
}

// WithLock runs fn while holding the lock at lockPath.
func WithLock(ctx context.Context, lockPath string, fn func() error) error {
	l, err := LockFile(ctx, lockPath)
	if err != nil {
		return err
	}
	defer l.Unlock()
	return fn()
}

// LockTimeout is the default time a writer waits for a core-file lock.
const LockTimeout = 30 * time.Second
