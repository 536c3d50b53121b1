package main

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/scan/scantest"
	"mailctl/lib/testenv"
)

const testMessage = "From: alice@remote.example\nTo: bob@example.test\nSubject: hello\n\nbody line\n"

func readOnly(t *testing.T, files []string) string {
	t.Helper()
	if len(files) != 1 {
		t.Fatalf("%d messages, want 1: %v", len(files), files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDeliverTargets(t *testing.T) {
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	e.addUser("carol@example.test")
	e.must("", "alias", "add", "sales@example.test", "carol@example.test")
	e.must("", "alias", "add", "@example.test", "carol@example.test")

	tests := []struct {
		rcpt, user string
	}{
		{"bob@example.test", "bob@example.test"},
		{"Bob@EXAMPLE.test", "bob@example.test"},
		{"bob+lists@example.test", "bob@example.test"},
		{"sales@example.test", "carol@example.test"},
		{"whoever@example.test", "carol@example.test"},  // catch-all
		{"postmaster@example.test", "bob@example.test"}, // role alias to the first user
	}
	for _, tt := range tests {
		t.Run(tt.rcpt, func(t *testing.T) {
			before := len(e.newFiles(tt.user))
			e.must(testMessage, "deliver", "-f", "alice@remote.example", tt.rcpt)
			files := e.newFiles(tt.user)
			if len(files) != before+1 {
				t.Fatalf("%s: %d messages in %s, want %d", tt.rcpt, len(files), tt.user, before+1)
			}
		})
	}
	// The delivered copy carries Return-Path and Delivered-To, LF line ends,
	// and the sizes in its name.
	files := e.newFiles("bob@example.test")
	b, _ := os.ReadFile(files[0])
	msg := string(b)
	if !strings.HasPrefix(msg, "Return-Path: <alice@remote.example>\nDelivered-To: bob@example.test\n") {
		t.Errorf("headers not added:\n%s", msg)
	}
	if strings.Contains(msg, "\r") || !strings.HasSuffix(msg, "body line\n") {
		t.Errorf("stored message not LF / incomplete: %q", msg)
	}
	name := filepath.Base(files[0])
	lines := int64(strings.Count(msg, "\n"))
	if !strings.Contains(name, fmt.Sprintf(",S=%d,W=%d", len(msg), int64(len(msg))+lines)) {
		t.Errorf("name %q lacks ,S=%d,W=%d", name, len(msg), int64(len(msg))+lines)
	}
}

func TestDeliverFailures(t *testing.T) {
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	e.must("", "alias", "add", "a@example.test", "b@example.test")
	e.must("", "alias", "add", "b@example.test", "a@example.test")

	e.expect(exitNoUser, testMessage, "deliver", "nobody@example.test")
	e.expect(exitNoUser, testMessage, "deliver", "not-an-address")
	e.expect(exitDataErr, testMessage, "deliver", "a@example.test") // alias loop
	e.expect(exitDataErr, "", "deliver", "bob@example.test")        // empty message
	looping := "Delivered-To: bob@example.test\n" + testMessage
	e.expect(exitDataErr, looping, "deliver", "bob@example.test")
	hops := strings.Repeat("Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\n", 101)
	e.expect(exitDataErr, hops+testMessage, "deliver", "bob@example.test")
	e.must(strings.Repeat("Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\n", 100)+testMessage, "deliver", "bob@example.test")
	// A remote alias target goes to the outbound queue, the sender
	// rewritten by SRS.
	e.must("", "alias", "add", "fwd@example.test", "someone@remote.example")
	e.must(testMessage, "deliver", "-f", "alice@remote.example", "fwd@example.test")
	q := e.must("", "queue", "list", "--json")
	if !strings.Contains(q, "someone@remote.example") || !strings.Contains(q, "srs0=") {
		t.Errorf("forwarded message not queued with an SRS sender:\n%s", q)
	}
	e.must("", "usermod", "bob@example.test", "--disable")
	e.expect(exitUnavailable, testMessage, "deliver", "bob@example.test")
	if n := len(e.newFiles("bob@example.test")); n != 1 {
		t.Errorf("%d messages delivered, want only the one with 100 Received: headers", n)
	}
}

func TestDeliverOverQuota(t *testing.T) {
	e := newTestEnv(t, "")
	e.must("a password long enough\n", "useradd", "bob@example.test", "--password-stdin", "--quota", "1K")
	big := testMessage + strings.Repeat("x", 2000) + "\n"
	e.expect(exitTempFail, big, "deliver", "bob@example.test")
	r := newTestEnv(t, "[deliver]\nover_quota = \"reject\"\n")
	r.must("a password long enough\n", "useradd", "bob@example.test", "--password-stdin", "--quota", "1K")
	r.expect(exitCantCreat, big, "deliver", "bob@example.test")
	if n := len(r.newFiles("bob@example.test")) + len(e.newFiles("bob@example.test")); n != 0 {
		t.Errorf("%d messages delivered over quota", n)
	}
}

// TestDeliverReadOnlyMaildir runs deliver as an unprivileged account (root
// ignores permissions) against a Maildir it may not write: exit 75 and
// nothing half-written anywhere.
func TestDeliverReadOnlyMaildir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to switch to an unprivileged uid with setpriv")
	}
	setpriv := testenv.NeedCommand(t, "setpriv", "util-linux")
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	// Let uid 65534 traverse and read everything, but write nothing.
	if err := filepath.Walk(e.dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.IsDir() {
			return os.Chmod(p, 0o755)
		}
		return os.Chmod(p, 0o644)
	}); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(e.dir), 0o755)
	c := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", e.bin, "deliver", "bob@example.test")
	c.Env = append(e.environ(), "HOME=/")
	c.Stdin = strings.NewReader(testMessage)
	out, err := c.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitTempFail {
		t.Fatalf("deliver into a read-only Maildir: %v, want exit 75\n%s", err, out)
	}
	for _, sub := range []string{"new", "cur", "tmp"} {
		ents, _ := os.ReadDir(filepath.Join(e.maildir("bob@example.test"), sub))
		if len(ents) != 0 {
			t.Errorf("%s/ not empty after a failed delivery: %v", sub, ents)
		}
	}
}

