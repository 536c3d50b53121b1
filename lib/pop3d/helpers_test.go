package pop3d

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/auth"
	"mailctl/lib/listen"
	"mailctl/lib/maildir"
	"mailctl/lib/passwd"
	"mailctl/lib/testenv"
	"mailctl/lib/userdb"
)

const (
	testPassword = "correct horse battery"
	bob          = "bob@example.test"
	imapOnly     = "carol@example.test" // imap only: refused by POP3
	disabled     = "dave@example.test"  // pop3, but disabled
)

var (
	hashOnce sync.Once
	hash     string
)

func testHash(t testing.TB) string {
	hashOnce.Do(func() {
		var err error
		if hash, err = passwd.Hash(testPassword); err != nil {
			t.Fatal(err)
		}
	})
	return hash
}

// testServer is a POP3 server on loopback over a temporary store, with a
// plain (STLS) and an implicit-TLS listener.
type testServer struct {
	t         testing.TB
	dir       string
	store     *maildir.Store
	srv       *Server
	addr      string
	tlsAddr   string
	certFile  string
	clientTLS *tls.Config
	logs      *testenv.Buffer
}

func newTestServer(t testing.TB, mod func(*Options)) *testServer {
	t.Helper()
	dir := t.TempDir()
	ts := &testServer{t: t, dir: dir, logs: &testenv.Buffer{}}
	ctx, cancel := context.WithCancel(context.Background())

	usersFile := filepath.Join(dir, "users")
	h := testHash(t)
	for _, u := range []struct {
		a        string
		services userdb.Services
		disabled bool
	}{
		{bob, userdb.Services(0).With(userdb.POP3).With(userdb.IMAP), false},
		{imapOnly, userdb.Services(0).With(userdb.IMAP), false},
		{disabled, userdb.Services(0).With(userdb.POP3), true},
	} {
		a, _ := addr.Parse(u.a)
		if err := userdb.Add(ctx, usersFile, userdb.User{Address: a, Hash: h, Services: u.services, Disabled: u.disabled}); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	ts.store, err = maildir.Open(filepath.Join(dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := addr.Parse(bob)
	if err := ts.store.CreateUser(ctx, a); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(ts.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	au, err := auth.New(auth.Options{Users: userdb.Open(usersFile), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}

	ts.certFile = filepath.Join(dir, "cert.pem")
	keyFile := filepath.Join(dir, "key.pem")
	if err := listen.GenerateSelfSigned(ts.certFile, keyFile, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(ts.certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}}
	pem, _ := os.ReadFile(ts.certFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ts.clientTLS = &tls.Config{RootCAs: pool, ServerName: "localhost"}

	opts := Options{
		Hostname: "mx.example.test", Store: ts.store, Auth: au, TLS: serverTLS,
		InsecureAuthLoopback: true, LockWait: 100 * time.Millisecond, Logger: logger,
	}
	if mod != nil {
		mod(&opts)
	}
	if ts.srv, err = New(opts); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr, ts.tlsAddr = l.Addr().String(), tl.Addr().String()
	var wg sync.WaitGroup
	for _, ln := range []net.Listener{l, tls.NewListener(tl, serverTLS)} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ts.srv.Serve(ctx, ln); err != nil {
				t.Errorf("Serve: %v", err)
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		ts.store.Close()
		if t.Failed() {
			t.Logf("server log:\n%s", ts.logs.String())
		}
	})
	return ts
}

// user opens bob's Maildir (or another user's).
func (ts *testServer) user(address string) *maildir.User {
	ts.t.Helper()
	a, _ := addr.Parse(address)
	u, err := ts.store.User(a)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { u.Close() })
	return u
}

// deliver stores a message for bob and returns its key.
func (ts *testServer) deliver(msg string) string {
	ts.t.Helper()
	key, err := ts.user(bob).Deliver(context.Background(), strings.NewReader(msg), maildir.DeliverOptions{})
	if err != nil {
		ts.t.Fatal(err)
	}
	return key
}

// keys lists the Maildir keys of bob's INBOX on disk.
func (ts *testServer) keys() map[string]string {
	ts.t.Helper()
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(ts.dir, "mail", "example.test", "bob", sub))
		if err != nil {
			ts.t.Fatal(err)
		}
		for _, e := range ents {
			k, _, _ := strings.Cut(e.Name(), ":")
			out[k] = sub + "/" + e.Name()
		}
	}
	return out
}

// client is a raw POP3 client.
type client struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func (ts *testServer) dial() *client {
	ts.t.Helper()
	conn, err := net.DialTimeout("tcp", ts.addr, 5*time.Second)
	if err != nil {
		ts.t.Fatal(err)
	}
	return ts.newClient(conn)
}

func (ts *testServer) dialTLS() *client {
	ts.t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ts.tlsAddr, ts.clientTLS)
	if err != nil {
		ts.t.Fatal(err)
	}
	return ts.newClient(conn)
}

func (ts *testServer) newClient(conn net.Conn) *client {
	c := &client{t: ts.t, conn: conn, r: bufio.NewReader(conn)}
	ts.t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	if g := c.line(); !strings.HasPrefix(g, "+OK") {
		ts.t.Fatalf("greeting %q", g)
	}
	return c
}

// line reads one reply line without CRLF.
func (c *client) line() string {
	c.t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read reply: %v (got %q)", err, l)
	}
	if !strings.HasSuffix(l, "\r\n") {
		c.t.Fatalf("reply %q does not end in CRLF", l)
	}
	return strings.TrimSuffix(l, "\r\n")
}

func (c *client) send(format string, a ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.conn, format+"\r\n", a...); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends a command and returns the first reply line.
func (c *client) cmd(format string, a ...any) string {
	c.t.Helper()
	c.send(format, a...)
	return c.line()
}

// ok sends a command and fails unless the reply is +OK.
func (c *client) ok(format string, a ...any) string {
	c.t.Helper()
	r := c.cmd(format, a...)
	if !strings.HasPrefix(r, "+OK") {
		c.t.Fatalf("%s: %q, want +OK", strings.SplitN(fmt.Sprintf(format, a...), " ", 2)[0], r)
	}
	return r
}

// multi reads the body of a multi-line reply, undoing dot-stuffing, as
// raw bytes with CRLF line ends.
func (c *client) multi() string {
	c.t.Helper()
	var b strings.Builder
	for {
		l, err := c.r.ReadString('\n')
		if err != nil {
			c.t.Fatalf("multi-line reply: %v", err)
		}
		if l == ".\r\n" {
			return b.String()
		}
		b.WriteString(strings.TrimPrefix(l, "."))
	}
}

func (c *client) login() {
	c.t.Helper()
	c.ok("USER %s", bob)
	c.ok("PASS %s", testPassword)
}
