package safeio

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"sync"
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
