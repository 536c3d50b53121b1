package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the mailctl binary: with MAILCTL_TEST_MAIN=1
// it runs the command tree on its own arguments, so tests drive the real
// CLI (flags, exit codes, argv[0] dispatch) in separate processes.
func TestMain(m *testing.M) {
	if os.Getenv("MAILCTL_TEST_MAIN") == "1" {
		os.Exit(run(os.Args, os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// testEnv is a throwaway installation: config, core files and data under
// one temporary directory.
type testEnv struct {
	t    testing.TB
	dir  string
	conf string
	bin  string
}

func newTestEnv(t testing.TB, extraConfig string) *testEnv {
	t.Helper()
	dir := t.TempDir()
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "mailctl.toml")
	body := fmt.Sprintf(`hostname = "mx.example.test"
domains = ["example.test"]
data_dir = %q
users_file = %q
aliases_file = %q
domains_file = %q
user = ""
[dns]
resolver = ["127.0.0.1:53"]
%s
`, dir, filepath.Join(dir, "users"), filepath.Join(dir, "aliases"), filepath.Join(dir, "domains"), extraConfig)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testEnv{t: t, dir: dir, conf: conf, bin: bin}
}

func (e *testEnv) environ() []string {
	return append(os.Environ(), "MAILCTL_TEST_MAIN=1", "MAILCTL_CONFIG="+e.conf)
}

// command returns an exec.Cmd running mailctl with args.
func (e *testEnv) command(stdin string, args ...string) *exec.Cmd {
	c := exec.Command(e.bin, args...)
	c.Env = e.environ()
	if stdin != "" {
		c.Stdin = strings.NewReader(stdin)
	}
	return c
}

// run runs mailctl and returns stdout, stderr and the exit code.
func (e *testEnv) run(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	c := e.command(stdin, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// must runs mailctl and fails the test unless it exits 0.
func (e *testEnv) must(stdin string, args ...string) string {
	e.t.Helper()
	out, errs, code := e.run(stdin, args...)
	if code != 0 {
		e.t.Fatalf("mailctl %s: exit %d\n%s", strings.Join(args, " "), code, errs)
	}
	return out
}

// expect runs mailctl and checks the exit code.
func (e *testEnv) expect(code int, stdin string, args ...string) string {
	e.t.Helper()
	_, errs, got := e.run(stdin, args...)
	if got != code {
		e.t.Fatalf("mailctl %s: exit %d, want %d\n%s", strings.Join(args, " "), got, code, errs)
	}
	return errs
}

func (e *testEnv) maildir(address string) string {
	local, domain, _ := strings.Cut(address, "@")
	return filepath.Join(e.dir, "mail", domain, local)
}

// newFiles lists the messages in a user's new/.
func (e *testEnv) newFiles(address string) []string {
	e.t.Helper()
	ents, err := os.ReadDir(filepath.Join(e.maildir(address), "new"))
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, de := range ents {
		out = append(out, filepath.Join(e.maildir(address), "new", de.Name()))
	}
	return out
}

func (e *testEnv) addUser(address string) {
	e.t.Helper()
	e.must("a password long enough\n", "useradd", address, "--password-stdin")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
