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

// writeTemp creates a new file in tmp/ named prefix plus a random suffix,
// owned as configured and 0600, fills it with write, fsyncs and closes it.
// On error the file is removed.
func (s *Spool) writeTemp(prefix string, write func(io.Writer) error) (path string, err error) {
	f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), prefix+".*") // 0600, O_EXCL
	if err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	name := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(name)
		}
	}()
	// Owner first, then content: a message is never readable by anyone else.
	if s.chown {
		if err = f.Chown(s.opts.UID, s.opts.GID); err != nil {
			return "", fmt.Errorf("spool: chown %s: %w", name, err)
		}
	}
	if err = write(f); err != nil {
		return "", fmt.Errorf("spool: write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("spool: fsync %s: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("spool: close %s: %w", name, err)
	}
	return name, nil
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
