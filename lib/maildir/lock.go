package maildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"mailctl/lib/safeio"
)

// fileLock is a held folder lock: an OFD lock on a lock file that is never
// replaced, plus an in-process semaphore so goroutines queue without
// polling the kernel. (safeio.LockFile does the same by path; this one
// opens the lock file through the user's os.Root.)
type fileLock struct {
	f   *os.File
	sem chan struct{}
}

// lock takes the lock file name (relative to the user's Maildir), creating
// it if needed. Without a deadline in ctx it gives up after
// safeio.LockTimeout.
func (u *User) lock(ctx context.Context, name string) (*fileLock, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, safeio.LockTimeout)
		defer cancel()
	}
	sem := u.s.sem(u.key + "/" + name)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("maildir: lock %s/%s: %w", u.key, name, safeio.ErrLockTimeout)
	}
	f, err := u.root.OpenFile(name, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		<-sem
		return nil, fmt.Errorf("maildir: lock %s/%s: %w", u.key, name, err)
	}
	if err := u.s.chownFile(f); err != nil {
		f.Close()
		<-sem
		return nil, err
	}
	if err := ofdLock(ctx, f); err != nil {
		f.Close()
		<-sem
		return nil, fmt.Errorf("maildir: lock %s/%s: %w", u.key, name, err)
	}
	return &fileLock{f: f, sem: sem}, nil
}

// unlock releases the lock; closing the descriptor drops the OFD lock.
func (l *fileLock) unlock() {
	l.f.Close()
	<-l.sem
}

// ofdLock takes an exclusive OFD lock on f, polling with F_OFD_SETLK so
// that ctx is honoured.
func ofdLock(ctx context.Context, f *os.File) error {
	lk := unix.Flock_t{Type: unix.F_WRLCK}
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
			return safeio.ErrLockTimeout
		case <-time.After(delay):
		}
		if delay < 2*time.Millisecond {
			delay *= 2
		}
	}
}
