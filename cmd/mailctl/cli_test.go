package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"mailctl/lib/userdb"
)

func TestHelpListsEverySubcommand(t *testing.T) {
	e := newTestEnv(t, "")
	out := e.must("", "--help")
	for _, sub := range []string{"deliver", "useradd", "userdel", "usermod", "passwd", "users", "alias", "domain", "serve", "config"} {
		if !strings.Contains(out, "\n  "+sub+" ") {
			t.Errorf("--help does not list %q:\n%s", sub, out)
		}
	}
	if strings.Contains(out, "gendocs") {
		t.Error("hidden gendocs command listed")
	}
}

func TestUsageErrorExit64(t *testing.T) {
	e := newTestEnv(t, "")
	e.expect(exitUsage, "", "useradd")
	e.expect(exitUsage, "", "useradd", "--no-such-flag", "a@example.test")
	e.expect(exitUsage, "", "deliver")
}

func TestConfigCheck(t *testing.T) {
	e := newTestEnv(t, "")
	out := e.must("", "config", "check")
	if !strings.Contains(out, `hostname = "mx.example.test"`) {
		t.Errorf("config check output:\n%s", out)
	}
	os.WriteFile(filepath.Join(e.dir, "aliases"), []byte("ok@example.test: bob@example.test\nbroken line\n"), 0o644)
	errs := e.expect(exitConfig, "", "config", "check")
	if !strings.Contains(errs, "aliases:2:") {
		t.Errorf("aliases error does not name file:line: %s", errs)
	}
	bad := newTestEnv(t, "[limits]\nrecipents = 5\n")
	errs = bad.expect(exitConfig, "", "config", "check")
	if !strings.Contains(errs, "limits.recipents") {
		t.Errorf("error does not name the key: %s", errs)
	}
}

