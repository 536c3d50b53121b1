package safeio

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// SyncGroup shares directory fsyncs between concurrent writers into one
// directory (group commit). A caller that has renamed its file into the
// directory calls Sync; it returns only after an fsync that *started
// after* the call began has completed:
//
//   - if no fsync is running, the caller starts one (a "round") at once;
//   - if one is running, it may have started before the caller's rename, so
//     the caller joins the next round, which starts when the running one
//     ends. Everyone who arrives meanwhile shares that next round.
//
// So at most two rounds are ever alive: the running one and the one
// gathering waiters. The zero SyncGroup is ready to use; use one per
// directory.
type SyncGroup struct {
	mu      sync.Mutex
	running bool
	next    *syncRound
	fsync   func(*os.File) error // nil: (*os.File).Sync
}

type syncRound struct {
	dir  *os.File // opened by the round's first waiter; closed after the fsync
	done chan struct{}
	err  error
}

// SetFsync replaces the fsync call (tests count and slow it down).
func (g *SyncGroup) SetFsync(f func(*os.File) error) {
	g.mu.Lock()
	g.fsync = f
	g.mu.Unlock()
}

// Sync waits for a directory fsync that began after this call. open opens
// the directory; it is only called when this caller starts a new round,
// and the round owns the file, so it does not matter if the caller gives
// up (ctx) before its round runs.
func (g *SyncGroup) Sync(ctx context.Context, open func() (*os.File, error)) error {
	g.mu.Lock()
	r := g.next
	if r == nil {
		d, err := open()
		if err != nil {
			g.mu.Unlock()
			return err
		}
		r = &syncRound{dir: d, done: make(chan struct{})}
		g.next = r
	}
	lead := !g.running
	if lead {
		g.running = true
		g.next = nil
	}
	g.mu.Unlock()
	if lead {
		g.run(r)
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run performs round r, then hands over to the round that gathered
// meanwhile (on another goroutine, so the leader returns promptly).
func (g *SyncGroup) run(r *syncRound) {
	g.mu.Lock()
	fsync := g.fsync
	g.mu.Unlock()
	if fsync == nil {
		fsync = (*os.File).Sync
	}
	if err := fsync(r.dir); err != nil {
		r.err = fmt.Errorf("fsync dir %s: %w", r.dir.Name(), err)
	}
	r.dir.Close()
	close(r.done)
	g.mu.Lock()
	next := g.next
	g.next = nil
	if next == nil {
		g.running = false
	}
	g.mu.Unlock()
	if next != nil {
		go g.run(next)
	}
}