// TestDeliverFullDisk puts the Maildir on a tiny tmpfs: exit 75, and the
// partial file is gone from tmp/ and never reached new/.
func TestDeliverFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root to mount a small tmpfs")
	}
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	md := e.maildir("bob@example.test")
	saved := filepath.Join(e.dir, "saved")
	if out, err := exec.Command("cp", "-a", md, saved).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", md).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs (needed to simulate a full disk): %v %s", err, out)
	}
	defer exec.Command("umount", md).Run()
	if out, err := exec.Command("cp", "-a", saved+"/.", md).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}

	big := testMessage + strings.Repeat("0123456789abcdef\n", 8000) // ~136 KB > 64 KB
	e.expect(exitTempFail, big, "deliver", "bob@example.test")
	for _, sub := range []string{"new", "cur", "tmp"} {
		ents, _ := os.ReadDir(filepath.Join(md, sub))
		if len(ents) != 0 {
			t.Errorf("%s/ not empty after ENOSPC: %v", sub, ents)
		}
	}
	e.must(testMessage, "deliver", "bob@example.test") // a small one still fits
}

// TestDeliverSIGKILL kills deliver at random moments: every run that
// reported success left a complete message, and nothing partial is ever
// visible in new/ or cur/.
func TestDeliverSIGKILL(t *testing.T) {
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	body := strings.Repeat("line of a largish message body\n", 20000) // ~620 KB
	const runs = 40
	succeeded := map[string]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range runs {
		id := fmt.Sprintf("run-%03d", i)
		msg := "Subject: " + id + "\n\n" + body + "END " + id + "\n"
		c := e.command("", "deliver", "bob@example.test")
		c.Stdin = strings.NewReader(msg)
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(12000)) * time.Microsecond)
		c.Process.Signal(syscall.SIGKILL)
		if err := c.Wait(); err == nil {
			succeeded[id] = true
		}
	}
	seen := map[string]bool{}
	for _, sub := range []string{"new", "cur"} {
		ents, _ := os.ReadDir(filepath.Join(e.maildir("bob@example.test"), sub))
		for _, de := range ents {
			b, err := os.ReadFile(filepath.Join(e.maildir("bob@example.test"), sub, de.Name()))
			if err != nil {
				t.Fatal(err)
			}
			i := bytes.Index(b, []byte("Subject: run-"))
			if i < 0 || !bytes.HasSuffix(b, []byte("\n")) {
				t.Fatalf("partial message %s in %s/", de.Name(), sub)
			}
			id := string(b[i+9 : i+16])
			if !bytes.HasSuffix(b, []byte("END "+id+"\n")) || !bytes.Contains(b, []byte(body)) {
				t.Fatalf("partial message %s (%s) in %s/", de.Name(), id, sub)
			}
			seen[id] = true
		}
	}
	for id := range succeeded {
		if !seen[id] {
			t.Errorf("%s reported delivered but is not in the Maildir", id)
		}
	}
	t.Logf("%d of %d runs finished before the kill", len(succeeded), runs)
}

