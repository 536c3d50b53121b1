package userdb

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"mailctl/lib/addr"
)

func TestDBReloads(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users")
	db := Open(path)
	bob := addr.MustParse("bob@example.org")

	if _, _, err := db.Lookup(bob); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing users file: err = %v, want ErrNotExist", err)
	}
	if err := Add(ctx, path, testUser("ann")); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := db.Lookup(bob); ok || err != nil {
		t.Fatalf("bob before add: %v %v", ok, err)
	}
	if err := Add(ctx, path, testUser("bob")); err != nil {
		t.Fatal(err)
	}
	if u, ok, err := db.Lookup(bob); !ok || err != nil || u.Hash != argon {
		t.Fatalf("bob after add: %+v %v %v", u, ok, err)
	}

	// A hand edit that breaks the file is reported with file:line.
	b, _ := os.ReadFile(path)
	os.WriteFile(path, append(b, "broken line\n"...), 0o640)
	lines := strings.Count(string(b), "\n") + 1
	if _, _, err := db.Lookup(bob); err == nil || !strings.Contains(err.Error(), path+":"+strconv.Itoa(lines)+":") {
		t.Fatalf("broken file: err = %v, want %s:%d", err, path, lines)
	}
	os.WriteFile(path, b, 0o640)
	if _, ok, err := db.Lookup(bob); !ok || err != nil {
		t.Fatalf("repaired file: %v %v", ok, err)
	}
}
