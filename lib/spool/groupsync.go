package spool

import (
	"context"
	"fmt"
	"os"
	"sync"

	"mailctl/lib/safeio"
)

// groups holds one group-commit SyncGroup per directory path for the whole
// process, so two Spools opened on one directory (smtpd and submitd under
// serve) share fsync rounds too.
var groups sync.Map // string -> *safeio.SyncGroup

func groupFor(dir string) *safeio.SyncGroup {
	if g, ok := groups.Load(dir); ok {
		return g.(*safeio.SyncGroup)
	}
	g, _ := groups.LoadOrStore(dir, &safeio.SyncGroup{})
	return g.(*safeio.SyncGroup)
}

// syncDir fsyncs dir with group commit: it returns after an fsync that
// began after the call.
func syncDir(ctx context.Context, dir string) error {
	err := groupFor(dir).Sync(ctx, func() (*os.File, error) { return os.Open(dir) })
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}
