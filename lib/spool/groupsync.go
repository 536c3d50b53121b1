package spool

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// syncGroup shares directory fsyncs between concurrent writers into one
// directory (group commit), as lib/maildir does. A caller that has renamed
// its file into the directory calls sync; it returns only after an fsync
// that *started after* the call began has completed:
//
//   - if no fsync is running, the caller starts one (a "round") at once;
//   - if one is running, it may have started before the caller's rename, so
//     the caller joins the next round, which starts when the running one
//     ends. Everyone who arrives meanwhile shares that next round.
//
// So at most two rounds are ever alive: the running one and the one
// gathering waiters.
type syncGroup struct {
	dir     string
	mu      sync.Mutex
	running bool
	next    *syncRound
	fsync   func(*os.File) error // nil: (*os.File).Sync; tests count and slow it
}

type syncRound struct {
	dir  *os.File // opened by the round's first waiter; closed after the fsync
	done chan struct{}
	err  error
}

// groups holds one syncGroup per directory path for the whole process, so
// two Spools opened on one directory (smtpd and submitd under serve) share
// rounds too.
var groups sync.Map // string -> *syncGroup

func groupFor(dir string) *syncGroup {
	if g, ok := groups.Load(dir); ok {
		return g.(*syncGroup)
	}
	g, _ := groups.LoadOrStore(dir, &syncGroup{dir: dir})
	return g.(*syncGroup)
}

// syncDir fsyncs dir with group commit.
func syncDir(ctx context.Context, dir string) error {
	return groupFor(dir).sync(ctx)
}

// sync waits for a directory fsync that began after this call. The round
// owns the directory handle, so it does not matter if the caller gives up
// (ctx) before its round runs.
func (g *syncGroup) sync(ctx context.Context) error {
	g.mu.Lock()
	r := g.next
	if r == nil {
		d, err := os.Open(g.dir)
		if err != nil {
			g.mu.Unlock()
			return fmt.Errorf("spool: open dir: %w", err)
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
func (g *syncGroup) run(r *syncRound) {
	g.mu.Lock()
	fsync := g.fsync
	g.mu.Unlock()
	if fsync == nil {
		fsync = (*os.File).Sync
	}
	if err := fsync(r.dir); err != nil {
		r.err = fmt.Errorf("spool: fsync dir %s: %w", r.dir.Name(), err)
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
