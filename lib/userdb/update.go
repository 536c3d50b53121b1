package userdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"

	"mailctl/lib/addr"
	"mailctl/lib/corefile"
)

var (
	ErrExists   = errors.New("user already exists")
	ErrNotFound = errors.New("no such user")
	// ErrPermissions: the users file can be read or written by every
	// local account.
	ErrPermissions = errors.New("users file is accessible to all local accounts")
)

// FileMode is the mode of a users file that Update creates.
const FileMode os.FileMode = 0o640

// UpdateOptions matter only when the users file does not exist yet.
type UpdateOptions struct {
	// GID, when > 0, is the group of the new file: the mail account's
	// group, so the daemons (which run as that account) can read it.
	GID int
}

var codec = corefile.Codec[[]User]{Parse: Parse, Write: Write}

// Update changes the users file under its lock: fn gets the current users
// (none when the file is missing) and returns the new list, which must be
// valid (see User.Check) and free of repeated addresses. The file is then
// replaced atomically, keeping its owner and mode; a new file is created
// with FileMode and the group of opts (the last one given counts).
func Update(ctx context.Context, path string, fn func(users []User) ([]User, error), opts ...UpdateOptions) error {
	o := corefile.Options{Perm: FileMode}
	if len(opts) > 0 {
		o.GID = opts[len(opts)-1].GID
	}
	return corefile.Update(ctx, path, codec, o, fn)
}

// Add appends u to the users file; ErrExists if its address is taken.
func Add(ctx context.Context, path string, u User, opts ...UpdateOptions) error {
	if err := u.Check(); err != nil {
		return err
	}
	return Update(ctx, path, func(users []User) ([]User, error) {
		if find(users, u.Address) >= 0 {
			return nil, fmt.Errorf("%w: %s", ErrExists, u.Address)
		}
		return append(users, u), nil
	}, opts...)
}

// Remove deletes the user a; ErrNotFound if there is none.
func Remove(ctx context.Context, path string, a addr.Address, opts ...UpdateOptions) error {
	return Update(ctx, path, func(users []User) ([]User, error) {
		i := find(users, a)
		if i < 0 {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, a)
		}
		return slices.Delete(users, i, i+1), nil
	}, opts...)
}

// Modify calls fn on the user a and writes the result; ErrNotFound if there
// is none. An error from fn leaves the file unchanged.
func Modify(ctx context.Context, path string, a addr.Address, fn func(*User) error, opts ...UpdateOptions) error {
	return Update(ctx, path, func(users []User) ([]User, error) {
		i := find(users, a)
		if i < 0 {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, a)
		}
		if err := fn(&users[i]); err != nil {
			return nil, err
		}
		if err := users[i].Check(); err != nil {
			return nil, err
		}
		if n := users[i].Address; n != a {
			for j, u := range users {
				if j != i && u.Address == n {
					return nil, fmt.Errorf("%w: %s", ErrExists, n)
				}
			}
		}
		return users, nil
	}, opts...)
}

func find(users []User, a addr.Address) int {
	return slices.IndexFunc(users, func(u User) bool { return u.Address == a })
}

// CheckPermissions returns an error wrapping ErrPermissions when the users
// file is readable or writable by "other"; daemons refuse to run with such
// a file. A missing file passes (it holds no secrets).
func CheckPermissions(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check %s: %w", path, err)
	}
	if m := st.Mode().Perm(); m&0o007 != 0 {
		return fmt.Errorf("%w: %s has mode %04o; run chmod o-rwx %s (it should be 0640, group of the mail account)", ErrPermissions, path, m, path)
	}
	return nil
}
