package maildir

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailctl/lib/addr"
)

// The test binary doubles as the helper process of the multi-process
// tests: with MAILDIR_TEST_HELPER set it runs that helper instead of the
// tests.
func TestMain(m *testing.M) {
	if h := os.Getenv("MAILDIR_TEST_HELPER"); h != "" {
		os.Exit(runHelper(h))
	}
	os.Exit(m.Run())
}

func runHelper(name string) int {
	var err error
	switch name {
	case "uids":
		err = helperUIDs()
	case "deliver":
		err = helperDeliver()
	default:
		err = fmt.Errorf("unknown helper %q", name)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

var bob = addr.MustParse("bob@example.org")

// newUser makes a store in a temp dir with bob's Maildir and opens it.
func newUser(t testing.TB) (*Store, *User) {
	t.Helper()
	return newUserAt(t, t.TempDir(), Options{UID: -1, GID: -1, Hostname: "test.host"})
}

func newUserAt(t testing.TB, dir string, opts Options) (*Store, *User) {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if err := s.CreateUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	u, err := s.User(bob)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return s, u
}

func userDir(s *Store) string { return filepath.Join(s.Dir(), "example.org", "bob") }

func deliver(t testing.TB, u *User, msg string, opts DeliverOptions) string {
	t.Helper()
	key, err := u.Deliver(context.Background(), strings.NewReader(msg), opts)
	if err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	return key
}

func mustFolder(t testing.TB, u *User, name string) *Folder {
	t.Helper()
	f, err := u.Folder(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustSync(t testing.TB, f *Folder) *Snapshot {
	t.Helper()
	s, err := f.Sync(context.Background())
	if err != nil {
		t.Fatalf("Sync %s: %v", f.Name(), err)
	}
	return s
}

func readMessage(t testing.TB, f *Folder, m Message) string {
	t.Helper()
	rc, err := f.Open(m)
	if err != nil {
		t.Fatalf("Open %d: %v", m.UID, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// sharedTempDir is a temp dir that uid 65534 can reach (t.TempDir and its
// parent are 0700), for Dovecot and the unprivileged helper.
func sharedTempDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// helperCommand returns a command running this test binary as helper h,
// as uid/gid 65534 through setpriv when unprivileged is set (the binary is
// copied where that user can execute it).
func helperCommand(t *testing.T, h string, unprivileged bool, env ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	var cmd *exec.Cmd
	if unprivileged {
		if os.Geteuid() != 0 {
			t.Fatal("the unprivileged helper needs root to drop privileges with setpriv")
		}
		bin := filepath.Join(sharedTempDir(t), "maildir.test")
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd = exec.CommandContext(ctx, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "-test.run=^$")
	} else {
		cmd = exec.CommandContext(ctx, exe, "-test.run=^$")
	}
	cmd.Env = append(os.Environ(), append([]string{"MAILDIR_TEST_HELPER=" + h}, env...)...)
	return cmd
}

func addrMust(s string) addr.Address { return addr.MustParse(s) }
