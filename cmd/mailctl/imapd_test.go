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

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailctl/lib/listen"
	"mailctl/lib/testenv"
)

const imapPassword = "a password long enough" // what e.addUser sets

// newIMAPEnv is a test installation with a certificate, clear-text logins
// allowed from loopback, and bob as a user.
func newIMAPEnv(t *testing.T, extra string) (*testEnv, *tls.Config) {
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

// startIMAPD runs `mailctl imapd ARGS` until the test ends.
func startIMAPD(t *testing.T, e *testEnv, args ...string) {
	t.Helper()
	c := e.command("", append([]string{"imapd"}, args...)...)
	var stderr strings.Builder
	c.Stderr = &syncWriter{w: &stderr}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGTERM)
		if err := c.Wait(); err != nil {
			t.Errorf("imapd after SIGTERM: %v", err)
		}
		if t.Failed() {
			t.Logf("imapd stderr:\n%s", stderr.String())
		}
	})
}

// dialIMAP connects (waiting for the listener) and logs bob in.
func dialIMAP(t *testing.T, address string, tlsCfg *tls.Config, opts *imapclient.Options) *imapclient.Client {
	t.Helper()
	if opts == nil {
		opts = &imapclient.Options{}
	}
	opts.TLSConfig = tlsCfg
	var c *imapclient.Client
	var err error
	waitFor(t, "IMAP listener at "+address, func() bool {
		if tlsCfg != nil {
			c, err = imapclient.DialTLS(address, opts)
		} else {
			c, err = imapclient.DialInsecure(address, opts)
		}
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	if err := c.Login("bob@example.test", imapPassword).Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	return c
}

// TestIMAPDDeliverWhileIdle: a `mailctl deliver` process delivers while a
// client IDLEs on another process; the client is told.
func TestIMAPDDeliverWhileIdle(t *testing.T) {
	e, _ := newIMAPEnv(t, "")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startIMAPD(t, e, "--listen", address)
	exists := make(chan uint32, 16)
	c := dialIMAP(t, address, nil, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the server is in IDLE
	deliverTo(t, e, "bob@example.test", "while idle")
	select {
	case n := <-exists:
		if n != 1 {
			t.Errorf("EXISTS %d, want 1", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the IDLE client was not told about the delivery")
	}
	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "while idle" {
		t.Fatalf("FETCH after IDLE: %v %+v", err, msgs)
	}
}

// TestIMAPDProcessesAgreeOnUIDs: two imapd processes, each with a client
// on INBOX, while deliver processes add mail: every UID means the same
// message to both, and neither sees a UID change.
func TestIMAPDProcessesAgreeOnUIDs(t *testing.T) {
	e, _ := newIMAPEnv(t, "")
	a1 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	a2 := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startIMAPD(t, e, "--listen", a1)
	startIMAPD(t, e, "--listen", a2)
	clients := []*imapclient.Client{dialIMAP(t, a1, nil, nil), dialIMAP(t, a2, nil, nil)}
	for _, c := range clients {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 8
	seen := []map[uint32]string{{}, {}}
	var wg sync.WaitGroup
	for i := range rounds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deliverTo(t, e, "bob@example.test", fmt.Sprintf("message %d", i))
		}()
		for k, c := range clients {
			if err := c.Noop().Wait(); err != nil {
				t.Fatal(err)
			}
			msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if prev, ok := seen[k][uint32(m.UID)]; ok && prev != m.Envelope.Subject {
					t.Fatalf("process %d: UID %d was %q, now %q", k, m.UID, prev, m.Envelope.Subject)
				}
				seen[k][uint32(m.UID)] = m.Envelope.Subject
			}
		}
	}
	wg.Wait()
	for k, c := range clients {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != rounds {
			t.Fatalf("process %d sees %d messages, want %d", k, len(msgs), rounds)
		}
		for _, m := range msgs {
			seen[k][uint32(m.UID)] = m.Envelope.Subject
		}
	}
	for uid, subj := range seen[0] {
		if other, ok := seen[1][uid]; !ok || other != subj {
			t.Errorf("UID %d: %q in one process, %q in the other", uid, subj, other)
		}
	}
}

// TestIMAPDInetd serves one connection on stdin/stdout, in clear text and
// with implicit TLS; logs go to the log file, never to the socket.
func TestIMAPDInetd(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	for _, implicit := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", implicit), func(t *testing.T) {
			e, clientTLS := newIMAPEnv(t, "")
			deliverTo(t, e, "bob@example.test", "hello inetd")
			logFile := filepath.Join(e.dir, "imapd.log")
			address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			flag := "--inetd"
			if implicit {
				flag = "--inetd-tls"
			} else {
				clientTLS = nil
			}
			c := exec.Command(ssa, "--inetd", "-a", "-l", address,
				"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf,
				e.bin, "imapd", flag, "--log-file", logFile, "--log-level", "debug")
			c.Env = e.environ()
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				c.Process.Signal(syscall.SIGTERM)
				c.Wait()
			}()
			cl := dialIMAP(t, address, clientTLS, nil)
			if _, err := cl.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			msgs, err := cl.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
			if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "hello inetd" {
				t.Fatalf("FETCH: %v %+v", err, msgs)
			}
			if err := cl.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the log", func() bool {
				b, _ := os.ReadFile(logFile)
				return strings.Contains(string(b), "imapd: logout")
			})
			if b, _ := os.ReadFile(logFile); strings.Contains(string(b), imapPassword) {
				t.Errorf("password in the log:\n%s", b)
			}
		})
	}
}