// TestDeliverScan: deliver --scan refuses a virus with 65 (a bounce, not a
// retry), files spam in Junk with its X-Spam-Status, delivers clean mail
// to INBOX with Authentication-Results, and exits 75 while clamd is down.
func TestDeliverScan(t *testing.T) {
	cd := scantest.StartClamd(t)
	e := newScanTestEnv(t, fmt.Sprintf("spam_score = 2.0\nclamd = %q\nclamd_stream_max = \"50M\"\n", cd.Socket))
	e.addUser("bob@example.test")
	scanArgs := []string{"deliver", "--scan", "--ip", "127.0.0.1", "--helo", "mx.remote.test"}

	stderr := e.expect(exitDataErr, scantest.EICARMessage("a@pass.test", "bob@example.test"),
		append(scanArgs, "-f", "a@pass.test", "bob@example.test")...)
	if !strings.Contains(stderr, "message refused: Virus found: Eicar-Test-Signature") {
		t.Errorf("virus: stderr %q", stderr)
	}
	e.must(scanMessage("a@pass.test", "Hello", "clean"), append(scanArgs, "-f", "a@pass.test", "bob@example.test")...)
	// Without --ip or --helo: a pipe from another MTA.
	e.must(scanMessage("a@pass.test", "Hello", "clean too"), "deliver", "--scan", "-f", "a@pass.test", "bob@example.test")
	inbox := e.newFiles("bob@example.test")
	if len(inbox) != 2 {
		t.Fatalf("INBOX has %d, want 2 (the virus is never delivered)", len(inbox))
	}
	for _, f := range inbox {
		b, _ := os.ReadFile(f)
		if !strings.Contains(string(b), "Authentication-Results: mx.example.test;") || !strings.Contains(string(b), "X-Spam-Status: No") {
			t.Errorf("clean message:\n%s", b)
		}
	}
	// From 127.0.0.1, fail.test's SPF and DMARC fail.
	e.must(scanMessage("a@fail.test", "CHEAP WATCHES FOR YOU", "spam"), append(scanArgs, "-f", "a@fail.test", "bob@example.test")...)
	junk, _ := filepath.Glob(filepath.Join(e.maildir("bob@example.test"), ".Junk", "new", "*"))
	if len(junk) != 1 {
		t.Fatalf("Junk has %d, want 1", len(junk))
	}
	if b, _ := os.ReadFile(junk[0]); !strings.Contains(string(b), "X-Spam-Status: Yes") || strings.Count(string(b), "X-Spam-Status") != 1 {
		t.Errorf("junk message:\n%s", b)
	}
	e.expect(exitUsage, "", "deliver", "--ip", "192.0.2.1", "bob@example.test")
	cd.Stop()
	stderr = e.expect(exitTempFail, scanMessage("a@pass.test", "Hello", "clean"), append(scanArgs, "bob@example.test")...)
	if !strings.Contains(stderr, "clamav unreachable") {
		t.Errorf("clamd down: stderr %q", stderr)
	}
	if n := len(e.newFiles("bob@example.test")); n != 2 {
		t.Errorf("INBOX has %d after clamd went down, want 2", n)
	}
}

