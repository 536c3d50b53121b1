package aliases

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"mailctl/lib/addr"
)

func TestAddRemove(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "aliases")
	info := addr.MustParse("info@example.org")
	catchAll := addr.Address{Domain: "example.org"}
	tab := Open(path)

	if _, ok, err := tab.Lookup(info); ok || err != nil {
		t.Fatalf("missing file: %v %v", ok, err)
	}
	if err := Add(ctx, path, info, mp("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	if err := Add(ctx, path, info, mp("bob@example.org", "carol@example.org")); err != nil {
		t.Fatal(err)
	}
	if err := Add(ctx, path, info, mp("carol@example.org")); !errors.Is(err, ErrExists) {
		t.Fatalf("adding present targets: err = %v, want ErrExists", err)
	}
	if err := Add(ctx, path, catchAll, mp("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	for _, bad := range [][]addr.Address{nil, {{Local: "|cat", Domain: "example.org"}}, {catchAll}} {
		if err := Add(ctx, path, info, bad); err == nil {
			t.Errorf("Add(%v) succeeded", bad)
		}
	}
	got, ok, err := tab.Lookup(info)
	if err != nil || !ok || !reflect.DeepEqual(got, mp("bob@example.org", "carol@example.org")) {
		t.Fatalf("after add: %v %v %v", got, ok, err)
	}
	if got, ok, _ := tab.Lookup(catchAll); !ok || len(got) != 1 {
		t.Fatalf("catch-all: %v %v", got, ok)
	}

	if err := Remove(ctx, path, info, addr.MustParse("dave@example.org")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing an absent target: err = %v", err)
	}
	if err := Remove(ctx, path, info, addr.MustParse("bob@example.org")); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := tab.Lookup(info); !reflect.DeepEqual(got, mp("carol@example.org")) {
		t.Fatalf("after removing bob: %v", got)
	}
	// Removing the last target removes the alias.
	if err := Remove(ctx, path, info, addr.MustParse("carol@example.org")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tab.Lookup(info); ok {
		t.Fatal("alias without targets still there")
	}
	if err := Remove(ctx, path, catchAll); err != nil {
		t.Fatal(err)
	}
	if err := Remove(ctx, path, catchAll); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: err = %v", err)
	}
	all, err := tab.All()
	if err != nil || len(all) != 0 {
		t.Fatalf("left: %v %v", all, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != FileMode {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), FileMode)
	}
}

func TestTableBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aliases")
	os.WriteFile(path, []byte("ok@example.org: a@example.org\nbad@example.org: |cat\n"), 0o644)
	if _, _, err := Open(path).Lookup(addr.MustParse("ok@example.org")); err == nil || !strings.HasPrefix(err.Error(), path+":2:") {
		t.Fatalf("err = %v, want %s:2", err, path)
	}
	if err := Add(context.Background(), path, addr.MustParse("x@example.org"), mp("a@example.org")); err == nil {
		t.Fatal("Add rewrote a broken file")
	}
}

// TestConcurrentAdd adds targets to one alias from many goroutines; each
// holds the lock through its own descriptor, so none may be lost.
func TestConcurrentAdd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aliases")
	list := addr.MustParse("list@example.org")
	const n = 20
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = Add(context.Background(), path, list, mp(fmt.Sprintf("m%d@example.org", i)))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("add %d: %v", i, err)
		}
	}
	got, _, err := Open(path).Lookup(list)
	if err != nil || len(got) != n {
		t.Fatalf("%d targets (%v), want %d", len(got), err, n)
	}
}
