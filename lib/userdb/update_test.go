package userdb

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"mailctl/lib/addr"
)

// Environment of a child process of TestConcurrentWriters.
const (
	envChildPath = "MAILCTL_USERDB_TEST_CHILD_PATH"
	envChildN    = "MAILCTL_USERDB_TEST_CHILD_N"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(envChildPath); path != "" {
		os.Exit(childAdd(path, os.Getenv(envChildN)))
	}
	os.Exit(m.Run())
}

// childAdd is the whole life of one concurrent writer process.
func childAdd(path, n string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := Add(ctx, path, testUser("user"+n)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func testUser(local string) User {
	return User{Address: addr.MustParse(local + "@example.org"), Hash: argon, Services: AllServices}
}

// TestConcurrentWriters runs 50 writer processes, each adding one user,
// while this process keeps parsing the file: every write must land and no
// read may ever see a broken file.
func TestConcurrentWriters(t *testing.T) {
	const writers = 50
	path := filepath.Join(t.TempDir(), "users")
	db := Open(path)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, last int
	var readErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			users, err := Load(path)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err == nil {
				_, err = db.All()
			}
			if err == nil && len(users) < last {
				err = fmt.Errorf("user count went down from %d to %d", last, len(users))
			}
			if err != nil {
				readErr = err
				return
			}
			last = len(users)
			reads++
		}
	}()

	cmds := make([]*exec.Cmd, writers)
	outs := make([]strings.Builder, writers)
	for i := range cmds {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), envChildPath+"="+path, envChildN+"="+strconv.Itoa(i))
		c.Stdout, c.Stderr = &outs[i], &outs[i]
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = c
	}
	for i, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Errorf("writer %d: %v: %s", i, err, outs[i].String())
		}
	}
	close(stop)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("reader failed after %d good reads: %v", reads, readErr)
	}
	if reads == 0 {
		t.Fatal("the reader never read the file")
	}
	t.Logf("%d concurrent reads, all well-formed", reads)

	users, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != writers {
		t.Fatalf("%d users in the file, want %d", len(users), writers)
	}
	for i := range writers {
		if ok, err := db.IsUser(addr.MustParse(fmt.Sprintf("user%d@example.org", i))); !ok || err != nil {
			t.Errorf("user%d missing (%v)", i, err)
		}
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != FileMode {
		t.Errorf("mode = %v, want %v", st.Mode().Perm(), FileMode)
	}
}

func TestAddRemoveModify(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users")
	bob, ann := testUser("bob"), testUser("ann")

	for _, u := range []User{bob, ann} {
		if err := Add(ctx, path, u); err != nil {
			t.Fatal(err)
		}
	}
	if err := Add(ctx, path, bob); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: err = %v, want ErrExists", err)
	}
	if err := Add(ctx, path, User{Address: addr.MustParse("x@example.org"), Hash: "a b"}); err == nil {
		t.Fatal("added a user with a blank in the hash")
	}
	err := Modify(ctx, path, bob.Address, func(u *User) error {
		u.Quota, u.Disabled, u.Services = 1<<30, true, Services(0).With(POP3)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Modify(ctx, path, addr.MustParse("nobody@example.org"), func(*User) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("modify unknown: err = %v", err)
	}
	if err := Modify(ctx, path, bob.Address, func(u *User) error { u.Address = ann.Address; return nil }); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto another user: err = %v", err)
	}
	errNo := errors.New("no")
	if err := Modify(ctx, path, bob.Address, func(u *User) error { u.Hash = "changed"; return errNo }); err != errNo {
		t.Fatalf("fn error = %v", err)
	}
	db := Open(path)
	u, ok, err := db.Lookup(bob.Address)
	if err != nil || !ok || u.Quota != 1<<30 || !u.Disabled || u.Services != Services(0).With(POP3) || u.Hash != argon {
		t.Fatalf("after modify: %+v %v %v", u, ok, err)
	}

	if err := Remove(ctx, path, bob.Address); err != nil {
		t.Fatal(err)
	}
	if err := Remove(ctx, path, bob.Address); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: err = %v", err)
	}
	all, err := db.All()
	if err != nil || len(all) != 1 || all[0].Address != ann.Address {
		t.Fatalf("after remove: %+v, %v", all, err)
	}
}

func TestUpdateKeepsCommentsAndOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	text := "# my notes, not kept\n\n# zed first on purpose\nzed@example.org x imap 0 enabled\nann@example.org y - 1M disabled\n"
	os.WriteFile(path, []byte(text), 0o640)
	if err := Add(context.Background(), path, testUser("bob")); err != nil {
		t.Fatal(err)
	}
	users, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range users {
		got = append(got, u.Address.Local)
	}
	if strings.Join(got, " ") != "zed ann bob" || len(users[0].Comments) != 1 || users[0].Comments[0] != "zed first on purpose" {
		t.Fatalf("order %v, comments %q", got, users[0].Comments)
	}
}

func TestOwnerAndModeKept(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "users")
	if err := Add(ctx, path, testUser("bob")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	if root {
		if err := os.Chown(path, 1234, 5678); err != nil {
			t.Fatal(err)
		}
	}
	if err := Add(ctx, path, testUser("ann")); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600 kept", st.Mode().Perm())
	}
	if !root {
		t.Skip("not root: can't give the file another owner, so only the mode was checked")
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 1234 || sys.Gid != 5678 {
		t.Errorf("owner = %d:%d, want 1234:5678 kept", sys.Uid, sys.Gid)
	}
}

func TestNewFileGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: can't create a file with another group")
	}
	path := filepath.Join(t.TempDir(), "users")
	if err := Add(context.Background(), path, testUser("bob"), UpdateOptions{GID: 4321}); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if sys := st.Sys().(*syscall.Stat_t); sys.Gid != 4321 || st.Mode().Perm() != 0o640 {
		t.Errorf("new file: gid %d mode %v, want 4321 and 0640", sys.Gid, st.Mode().Perm())
	}
}

func TestCheckPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users")
	if err := CheckPermissions(path); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	os.WriteFile(path, nil, 0o600)
	for _, tt := range []struct {
		mode os.FileMode
		ok   bool
	}{{0o640, true}, {0o600, true}, {0o660, true}, {0o644, false}, {0o642, false}, {0o641, false}, {0o666, false}} {
		os.Chmod(path, tt.mode)
		err := CheckPermissions(path)
		if tt.ok != (err == nil) || !tt.ok && !errors.Is(err, ErrPermissions) {
			t.Errorf("mode %04o: err = %v", tt.mode, err)
		}
	}
}
