package queue

import (
	"errors"
	"os"
	"path/filepath"

	"mailctl/lib/spool"
)

// warnedDir holds one empty file per message whose sender was told of
// the delay (see the package comment).
const warnedDir = "queue-warned"

func (r *Runner) warnedPath(id string) string {
	return filepath.Join(r.opts.StateDir, warnedDir, id)
}

func (r *Runner) warned(id string) bool {
	_, err := os.Stat(r.warnedPath(id))
	return err == nil
}

// markWarned remembers the warning. Losing the mark in a crash costs a
// second warning, so it is not synced.
func (r *Runner) markWarned(id string) {
	f, err := os.OpenFile(r.warnedPath(id), os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		r.log.Error("cannot remember the delay warning", "id", id, "err", err)
		return
	}
	f.Close()
}

func (r *Runner) clearWarned(id string) {
	os.Remove(r.warnedPath(id))
}

// cleanWarned removes marks of messages that are gone (deleted by the
// administrator, or finished by a runner that crashed before clearing).
func (r *Runner) cleanWarned() {
	ents, err := os.ReadDir(filepath.Join(r.opts.StateDir, warnedDir))
	if err != nil {
		return
	}
	for _, de := range ents {
		if _, err := r.sp.Get(de.Name()); errors.Is(err, spool.ErrNotFound) {
			r.clearWarned(de.Name())
		}
	}
}
