package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/testenv"
)

func freePort(t *testing.T) int {
	t.Helper()
	givenPortsMu.Lock()
	defer givenPortsMu.Unlock()
	// The kernel may hand a just-closed port out again: never give the same
	// one twice in this process, or two listeners of one test would collide.
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if !givenPorts[port] {
			givenPorts[port] = true
			return port
		}
	}
	t.Fatal("freePort: no unused port after 100 tries")
	return 0
}

var (
	givenPortsMu sync.Mutex
	givenPorts   = map[int]bool{}
)

func dialLMTP(t *testing.T, address string) *smtp.Client {
	t.Helper()
	var conn net.Conn
	var err error
	waitFor(t, "LMTP listener at "+address, func() bool {
		conn, err = net.DialTimeout("tcp", address, time.Second)
		return err == nil
	})
	c := smtp.NewClientLMTP(conn)
	if err := c.Hello("client.example.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// lmtpExchange sends one message to bob (accepted), nobody (refused at
// RCPT with 550 5.1.1) and postmaster (accepted), and checks the
// per-recipient replies.
func lmtpExchange(t *testing.T, c *smtp.Client) {
	t.Helper()
	if err := c.Mail("alice@remote.example", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bob@example.test", nil); err != nil {
		t.Fatal(err)
	}
	err := c.Rcpt("nobody@example.test", nil)
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code != 550 || se.EnhancedCode != (smtp.EnhancedCode{5, 1, 1}) {
		t.Fatalf("RCPT unknown user: %v, want 550 5.1.1", err)
	}
	if err := c.Rcpt("postmaster@example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(w, strings.ReplaceAll(testMessage, "\n", "\r\n"))
	resp, err := w.CloseWithLMTPResponse()
	if err != nil {
		t.Fatalf("DATA: %v", err)
	}
	if len(resp) != 2 {
		t.Errorf("%d LMTP replies, want one per accepted recipient (2): %v", len(resp), resp)
	}
	c.Quit()
}

// TestLMTPSystemdSocketActivation runs `deliver --lmtp` under the real
// systemd-socket-activate, which passes a named listening socket.
func TestLMTPSystemdSocketActivation(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	port := freePort(t)
	address := fmt.Sprintf("127.0.0.1:%d", port)
	c := exec.Command(ssa, "-l", address, "--fdname=lmtp",
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf,
		e.bin, "deliver", "--lmtp")
	c.Env = e.environ()
	var stderr strings.Builder
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
		if t.Failed() {
			t.Logf("server stderr:\n%s", stderr.String())
		}
	}()
	cl := dialLMTP(t, address)
	lmtpExchange(t, cl)
	// postmaster@ is an alias of bob: one copy for both recipients.
	if n := len(e.newFiles("bob@example.test")); n != 1 {
		t.Errorf("bob has %d messages, want 1 (reached directly and as postmaster)", n)
	}
}

// TestLMTPInetd serves one connection on stdin/stdout, as inetd and systemd
// Accept=yes do; logs must not reach the socket.
func TestLMTPInetd(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	logFile := filepath.Join(e.dir, "lmtp.log")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := exec.Command(ssa, "--inetd", "-a", "-l", address,
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf,
		e.bin, "deliver", "--lmtp", "--inetd", "--log-file", logFile, "--log-level", "debug")
	c.Env = e.environ()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
	}()
	var conn net.Conn
	var err error
	waitFor(t, "inetd listener", func() bool {
		conn, err = net.DialTimeout("tcp", address, time.Second)
		return err == nil
	})
	// Talk raw LMTP so that a stray log line on the socket would show.
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(conn)
	expectReply := func(prefix string) {
		t.Helper()
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading reply (want %s): %v", prefix, err)
			}
			if !strings.HasPrefix(line, prefix[:3]) {
				t.Fatalf("reply %q, want %s", line, prefix)
			}
			if len(line) < 4 || line[3] != '-' {
				return
			}
		}
	}
	send := func(s string) { fmt.Fprintf(conn, "%s\r\n", s) }
	expectReply("220")
	send("LHLO client.example.test")
	expectReply("250")
	send("MAIL FROM:<alice@remote.example>")
	expectReply("250")
	send("RCPT TO:<bob@example.test>")
	expectReply("250")
	send("DATA")
	expectReply("354")
	fmt.Fprint(conn, strings.ReplaceAll(testMessage, "\n", "\r\n")+".\r\n")
	expectReply("250")
	send("QUIT")
	expectReply("221")
	conn.Close()
	waitFor(t, "delivery", func() bool { return len(e.newFiles("bob@example.test")) == 1 })
	if b, _ := os.ReadFile(logFile); !strings.Contains(string(b), "delivered") {
		t.Errorf("log file lacks the delivery:\n%s", b)
	}
}

// TestArgv0Dispatch runs the binary through a symlink named "deliver".
func TestArgv0Dispatch(t *testing.T) {
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	link := filepath.Join(e.dir, "deliver")
	if err := os.Symlink(e.bin, link); err != nil {
		t.Fatal(err)
	}
	c := exec.Command(link, "bob@example.test")
	c.Env = e.environ()
	c.Stdin = strings.NewReader(testMessage)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("deliver via symlink: %v\n%s", err, out)
	}
	if n := len(e.newFiles("bob@example.test")); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// TestDaemonRefusesWorldReadableUsers: the users file holds password
// hashes; a daemon will not serve with one anybody can read.
func TestDaemonRefusesWorldReadableUsers(t *testing.T) {
	e := newTestEnv(t, "")
	e.addUser("bob@example.test")
	if err := os.Chmod(filepath.Join(e.dir, "users"), 0o644); err != nil {
		t.Fatal(err)
	}
	errs := e.expect(exitNoPerm, "", "deliver", "--lmtp", "--listen", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	if !strings.Contains(errs, "chmod o-rwx") {
		t.Errorf("error does not say how to fix it: %s", errs)
	}
}