// TestLMTPScan: with scan.enabled, deliver --lmtp refuses EICAR with
// 550 5.7.1 for every recipient, files spam in Junk, delivers clean mail,
// and answers 451 4.7.1 while clamd is down.
func TestLMTPScan(t *testing.T) {
	cd := scantest.StartClamd(t)
	e := newScanTestEnv(t, fmt.Sprintf("enabled = true\nspam_score = 2.0\nclamd = %q\nclamd_stream_max = \"50M\"\n", cd.Socket))
	e.addUser("bob@example.test")
	e.addUser("carol@example.test")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDaemon(t, e.bin, "deliver", "--lmtp", "--listen", address)
	c := dialLMTP(t, address)
	defer c.Close()
	send := func(from, msg string) error {
		t.Helper()
		if err := c.Mail(from, nil); err != nil {
			t.Fatal(err)
		}
		for _, r := range []string{"bob@example.test", "carol@example.test"} {
			if err := c.Rcpt(r, nil); err != nil {
				t.Fatal(err)
			}
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(w, msg)
		_, err = w.CloseWithLMTPResponse()
		return err
	}
	wantAll := func(what string, err error, code int, enh smtp.EnhancedCode) {
		t.Helper()
		var le smtp.LMTPDataError
		if !errors.As(err, &le) || len(le) != 2 {
			t.Fatalf("%s: %v, want an error for both recipients", what, err)
		}
		for rcpt, se := range le {
			if se.Code != code || se.EnhancedCode != enh {
				t.Errorf("%s: %s got %d %v %q", what, rcpt, se.Code, se.EnhancedCode, se.Message)
			}
		}
	}
	err := send("a@pass.test", scantest.EICARMessage("a@pass.test", "bob@example.test"))
	wantAll("EICAR", err, 550, smtp.EnhancedCode{5, 7, 1})
	if err := send("a@pass.test", scanMessage("a@pass.test", "Hello", "clean")); err != nil {
		t.Fatalf("clean: %v", err)
	}
	// No client address over LMTP: SPF is none; DMARC has no SPF to align
	// and fails for fail.test, and the caps subject adds to it.
	if err := send("a@fail.test", scanMessage("a@fail.test", "CHEAP WATCHES FOR YOU", "spam")); err != nil {
		t.Fatalf("spam: %v", err)
	}
	for _, u := range []string{"bob@example.test", "carol@example.test"} {
		inbox := e.newFiles(u)
		junk, _ := filepath.Glob(filepath.Join(e.maildir(u), ".Junk", "new", "*"))
		if len(inbox) != 1 || len(junk) != 1 {
			t.Fatalf("%s: INBOX %d, Junk %d; want 1 and 1", u, len(inbox), len(junk))
		}
		if b, _ := os.ReadFile(junk[0]); !strings.Contains(string(b), "X-Spam-Status: Yes") {
			t.Errorf("%s junk:\n%s", u, b)
		}
	}
	cd.Stop()
	err = send("a@pass.test", scanMessage("a@pass.test", "Hello", "clean"))
	wantAll("clamd down", err, 451, smtp.EnhancedCode{4, 7, 1})
}
