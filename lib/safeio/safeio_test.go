package safeio

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestWriteFileKeepsMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "users")
	if err := WriteFile(p, []byte("a\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(p, []byte("b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600 kept from the old file", st.Mode().Perm())
	}
	b, _ := os.ReadFile(p)
	if string(b) != "b\n" {
		t.Fatalf("content = %q", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("temporary files left behind: %v", ents)
	}
}

func TestWriteFileNewMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(p, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode = %v, want 0640", st.Mode().Perm())
	}
}

// TestLockExcludes increments a counter file from many goroutines, each
// through its own lock descriptor; a lost update means the lock leaked.
func TestLockExcludes(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "n")
	lock := filepath.Join(dir, "n.lock")
	if err := os.WriteFile(counter, []byte("0"), 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				err := WithLock(context.Background(), lock, func() error {
					b, err := os.ReadFile(counter)
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(b))
					return WriteFile(counter, []byte(strconv.Itoa(n+1)), 0o600)
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(counter)
	if string(b) != "200" {
		t.Fatalf("counter = %s, want 200", b)
	}
}

func TestLockTimeout(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "x.lock")
	l, err := LockFile(context.Background(), lock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := LockFile(ctx, lock); err == nil {
		t.Fatal("second lock succeeded while the first was held")
	}
}

// TestSyncGroup drives SyncGroup with a slow fake directory: every
// caller must return only after an fsync that started after it called,
// and concurrent callers must share fsyncs.
func TestSyncGroup(t *testing.T) {
	var clock atomic.Int64 // orders events: "renames" and fsync starts
	var lastDoneStart atomic.Int64
	var syncs atomic.Int64
	var g SyncGroup
	g.SetFsync(func(*os.File) error {
		start := clock.Add(1)
		syncs.Add(1)
		time.Sleep(5 * time.Millisecond)
		lastDoneStart.Store(start) // rounds never overlap
		return nil
	})
	dir := t.TempDir()
	open := func() (*os.File, error) { return os.Open(dir) }

	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i%8) * time.Millisecond)
			renamed := clock.Add(1)
			if err := g.Sync(context.Background(), open); err != nil {
				errs <- err
				return
			}
			if done := lastDoneStart.Load(); done <= renamed {
				errs <- fmt.Errorf("returned after sync started at %d, but renamed at %d", done, renamed)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := syncs.Load(); got >= n/2 {
		t.Errorf("%d fsyncs for %d callers: no grouping", got, n)
	}
	t.Logf("%d callers, %d fsyncs", n, syncs.Load())
}
