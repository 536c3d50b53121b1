package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
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

	"mailctl/lib/listen"
	"mailctl/lib/testenv"
)

const pop3Password = "a password long enough" // what e.addUser sets

// pop3Env is a test installation with a certificate, clear-text logins
// allowed from loopback, and bob as a user.
func newPOP3Env(t *testing.T, extra string) (*testEnv, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := listen.GenerateSelfSigned(cert, key, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, fmt.Sprintf("[tls]\ncert = %q\nkey = %q\n[auth]\nplaintext_loopback = true\n%s", cert, key, extra))
	e.addUser("bob@example.test")
	pem, _ := os.ReadFile(cert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return e, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// startPOP3D runs `mailctl pop3d ARGS` until the test ends.
func startPOP3D(t *testing.T, e *testEnv, args ...string) *strings.Builder {
	t.Helper()
	c := e.command("", append([]string{"pop3d"}, args...)...)
	var stderr strings.Builder
	c.Stderr = &syncWriter{w: &stderr}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("pop3d after SIGTERM: %v", err)
		}
		if t.Failed() {
			t.Logf("pop3d stderr:\n%s", stderr.String())
		}
	})
	return &stderr
}

type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

type pop3Client struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialPOP3(t *testing.T, address string, tlsCfg *tls.Config) *pop3Client {
	t.Helper()
	var conn net.Conn
	var err error
	waitFor(t, "POP3 listener at "+address, func() bool {
		if tlsCfg != nil {
			conn, err = tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", address, tlsCfg)
		} else {
			conn, err = net.DialTimeout("tcp", address, time.Second)
		}
		return err == nil
	})
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	c := &pop3Client{t: t, conn: conn, r: bufio.NewReader(conn)}
	if g := c.line(); !strings.HasPrefix(g, "+OK") {
		t.Fatalf("greeting %q", g)
	}
	return c
}

func (c *pop3Client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("POP3 reply: %v (%q)", err, l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *pop3Client) cmd(format string, a ...any) string {
	c.t.Helper()
	fmt.Fprintf(c.conn, format+"\r\n", a...)
	return c.line()
}

func (c *pop3Client) ok(format string, a ...any) string {
	c.t.Helper()
	r := c.cmd(format, a...)
	if !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("%q: %q", fmt.Sprintf(format, a...), r)
	}
	return r
}

func (c *pop3Client) multi() []string {
	c.t.Helper()
	var lines []string
	for {
		l := c.line()
		if l == "." {
			return lines
		}
		lines = append(lines, strings.TrimPrefix(l, "."))
	}
}

func (c *pop3Client) login(user string) {
	c.t.Helper()
	c.ok("USER %s", user)
	c.ok("PASS %s", pop3Password)
}

// deliverTo runs `mailctl deliver` (a process of its own).
func deliverTo(t *testing.T, e *testEnv, rcpt, subject string) {
	t.Helper()
	msg := "From: alice@remote.example\nTo: " + rcpt + "\nSubject: " + subject + "\n\nbody\n"
	if out, err := e.command(msg, "deliver", rcpt).CombinedOutput(); err != nil {
		t.Errorf("deliver: %v\n%s", err, out)
	}
}

// mailKeys lists the Maildir keys in bob's INBOX.
func mailKeys(t *testing.T, e *testEnv, address string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(e.maildir(address), sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, de := range ents {
			k, _, _ := strings.Cut(de.Name(), ":")
			out[k] = filepath.Join(sub, de.Name())
		}
	}
	return out
}

// TestPOP3DInUseAcrossProcesses: two pop3d processes on one store; the
// second session on the same maildrop gets [IN-USE] until the first quits.
func TestPOP3DInUseAcrossProcesses(t *testing.T) {
	e, _ := newPOP3Env(t, "")
	a1 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a2 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startPOP3D(t, e, "--listen", a1)
	startPOP3D(t, e, "--listen", a2)
	c1 := dialPOP3(t, a1, nil)
	c1.login("bob@example.test")
	c2 := dialPOP3(t, a2, nil)
	c2.ok("USER bob@example.test")
	if r := c2.cmd("PASS %s", pop3Password); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Fatalf("second process: %q", r)
	}
	c1.ok("QUIT")
	c2.login("bob@example.test")
	c2.ok("QUIT")
}

// TestPOP3DDeleteWhileDelivering: DELE + QUIT while other processes
// deliver and while IMAP renames a message for new flags: the messages
// deleted go, the others stay.
func TestPOP3DDeleteWhileDelivering(t *testing.T) {
	e, _ := newPOP3Env(t, "")
	for i := range 4 {
		deliverTo(t, e, "bob@example.test", fmt.Sprintf("before %d", i))
	}
	before := mailKeys(t, e, "bob@example.test")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startPOP3D(t, e, "--listen", address)
	c := dialPOP3(t, address, nil)
	c.login("bob@example.test")
	c.ok("UIDL")
	if n := len(c.multi()); n != 4 {
		t.Fatalf("UIDL lists %d messages, want 4", n)
	}

	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deliverTo(t, e, "bob@example.test", fmt.Sprintf("during %d", i))
		}()
	}
	// Meanwhile IMAP flags one message \Seen: the file is renamed (and
	// moved from new/ to cur/), as another process would.
	var renamed string
	for k, name := range before {
		dst := filepath.Join(e.maildir("bob@example.test"), "cur", k+":2,S")
		if err := os.Rename(filepath.Join(e.maildir("bob@example.test"), name), dst); err != nil {
			t.Fatal(err)
		}
		renamed = k
		break
	}
	for i := 1; i <= 4; i++ {
		c.ok("DELE %d", i)
	}
	wg.Wait()
	c.ok("QUIT")

	after := mailKeys(t, e, "bob@example.test")
	for k := range before {
		if after[k] != "" {
			t.Errorf("deleted message %s survived (renamed by IMAP: %v)", k, k == renamed)
		}
	}
	if len(after) != 6 {
		t.Errorf("%d messages left, want the 6 delivered during the session: %v", len(after), after)
	}
}

