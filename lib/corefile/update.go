package corefile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"mailctl/lib/safeio"
)

// Codec reads and writes one kind of core file.
type Codec[T any] struct {
	Parse ParseFunc[T]
	Write func(w io.Writer, v T) error
}

// Options are the attributes of a file that Update creates. An existing
// file keeps its own owner and mode.
type Options struct {
	Perm os.FileMode // mode of a new file (exactly; the umask does not apply)
	GID  int         // when > 0, the group of a new file (e.g. the mail account's)
}

// LockPath returns the lock file that guards path.
func LockPath(path string) string { return path + ".lock" }

// Update changes the file at path under its exclusive lock: it parses the
// current content (a missing file is parsed as empty), calls fn, writes
// fn's result to a buffer, checks that the buffer parses back, and replaces
// the file atomically. An error from fn is returned as it is and leaves the
// file alone; so does a result that writes the same bytes as are there.
// Without a deadline in ctx the lock is waited for safeio.LockTimeout.
func Update[T any](ctx context.Context, path string, c Codec[T], o Options, fn func(T) (T, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, safeio.LockTimeout)
		defer cancel()
	}
	return safeio.WithLock(ctx, LockPath(path), func() error {
		old, err := os.ReadFile(path)
		missing := errors.Is(err, os.ErrNotExist)
		if err != nil && !missing {
			return fmt.Errorf("read %s: %w", path, err)
		}
		v, err := c.Parse(bytes.NewReader(old), path)
		if err != nil {
			return err
		}
		if v, err = fn(v); err != nil {
			return err
		}
		var buf bytes.Buffer
		if err := c.Write(&buf, v); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		// The last line of defence: never leave a file that readers refuse.
		if _, err := c.Parse(bytes.NewReader(buf.Bytes()), path+" (new)"); err != nil {
			return fmt.Errorf("refusing to write %s: %w", path, err)
		}
		if !missing && bytes.Equal(old, buf.Bytes()) {
			return nil
		}
		if missing && o.GID > 0 {
			if err := create(path, o); err != nil {
				return err
			}
		}
		return safeio.WriteFile(path, buf.Bytes(), o.Perm)
	})
}

// create makes an empty file with the options' mode and group, so that the
// atomic write that follows (which keeps owner and mode) never exposes the
// content with the wrong group. An empty file reads like a missing one.
func create(path string, o Options) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	err = f.Chown(-1, o.GID)
	if err == nil {
		err = f.Chmod(o.Perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("create %s: %w", path, err)
	}
	return nil
}