// TestIMAPDSystemdSockets: named sockets "imap" (STARTTLS) and "imaps"
// (implicit TLS) from systemd.
func TestIMAPDSystemdSockets(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e, clientTLS := newIMAPEnv(t, "")
	plain := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	implicit := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := exec.Command(ssa, "-l", plain, "-l", implicit, "--fdname=imap:imaps",
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf,
		e.bin, "imapd")
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
	var conn net.Conn
	waitFor(t, "the plain socket", func() bool {
		var err error
		conn, err = net.DialTimeout("tcp", plain, time.Second)
		return err == nil
	})
	sc, err := imapclient.NewStartTLS(conn, &imapclient.Options{TLSConfig: clientTLS})
	if err != nil {
		t.Fatalf("STARTTLS: %v", err)
	}
	defer sc.Close()
	if err := sc.Login("bob@example.test", imapPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	ic := dialIMAP(t, implicit, clientTLS, nil)
	if ic.Caps().Has(imap.CapStartTLS) {
		t.Error("STARTTLS offered on the implicit-TLS socket")
	}
}

// TestServeRunsIMAPD: `mailctl serve` starts imapd with the others.
func TestServeRunsIMAPD(t *testing.T) {
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	tlsAddress := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e, clientTLS := newIMAPEnv(t, fmt.Sprintf(`[modules]
smtpd = false
submitd = false
pop3d = false
queue = false
lmtp = false
imapd = true
[imapd]
listen = [%q]
listen_tls = [%q]
webmail_listen = []
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
	for _, cfg := range []struct {
		addr string
		tls  *tls.Config
	}{{tlsAddress, clientTLS}, {address, nil}} {
		cl := dialIMAP(t, cfg.addr, cfg.tls, nil)
		st, err := cl.Status("INBOX", &imap.StatusOptions{NumMessages: true}).Wait()
		if err != nil || *st.NumMessages != 1 {
			t.Errorf("STATUS on %s: %v %+v", cfg.addr, err, st)
		}
	}
}

// TestIMAPDWhilePOP3Deletes: a POP3 session (pop3d, another process)
// deletes a message while an IMAP client has INBOX selected: the IMAP
// client is told (EXPUNGE) and the other messages keep their UIDs.
func TestIMAPDWhilePOP3Deletes(t *testing.T) {
	e, _ := newIMAPEnv(t, "")
	for i := range 3 {
		deliverTo(t, e, "bob@example.test", fmt.Sprintf("message %d", i))
	}
	imapAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	popAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startIMAPD(t, e, "--listen", imapAddr)
	pc := e.command("", "pop3d", "--listen", popAddr)
	if err := pc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		pc.Process.Signal(syscall.SIGTERM)
		pc.Wait()
	}()
	expunged := make(chan uint32, 4)
	c := dialIMAP(t, imapAddr, nil, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { expunged <- seq },
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	before, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}

	var conn net.Conn
	waitFor(t, "pop3d", func() bool {
		conn, err = net.DialTimeout("tcp", popAddr, time.Second)
		return err == nil
	})
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	pop := func(cmd string) string {
		if cmd != "" {
			fmt.Fprintf(conn, "%s\r\n", cmd)
		}
		l, err := r.ReadString('\n')
		if err != nil || !strings.HasPrefix(l, "+OK") {
			t.Fatalf("POP3 %q: %q %v", cmd, l, err)
		}
		return l
	}
	pop("")
	pop("USER bob@example.test")
	pop("PASS " + imapPassword)
	pop("DELE 2")
	pop("QUIT")

	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case seq := <-expunged:
		if seq != 2 {
			t.Errorf("EXPUNGE %d, want 2", seq)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the IMAP client was not told about the POP3 deletion")
	}
	after, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{UID: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 2 || after[0].UID != before[0].UID || after[1].UID != before[2].UID ||
		after[1].Envelope.Subject != before[2].Envelope.Subject {
		t.Errorf("after the deletion: %+v, before: %+v", after, before)
	}
}