// TestPOP3DInetd serves one connection on stdin/stdout under the real
// systemd-socket-activate --inetd, in clear text and with implicit TLS;
// logs go to the log file, not the socket.
func TestPOP3DInetd(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	for _, implicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", implicit), func(t *testing.T) {
			e, clientTLS := newPOP3Env(t, "")
			deliverTo(t, e, "bob@example.test", "hello inetd")
			logFile := filepath.Join(e.dir, "pop3d.log")
			address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			flag := "--inetd"
			if !implicit {
				clientTLS = nil
			} else {
				flag = "--inetd-tls"
			}
			c := exec.Command(ssa, "--inetd", "-a", "-l", address,
				"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf,
				e.bin, "pop3d", flag, "--log-file", logFile, "--log-level", "debug")
			c.Env = e.environ()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				c.Process.Signal(syscall.SIGTERM)
				c.Wait()
			}()
			cl := dialPOP3(t, address, clientTLS)
			cl.login("bob@example.test")
			cl.ok("RETR 1")
			body := strings.Join(cl.multi(), "\n")
			if !strings.Contains(body, "Subject: hello inetd") {
				t.Errorf("RETR 1:\n%s", body)
			}
			cl.ok("DELE 1")
			cl.ok("QUIT")
			if _, err := cl.r.ReadByte(); err == nil {
				t.Error("connection still open after QUIT")
			}
			waitFor(t, "the deletion", func() bool { return len(mailKeys(t, e, "bob@example.test")) == 0 })
			waitFor(t, "the log", func() bool {
				b, _ := os.ReadFile(logFile)
				return strings.Contains(string(b), "pop3: logout")
			})
			b, _ := os.ReadFile(logFile)
			if strings.Contains(string(b), pop3Password) {
				t.Errorf("password in the log:\n%s", b)
			}
			if !strings.Contains(string(b), "tls="+fmt.Sprint(implicit)) {
				t.Errorf("login not logged with tls=%v:\n%s", implicit, b)
			}
		})
	}
}

// TestPOP3DSystemdSockets: named sockets from systemd, "pop3" (STLS) and
// "pop3s" (implicit TLS), both served.
func TestPOP3DSystemdSockets(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e, clientTLS := newPOP3Env(t, "")
	deliverTo(t, e, "bob@example.test", "hello systemd")
	plain := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	implicit := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := exec.Command(ssa, "-l", plain, "-l", implicit, "--fdname=pop3:pop3s",
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf,
		e.bin, "pop3d")
	c.Env = e.environ()
	var stderr strings.Builder
	c.Stderr = &syncWriter{w: &stderr}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	}()
	cl := dialPOP3(t, plain, nil)
	cl.ok("STLS")
	tc := tls.Client(cl.conn, clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	cl.conn, cl.r = tc, bufio.NewReader(tc)
	cl.login("bob@example.test")
	if r := cl.ok("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Errorf("STAT over STLS: %q", r)
	}
	cl.ok("QUIT")

	cl = dialPOP3(t, implicit, clientTLS)
	cl.login("bob@example.test")
	cl.ok("CAPA")
	if caps := strings.Join(cl.multi(), " "); strings.Contains(caps, "STLS") {
		t.Errorf("CAPA on the implicit-TLS socket offers STLS: %s", caps)
	}
	cl.ok("QUIT")
}

// TestServeRunsPOP3D: `mailctl serve` starts pop3d with the others.
func TestServeRunsPOP3D(t *testing.T) {
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tlsAddress := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e, clientTLS := newPOP3Env(t, fmt.Sprintf(`[modules]
smtpd = false
submitd = false
imapd = false
queue = false
lmtp = false
pop3d = true
[pop3d]
listen = [%q]
listen_tls = [%q]
`, address, tlsAddress))
	deliverTo(t, e, "bob@example.test", "hello serve")
	c := e.command("", "serve")
	var stderr strings.Builder
	c.Stderr = &syncWriter{w: &stderr}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("serve after SIGTERM: %v\n%s", err, stderr.String())
		}
	}()
	cl := dialPOP3(t, tlsAddress, clientTLS)
	cl.login("bob@example.test")
	if r := cl.ok("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Errorf("STAT: %q", r)
	}
	cl.ok("QUIT")
	cl = dialPOP3(t, address, nil)
	cl.login("bob@example.test")
	cl.ok("QUIT")
}

// TestPOP3DServiceRefused: a user added without pop3 is refused, and told
// why only after the right password.
func TestPOP3DServiceRefused(t *testing.T) {
	e, _ := newPOP3Env(t, "")
	e.must(pop3Password+"\n", "useradd", "carol@example.test", "--services", "imap", "--password-stdin")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startPOP3D(t, e, "--listen", address)
	c := dialPOP3(t, address, nil)
	c.ok("USER carol@example.test")
	if r := c.cmd("PASS not the password"); !strings.HasPrefix(r, "-ERR [AUTH]") || strings.Contains(r, "POP3") {
		t.Errorf("wrong password: %q", r)
	}
	c.ok("USER carol@example.test")
	if r := c.cmd("PASS %s", pop3Password); !strings.HasPrefix(r, "-ERR [SYS/PERM] POP3 access is not enabled") {
		t.Errorf("right password, no pop3 service: %q", r)
	}
	c.login("bob@example.test") // the same connection may still log in as someone allowed
}
