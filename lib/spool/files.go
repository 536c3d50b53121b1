package spool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// writeTemp creates a file in tmp/ named prefix plus a random suffix,
// 0600 and owned as configured, fills it with write and fsyncs it. The file
// comes back open and write-locked (an OFD lock): as long as the caller
// holds it, Recover in any process knows the file is in use, even after it
// was renamed out of tmp/. On error the file is closed and removed.
func (s *Spool) writeTemp(prefix string, write func(io.Writer) error) (f *os.File, err error) {
	f, err = os.CreateTemp(filepath.Join(s.dir, "tmp"), prefix+".*") // 0600, O_EXCL
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	name := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(name)
		}
	}()
	if lerr := lockFile(f, unix.F_WRLCK); lerr != nil {
		// Without locks (some file systems) Recover still goes by age.
		s.log.Debug("spool: cannot lock temporary file", "file", name, "err", lerr)
	}
	// Owner first, then content: a message is never readable by anyone else.
	if s.chown {
		if err = f.Chown(s.uid, s.gid); err != nil {
			return nil, fmt.Errorf("spool: chown %s: %w", name, err)
		}
	}
	if err = write(f); err != nil {
		return nil, fmt.Errorf("spool: write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return nil, fmt.Errorf("spool: fsync %s: %w", name, err)
	}
	return f, nil
}

// lockFile takes an OFD lock of the given type on the whole file without
// waiting; EAGAIN means someone else holds a conflicting one.
func lockFile(f *os.File, typ int16) error {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: 0, Len: 0}
	return unix.FcntlFlock(f.Fd(), unix.F_OFD_SETLK, &lk)
}

// inUse opens path and tries a read lock. busy reports that a writer holds
// it; otherwise the returned file (nil if it could not be opened) holds the
// read lock until closed, so no writer can start meanwhile.
func inUse(path string) (f *os.File, busy bool) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false
	}
	err = lockFile(f, unix.F_RDLCK)
	if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EACCES) {
		f.Close()
		return nil, true
	}
	return f, false
}

// renameNoReplace renames old to new unless new exists (then it fails with
// EEXIST), so a mistake can never overwrite another message's file. Where
// the file system lacks RENAME_NOREPLACE (some network file systems) it
// falls back to a plain rename.
func renameNoReplace(old, new string) error {
	err := unix.Renameat2(unix.AT_FDCWD, old, unix.AT_FDCWD, new, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EOPNOTSUPP) {
		err = os.Rename(old, new)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: old, New: new, Err: err}
	}
	return nil
}

// syncDirs fsyncs several directories (group commit each), in order.
func syncDirs(ctx context.Context, dirs ...string) error {
	for _, d := range dirs {
		if err := syncDir(ctx, d); err != nil {
			return err
		}
	}
	return nil
}
