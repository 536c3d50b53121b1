package spool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// RecoverStats tells what Recover cleaned.
type RecoverStats struct {
	TempRemoved    int // files left in tmp/ by a crash
	OrphansRemoved int // content without an envelope (never acknowledged)
	Corrupted      int // envelopes without content, moved to corrupt/
}

// Recover cleans what a crash can leave behind. Any process may call it at
// start, while others are running: it removes a file in tmp/ or content
// without an envelope only when no process holds the file's lock (Enqueue
// holds it from creating the content until its envelope is in place) and
// the file is older than Options.OrphanAge (the rule that remains on a
// file system without locks). It moves an envelope whose content is
// missing to corrupt/ (normal operation never makes one: content is
// written before and removed after its envelope).
func (s *Spool) Recover(ctx context.Context) (RecoverStats, error) {
	var st RecoverStats
	cutoff := s.now().Add(-s.opts.OrphanAge)

	tmpDir := filepath.Join(s.dir, "tmp")
	names, err := readNames(tmpDir)
	if err != nil {
		return st, err
	}
	for _, n := range names {
		if s.removeUnused(filepath.Join(tmpDir, n), cutoff, nil) {
			st.TempRemoved++
		}
	}

	// Envelopes first, content second: content that gains its envelope
	// between the two reads is new, and so younger than the cutoff.
	have := map[string]bool{}
	for _, state := range States {
		ids, err := s.ids(state)
		if err != nil {
			return st, err
		}
		for _, id := range ids {
			have[id] = true
		}
	}
	msgs, err := s.ids0(filepath.Join(s.dir, "msg"))
	if err != nil {
		return st, err
	}
	content := map[string]bool{}
	for _, id := range msgs {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		content[id] = true
		if have[id] {
			continue
		}
		if s.removeUnused(s.msgPath(id), cutoff, func() bool { return !s.hasEnvelope(id) }) {
			st.OrphansRemoved++
			s.log.Warn("spool: removed content without envelope", "id", id)
		}
	}

	for _, state := range States[:len(States)-1] { // not corrupt/ itself
		ids, err := s.ids(state)
		if err != nil {
			return st, err
		}
		for _, id := range ids {
			if content[id] {
				continue
			}
			if _, err := os.Stat(s.msgPath(id)); !errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err := renameNoReplace(s.envPath(state, id), s.envPath(Corrupt, id)); err == nil {
				st.Corrupted++
				s.log.Error("spool: envelope without content moved to corrupt", "id", id, "state", state)
			}
		}
	}
	if st.OrphansRemoved > 0 {
		if err := syncDir(ctx, filepath.Join(s.dir, "msg")); err != nil {
			return st, err
		}
	}
	if st.Corrupted > 0 {
		if err := syncDir(ctx, s.stateDir(Corrupt)); err != nil {
			return st, err
		}
	}
	return st, nil
}

// removeUnused removes path if it changed before cutoff, no process holds
// its lock, and (while we hold it) cond, when given, agrees.
func (s *Spool) removeUnused(path string, cutoff time.Time, cond func() bool) bool {
	if !changedBefore(path, cutoff) {
		return false
	}
	f, busy := inUse(path)
	if busy {
		return false
	}
	if f != nil {
		defer f.Close()
	}
	if cond != nil && !cond() {
		return false
	}
	return os.Remove(path) == nil
}

// hasEnvelope looks for id in every state (a fresh look, after the listing).
func (s *Spool) hasEnvelope(id string) bool {
	for _, state := range States {
		if _, err := os.Lstat(s.envPath(state, id)); err == nil {
			return true
		}
	}
	return false
}

// ids0 lists the valid message IDs in any directory.
func (s *Spool) ids0(dir string) ([]string, error) {
	names, err := readNames(dir)
	if err != nil {
		return nil, err
	}
	ids := names[:0]
	for _, n := range names {
		if validID(n) {
			ids = append(ids, n)
		}
	}
	return ids, nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("spool: read %s: %w", dir, err)
	}
	return names, nil
}

// changedBefore reports whether path's last change (content or name: the
// later of mtime and ctime, as a rename sets ctime) is before t.
func changedBefore(path string, t time.Time) bool {
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	last := fi.ModTime()
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		if c := time.Unix(sys.Ctim.Unix()); c.After(last) {
			last = c
		}
	}
	return last.Before(t)
}
