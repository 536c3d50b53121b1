package main

import (
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"mailctl/lib/spool"
	"mailctl/lib/testenv"
)

// newSendmailEnv is an installation whose pickup socket lives in the test
// directory, with admin@example.test receiving root's mail. Unqualified
// addresses get example.test.
func newSendmailEnv(t *testing.T, extra string) *testEnv {
	t.Helper()
	e := newTestEnv(t, extra)
	f, err := os.OpenFile(e.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Appended last: a TOML table may come anywhere.
	if _, err := io.WriteString(f, "\n[pickup]\nlisten = [\"unix:"+e.sock()+"\"]\ndomain = \"example.test\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e.addUser("admin@example.test")
	e.addUser("bob@example.test")
	e.must("", "alias", "add", "root@example.test", "admin@example.test")
	return e
}

func (e *testEnv) sock() string { return filepath.Join(e.dir, "sendmail.sock") }

// startPickup runs `mailctl pickup` until stop is called (or the test ends).
func startPickup(t *testing.T, e *testEnv) (stop func()) {
	t.Helper()
	c := e.command("", "pickup")
	var stderr strings.Builder
	c.Stderr = &syncWriter{w: &stderr}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("pickup after SIGTERM: %v\n%s", err, stderr.String())
		}
		if t.Failed() {
			t.Logf("pickup stderr:\n%s", stderr.String())
		}
	}
	t.Cleanup(stop)
	waitFor(t, "the pickup socket", func() bool {
		conn, err := net.Dial("unix", e.sock())
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return stop
}

// sendmailLink makes a link named sendmail to the binary (argv[0]
// dispatch) and returns its path.
func sendmailLink(t *testing.T, e *testEnv) string {
	t.Helper()
	p := filepath.Join(e.dir, "sendmail")
	if err := os.Symlink(e.bin, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// sendmail runs the link with args, as the user setpriv makes it (uid < 0: as
// we are).
func (e *testEnv) sendmail(link string, uid int, stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	var c *exec.Cmd
	if uid < 0 {
		c = exec.Command(link, args...)
	} else {
		id := strconv.Itoa(uid)
		c = exec.Command("setpriv", append([]string{"--reuid", id, "--regid", id, "--clear-groups", link}, args...)...)
	}
	c.Env = e.environ()
	c.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("sendmail %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// findMessage returns the only new message of address that contains want.
func findMessage(t *testing.T, e *testEnv, address, want string) string {
	t.Helper()
	var found []string
	for _, p := range e.newFiles(address) {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), want) {
			found = append(found, string(b))
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s has %d messages containing %q, want 1", address, len(found), want)
	}
	return found[0]
}

const cronMessage = `From: root (Cron Daemon)
To: root
Subject: Cron <root@mx> /usr/local/bin/backup
MIME-Version: 1.0
Content-Type: text/plain; charset=UTF-8
Content-Transfer-Encoding: 8bit
X-Cron-Env: <SHELL=/bin/sh>

backup finished: 3 files, übrigens fine
.
a dot line above, but -i was given
`

// TestSendmailCron sends what Debian's cron sends, exactly as it runs
// sendmail, and what scripts send with -t.
func TestSendmailCron(t *testing.T) {
	e := newSendmailEnv(t, "")
	startPickup(t, e)
	link := sendmailLink(t, e)

	_, errs, code := e.sendmail(link, -1, cronMessage, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root")
	if code != 0 {
		t.Fatalf("cron's sendmail: exit %d\n%s", code, errs)
	}
	msg := findMessage(t, e, "admin@example.test", "backup finished")
	for _, want := range []string{
		"Return-Path: <root@example.test>\n",
		"Delivered-To: admin@example.test\n",
		"Received: by mx.example.test (mailctl sendmail, from userid 0)\n",
		"From: root@example.test (Cron Daemon)\n",
		"To: root@example.test\n",
		"Message-ID: <",
		"übrigens fine\n.\na dot line above, but -i was given\n",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("cron mail lacks %q:\n%s", want, msg)
		}
	}

	// Without -i the dot line ends the message.
	e.sendmail(link, -1, "Subject: dots\n\nbefore\n.\nafter\n", "root")
	if msg := findMessage(t, e, "admin@example.test", "Subject: dots"); strings.Contains(msg, "after") {
		t.Errorf("input after the dot line was sent:\n%s", msg)
	}

	// -t: recipients from the header, Bcc: removed; a remote one queued.
	script := "To: admin\nCc: Bob <bob@example.test>\nBcc: carol@remote.example, root\nSubject: report\n\nnumbers\n"
	if _, errs, code := e.sendmail(link, -1, script, "-t", "-oi", "-odq"); code != 0 {
		t.Fatalf("sendmail -t: exit %d\n%s", code, errs)
	}
	for _, a := range []string{"admin@example.test", "bob@example.test"} {
		m := findMessage(t, e, a, "Subject: report")
		if strings.Contains(m, "Bcc") || strings.Contains(m, "carol") {
			t.Errorf("%s sees the Bcc:\n%s", a, m)
		}
		if !strings.Contains(m, "To: admin@example.test\n") {
			t.Errorf("To: not qualified:\n%s", m)
		}
	}
	sp, err := spool.Open(filepath.Join(e.dir, "queue"), spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ents, err := sp.List(context.Background(), spool.Incoming)
	if err != nil || len(ents) != 1 {
		t.Fatalf("queue: %v %v", ents, err)
	}
	if ents[0].Origin != "sendmail" || len(ents[0].Recipients) != 1 || ents[0].Recipients[0].Address.String() != "carol@remote.example" ||
		ents[0].From.String() != "root@example.test" {
		t.Errorf("queued %+v", ents[0].Envelope)
	}

	// Refusals and modes.
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{67, []string{"nosuchuser"}, "no such user: nosuchuser@example.test"},
		{64, []string{"-bd"}, "daemon mode"},
		{64, []string{"-bs"}, "not supported"},
		{64, []string{"-i"}, "no recipients"},
		{65, []string{"-t"}, "no recipients"},
		{0, []string{"-bi"}, ""},
	} {
		_, errs, code := e.sendmail(link, -1, "Subject: x\n\ny\n", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("sendmail %v: exit %d, %q; want %d, %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	out, _, code := e.sendmail(link, -1, "", "--help")
	if code != 0 || !strings.Contains(out, "EXIT STATUS") || !strings.Contains(out, "-FCronDaemon") {
		t.Errorf("--help: exit %d\n%s", code, out)
	}
	// The subcommand takes the same arguments.
	if _, errs, code := e.run("Subject: via mailctl\n\nz\n", "sendmail", "-i", "-v", "root"); code != 0 {
		t.Errorf("mailctl sendmail: exit %d %s", code, errs)
	}
	findMessage(t, e, "admin@example.test", "Subject: via mailctl")
}

// TestSendmailUsersAndDaemonDown runs sendmail as nobody (uid 65534), with
// a large message, and with the daemon stopped.
func TestSendmailUsersAndDaemonDown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP LOUDLY: running sendmail as another user needs root (setpriv)")
	}
	e := newSendmailEnv(t, "[limits]\nmessage_size = \"4M\"\n")
	// nobody must reach the binary, the config and the socket.
	bin := filepath.Join(e.dir, "mailctl")
	data, err := os.ReadFile(e.bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	e.bin = bin
	for _, d := range []string{e.dir, filepath.Dir(e.dir)} {
		os.Chmod(d, 0o755)
	}
	os.Chmod(e.conf, 0o644)
	stop := startPickup(t, e)
	link := sendmailLink(t, e)

	const nobody = 65534
	if _, errs, code := e.sendmail(link, nobody, "Subject: from nobody\n\nhi\n", "admin"); code != 0 {
		t.Fatalf("as nobody: exit %d\n%s", code, errs)
	}
	m := findMessage(t, e, "admin@example.test", "Subject: from nobody")
	for _, want := range []string{"Return-Path: <nobody@example.test>\n", "from userid 65534)", "From: \"nobody\" <nobody@example.test>\n"} {
		if !strings.Contains(m, want) {
			t.Errorf("nobody's mail lacks %q:\n%s", want, m)
		}
	}
	if strings.Contains(m, "X-Authentication-Warning") {
		t.Error("warning without -f")
	}
	e.sendmail(link, nobody, "Subject: forged\n\nhi\n", "-f", "boss@example.test", "admin")
	m = findMessage(t, e, "admin@example.test", "Subject: forged")
	if !strings.Contains(m, "X-Authentication-Warning: mx.example.test: nobody set sender to boss@example.test using -f\n") ||
		!strings.Contains(m, "Return-Path: <boss@example.test>") {
		t.Errorf("foreign -f by nobody:\n%s", m)
	}

	// Large input: 3 MB passes, 5 MB is over the 4M limit.
	big := "Subject: big\n\n" + strings.Repeat(strings.Repeat("x", 99)+"\n", 30000)
	if _, errs, code := e.sendmail(link, nobody, big, "-i", "bob"); code != 0 {
		t.Fatalf("3 MB message: exit %d\n%s", code, errs)
	}
	if m := findMessage(t, e, "bob@example.test", "Subject: big"); strings.Count(m, "\n") < 30000 {
		t.Errorf("big message truncated to %d lines", strings.Count(m, "\n"))
	}
	huge := "Subject: huge\n\n" + strings.Repeat(strings.Repeat("y", 99)+"\n", 50000)
	if _, errs, code := e.sendmail(link, nobody, huge, "-i", "bob"); code != 65 || !strings.Contains(errs, "limits.message_size") {
		t.Errorf("5 MB message: exit %d %s", code, errs)
	}

	// The daemon down: root's message waits in the maildrop, nobody's
	// can't (status 75, so the caller knows).
	stop()
	_, errs, code := e.sendmail(link, -1, cronMessage, "-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root")
	if code != 0 || !strings.Contains(errs, "maildrop") {
		t.Fatalf("root with the daemon down: exit %d %s", code, errs)
	}
	drop, _ := os.ReadDir(filepath.Join(e.dir, "queue", "maildrop"))
	if len(drop) != 1 {
		t.Fatalf("maildrop holds %d files, want 1", len(drop))
	}
	_, errs, code = e.sendmail(link, nobody, "Subject: lost?\n\nx\n", "admin")
	if code != 75 || !strings.Contains(errs, "unreachable") || !strings.Contains(errs, "permission denied") {
		t.Errorf("nobody with the daemon down: exit %d %s", code, errs)
	}
	startPickup(t, e)
	waitFor(t, "the maildrop to be picked up", func() bool {
		drop, _ := os.ReadDir(filepath.Join(e.dir, "queue", "maildrop"))
		return len(drop) == 0
	})
	if m := findMessage(t, e, "admin@example.test", "backup finished"); !strings.Contains(m, "from userid 0)") {
		t.Errorf("maildrop message:\n%s", m)
	}
}

// TestSendmailNothingRunning: no daemon ever ran, so no maildrop either.
func TestSendmailNothingRunning(t *testing.T) {
	e := newSendmailEnv(t, "")
	link := sendmailLink(t, e)
	_, errs, code := e.sendmail(link, -1, "Subject: x\n\ny\n", "root")
	if code != 75 || !strings.Contains(errs, "unreachable") || !strings.Contains(errs, "not sent") {
		t.Errorf("exit %d %s", code, errs)
	}
}

// TestPickupSystemdSocket takes the socket from systemd-socket-activate by
// its name, "pickup".
func TestPickupSystemdSocket(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e := newSendmailEnv(t, "")
	c := exec.Command(ssa, "-l", e.sock(), "--fdname=pickup",
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf, e.bin, "pickup")
	c.Env = e.environ()
	var stderr strings.Builder
	c.Stderr = &syncWriter{w: &stderr}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			c.Process.Signal(syscall.SIGTERM)
			c.Wait()
		}
	}
	defer func() {
		stop()
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	}()
	waitFor(t, "the socket", func() bool { _, err := os.Stat(e.sock()); return err == nil })
	link := sendmailLink(t, e)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, errs, code := e.sendmail(link, -1, "Subject: activated\n\nz\n", "root")
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exit %d %s", code, errs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	findMessage(t, e, "admin@example.test", "Subject: activated")
	stop() // its stderr is complete
	if !strings.Contains(stderr.String(), "name=pickup") {
		t.Errorf("socket not taken from systemd by name:\n%s", stderr.String())
	}
}
