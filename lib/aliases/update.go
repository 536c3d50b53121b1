package aliases

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
	ErrExists   = errors.New("alias already has these targets")
	ErrNotFound = errors.New("no such alias or target")
)

// FileMode is the mode of an aliases file that Update creates.
const FileMode os.FileMode = 0o644

var codec = corefile.Codec[[]Alias]{Parse: Parse, Write: Write}

// Update changes the aliases file under its lock: fn gets the current
// aliases (none when the file is missing) and returns the new list, which
// must pass Alias.Check and name each address once. The file is replaced
// atomically, keeping its owner and mode.
func Update(ctx context.Context, path string, fn func([]Alias) ([]Alias, error)) error {
	return corefile.Update(ctx, path, codec, corefile.Options{Perm: FileMode}, fn)
}

// Add adds targets to the alias a (addr.Address{Domain: d} for d's
// catch-all), creating it if needed. Targets it has already are skipped;
// ErrExists if that leaves nothing to add.
func Add(ctx context.Context, path string, a addr.Address, targets []addr.Address) error {
	if len(targets) == 0 {
		return fmt.Errorf("alias %s: no targets to add", keyString(a))
	}
	if err := (Alias{Address: a, Targets: targets}).Check(); err != nil {
		return err
	}
	return Update(ctx, path, func(as []Alias) ([]Alias, error) {
		i := find(as, a)
		if i < 0 {
			return append(as, Alias{Address: a, Targets: targets}), nil
		}
		al := &as[i]
		n := len(al.Targets)
		for _, t := range targets {
			if !slices.Contains(al.Targets, t) {
				al.Targets = append(al.Targets, t)
			}
		}
		if len(al.Targets) == n {
			return nil, fmt.Errorf("%w: %s", ErrExists, keyString(a))
		}
		return as, nil
	})
}

// Remove deletes targets from the alias a, and the alias itself when no
// target is left or none is given. ErrNotFound if the alias or one of the
// targets is not there (the file is then left alone).
func Remove(ctx context.Context, path string, a addr.Address, targets ...addr.Address) error {
	return Update(ctx, path, func(as []Alias) ([]Alias, error) {
		i := find(as, a)
		if i < 0 {
			return nil, fmt.Errorf("%w: alias %s", ErrNotFound, keyString(a))
		}
		al := &as[i]
		for _, t := range targets {
			j := slices.Index(al.Targets, t)
			if j < 0 {
				return nil, fmt.Errorf("%w: %s is not a target of %s", ErrNotFound, t, keyString(a))
			}
			al.Targets = slices.Delete(al.Targets, j, j+1)
		}
		if len(targets) == 0 || len(al.Targets) == 0 {
			as = slices.Delete(as, i, i+1)
		}
		return as, nil
	})
}

func find(as []Alias, a addr.Address) int {
	return slices.IndexFunc(as, func(al Alias) bool { return al.Address == a })
}