func TestUseraddAndUsers(t *testing.T) {
	e := newTestEnv(t, "")
	e.must("a password long enough\n", "useradd", "Bob@Example.TEST", "--password-stdin", "--services", "imap,submit", "--quota", "2G")
	out := e.must("", "users", "--json")
	if !strings.Contains(out, `"address": "bob@example.test"`) || !strings.Contains(out, `"quota": 2147483648`) {
		t.Errorf("users --json:\n%s", out)
	}
	if strings.Contains(out, "argon2") {
		t.Error("users prints password hashes")
	}
	for _, sub := range []string{"cur", "new", "tmp", ".Sent/cur", ".Drafts/new", ".Trash/tmp", ".Junk/cur", ".Archive/cur"} {
		if _, err := os.Stat(filepath.Join(e.maildir("bob@example.test"), sub)); err != nil {
			t.Errorf("Maildir: %v", err)
		}
	}
	st, err := os.Stat(filepath.Join(e.dir, "users"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Errorf("users file mode %v, want 0640", st.Mode().Perm())
	}
	// The first user of a config domain gets postmaster@ and abuse@.
	al := e.must("", "alias", "list")
	for _, want := range []string{"postmaster@example.test", "abuse@example.test"} {
		if !strings.Contains(al, want) {
			t.Errorf("alias list lacks %s:\n%s", want, al)
		}
	}

	e.expect(exitCantCreat, "a password long enough\n", "useradd", "bob@example.test", "--password-stdin")
	e.expect(exitDataErr, "a password long enough\n", "useradd", "not an address", "--password-stdin")
	e.expect(exitNoHost, "a password long enough\n", "useradd", "carol@elsewhere.example", "--password-stdin")
	e.expect(exitUsage, "", "useradd", "dave@example.test") // no terminal, no password flag
	e.expect(exitDataErr, "short\n", "useradd", "dave@example.test", "--password-stdin")
	e.expect(exitDataErr, "", "useradd", "dave@example.test", "--random-password", "--services", "ftp")

	out = e.must("", "useradd", "erin@example.test", "--random-password")
	if f := strings.Fields(out); len(f) != 2 || f[0] != "erin@example.test" || len(f[1]) < 20 {
		t.Errorf("random password output %q", out)
	}
}

func TestUsermodUserdelPasswd(t *testing.T) {
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	e.must("", "usermod", "bob@example.test", "--disable", "--services", "pop3")
	users, err := userdb.Load(filepath.Join(e.dir, "users"))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 1 || !users[0].Disabled || users[0].Services.Has(userdb.IMAP) || !users[0].Services.Has(userdb.POP3) {
		t.Fatalf("after usermod: %+v", users)
	}
	old := users[0].Hash
	e.must("another long password\n", "passwd", "bob@example.test", "--password-stdin")
	users, _ = userdb.Load(filepath.Join(e.dir, "users"))
	if users[0].Hash == old {
		t.Error("passwd did not change the hash")
	}
	e.expect(exitNoUser, "another long password\n", "passwd", "nobody@example.test", "--password-stdin")
	e.expect(exitNoUser, "", "usermod", "nobody@example.test", "--enable")
	e.expect(exitUsage, "", "usermod", "bob@example.test")
	e.must("", "userdel", "bob@example.test", "--remove-mail")
	if _, err := os.Stat(e.maildir("bob@example.test")); !os.IsNotExist(err) {
		t.Errorf("Maildir still there after --remove-mail: %v", err)
	}
	e.expect(exitNoUser, "", "userdel", "bob@example.test")
}

func TestDomainCommands(t *testing.T) {
	e := newTestEnv(t, "")
	e.expect(exitDataErr, "", "domain", "add", "example.org") // no admin known
	e.must("", "domain", "add", "Example.ORG", "--admin", "admin@example.test")
	e.expect(exitCantCreat, "", "domain", "add", "example.org", "--admin", "admin@example.test")
	out := e.must("", "domain", "list")
	if out != "example.org\nexample.test\n" {
		t.Errorf("domain list = %q", out)
	}
	al := e.must("", "alias", "list")
	if !strings.Contains(al, "postmaster@example.org") || !strings.Contains(al, "abuse@example.org") {
		t.Errorf("role aliases missing:\n%s", al)
	}
	e.addUser("bob@example.org")
	e.expect(exitDataErr, "", "domain", "del", "example.test") // in the config
	e.must("", "domain", "del", "example.org")
	e.expect(exitNoUser, "", "domain", "del", "example.org")
	e.expect(exitNoHost, "a password long enough\n", "useradd", "carol@example.org", "--password-stdin")
}

func TestAliasCommands(t *testing.T) {
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	e.must("", "alias", "add", "sales@example.test", "bob@example.test", "alice@remote.example")
	e.must("", "alias", "add", "@example.test", "bob@example.test")
	out := e.must("", "alias", "list", "--json")
	for _, want := range []string{`"address": "sales@example.test"`, `"alice@remote.example"`, `"address": "@example.test"`} {
		if !strings.Contains(out, want) {
			t.Errorf("alias list lacks %s:\n%s", want, out)
		}
	}
	e.expect(exitNoHost, "", "alias", "add", "x@remote.example", "bob@example.test")
	e.must("", "alias", "del", "sales@example.test", "alice@remote.example")
	out = e.must("", "alias", "list")
	if strings.Contains(out, "alice@remote.example") {
		t.Errorf("target not removed:\n%s", out)
	}
	e.must("", "alias", "del", "sales@example.test")
	e.expect(exitNoUser, "", "alias", "del", "sales@example.test")
}

// TestConcurrentUseradd starts 50 useradd processes at once while a reader
// parses the users file in a loop: every user lands, and the reader never
// sees a half-written file.
func TestConcurrentUseradd(t *testing.T) {
	e := newTestEnv(t, "")
	const n = 50
	usersFile := filepath.Join(e.dir, "users")
	stop := make(chan struct{})
	readerErr := make(chan error, 1)
	reads := 0
	go func() {
		defer close(readerErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := userdb.Load(usersFile); err != nil && !errors.Is(err, os.ErrNotExist) {
				readerErr <- err
				return
			}
			reads++
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := e.command("a password long enough\n", "useradd", fmt.Sprintf("user%02d@example.test", i), "--password-stdin")
			if out, err := c.CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("user%02d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(stop)
	close(errs)
	for s := range errs {
		t.Error(s)
	}
	if err := <-readerErr; err != nil {
		t.Fatalf("reader saw a broken users file: %v", err)
	}
	users, err := userdb.Load(usersFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != n {
		t.Fatalf("%d users in the file, want %d", len(users), n)
	}
	if reads == 0 {
		t.Error("the reader never read the file")
	}
}

func TestLogFormatJSON(t *testing.T) {
	e := newTestEnv(t, "")
	_, errs, code := e.run("a password long enough\n", "--log-format", "json", "useradd", "bob@example.test", "--password-stdin")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, `{"time":`) || !strings.Contains(errs, `"prog":"useradd"`) {
		t.Errorf("no JSON log lines on stderr:\n%s", errs)
	}
	e.expect(exitUsage, "", "--log-format", "xml", "users")
	e.expect(exitUsage, "", "--log-level", "loud", "users")
}
