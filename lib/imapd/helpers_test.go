package imapd

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"mailctl/lib/addr"
	"mailctl/lib/auth"
	"mailctl/lib/listen"
	"mailctl/lib/maildir"
	"mailctl/lib/passwd"
	"mailctl/lib/testenv"
	"mailctl/lib/userdb"
)

const testPassword = "correct horse battery"

var (
	bob      = addr.MustParse("bob@example.org")
	pop      = addr.MustParse("pop@example.org")  // POP3 only
	tiny     = addr.MustParse("tiny@example.org") // a quota of 2,000 bytes
	hashOnce sync.Once
	testHash string
)

type testServer struct {
	t       testing.TB
	dir     string
	store   *maildir.Store
	srv     *Server
	addr    string // plain (STARTTLS) listener
	tlsAddr string // implicit TLS listener
	tls     *tls.Config
	logs    *testenv.Buffer
}

type serverOption func(*Options)

// authOption tunes the test's Authenticator.
type authOption func(*auth.Options)

// newTestServer runs a server on loopback with users bob (every service)
// and pop (POP3 only), both with testPassword, plaintext login allowed on
// loopback unless an option says otherwise.
func newTestServer(t testing.TB, opts ...any) *testServer {
	t.Helper()
	dir := t.TempDir()
	hashOnce.Do(func() {
		h, err := passwd.Hash(testPassword)
		if err != nil {
			panic(err)
		}
		testHash = h
	})
	usersPath := filepath.Join(dir, "users")
	f, err := os.OpenFile(usersPath, os.O_CREATE|os.O_WRONLY, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	err = userdb.Write(f, []userdb.User{
		{Address: bob, Hash: testHash, Services: userdb.AllServices},
		{Address: pop, Hash: testHash, Services: userdb.Services(0).With(userdb.POP3)},
		{Address: tiny, Hash: testHash, Services: userdb.AllServices, Quota: 2000},
	})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	store, err := maildir.Open(filepath.Join(dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "test.host"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	for _, a := range []addr.Address{bob, pop, tiny} {
		if err := store.CreateUser(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	ao := auth.Options{Users: userdb.Open(usersPath)}
	for _, opt := range opts {
		if fn, ok := opt.(authOption); ok {
			fn(&ao)
		}
	}
	a, err := auth.New(ao)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := listen.GenerateSelfSigned(certPath, keyPath, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	certs, err := listen.LoadCerts([]listen.CertPair{{Cert: certPath, Key: keyPath}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	logs := &testenv.Buffer{}
	o := Options{
		Store: store, Auth: a, Mechanisms: auth.Mechanisms, TLS: certs.TLSConfig(),
		LoopbackPlaintext: true,
		Logger:            slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, opt := range opts {
		switch fn := opt.(type) {
		case serverOption:
			fn(&o)
		case func(*Options):
			fn(&o)
		}
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{t: t, dir: dir, store: store, srv: srv, tls: certs.TLSConfig(), logs: logs}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, implicit := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if implicit {
			ts.tlsAddr = ln.Addr().String()
			ln = tls.NewListener(ln, certs.TLSConfig())
		} else {
			ts.addr = ln.Addr().String()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv.Serve(ctx, ln, implicit)
		}()
	}
	t.Cleanup(func() {
		cancel()
		srv.Close()
		wg.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})
	return ts
}

// user opens a user's Maildir through a Store of its own, as another
// process would.
func (ts *testServer) user(a addr.Address) *maildir.User {
	ts.t.Helper()
	s, err := maildir.Open(filepath.Join(ts.dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "other.host"})
	if err != nil {
		ts.t.Fatal(err)
	}
	u, err := s.User(a)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { u.Close(); s.Close() })
	return u
}

// deliver puts a message into a user's folder like the MDA does.
func (ts *testServer) deliver(a addr.Address, folder, msg string) {
	ts.t.Helper()
	u := ts.user(a)
	if _, err := u.Deliver(context.Background(), strings.NewReader(msg), maildir.DeliverOptions{Folder: folder}); err != nil {
		ts.t.Fatal(err)
	}
}

// client logs bob in over the plain listener.
func (ts *testServer) client(opts *imapclient.Options) *imapclient.Client {
	ts.t.Helper()
	c, err := imapclient.DialInsecure(ts.addr, opts)
	if err != nil {
		ts.t.Fatal(err)
	}
	ts.t.Cleanup(func() { c.Close() })
	if err := c.Login(bob.String(), testPassword).Wait(); err != nil {
		ts.t.Fatalf("LOGIN: %v", err)
	}
	return c
}

func testMessage(subject, body string) string {
	return "From: Alice <alice@example.net>\nTo: Bob <bob@example.org>\nSubject: " + subject +
		"\nDate: Mon, 02 Jan 2006 15:04:05 -0700\nMessage-ID: <" + strings.ReplaceAll(subject, " ", ".") + "@example.net>\n\n" + body + "\n"
}

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
