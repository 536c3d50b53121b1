package maildir

import (
	"context"
	"fmt"
	"os"
)

// syncDir fsyncs a directory of the user's Maildir with group commit.
func (u *User) syncDir(ctx context.Context, dir string) error {
	g := u.s.group(u.key + "/" + dir)
	return g.Sync(ctx, func() (*os.File, error) {
		d, err := u.root.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("maildir: open dir %s: %w", dir, err)
		}
		return d, nil
	})
}
