package smtpd

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/aliases"
	"mailctl/lib/auth"
	"mailctl/lib/deliver"
	"mailctl/lib/listen"
	"mailctl/lib/maildir"
	"mailctl/lib/passwd"
	"mailctl/lib/spool"
	"mailctl/lib/testenv"
	"mailctl/lib/userdb"
)

const testPassword = "correct horse battery"

// testEnv is a server with its own users, aliases, Maildirs and a queue
// that remembers what it was given.
type testEnv struct {
	t         testing.TB
	dir       string
	users     string
	aliases   string
	store     *maildir.Store
	dl        *deliver.Deliverer
	queue     *memQueue
	forwarded *forwardLog
	srv       *Server
	addr      string
	clientTLS *tls.Config
	logs      *testenv.Buffer
}

// newEnv starts a server on 127.0.0.1 with bob@example.test (password
// testPassword, services submit) and the aliases postmaster@ and
// abuse@example.test → bob. mutate adjusts the options before New.
func newEnv(t testing.TB, mode Mode, mutate func(*Options)) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{t: t, dir: dir, users: filepath.Join(dir, "users"), aliases: filepath.Join(dir, "aliases"),
		queue: &memQueue{}, forwarded: &forwardLog{}, logs: &testenv.Buffer{}}
	store, err := maildir.Open(filepath.Join(dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	e.store = store
	e.addUser("bob@example.test", 0, false)
	e.addAlias("postmaster@example.test", "bob@example.test")
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	users := userdb.Open(e.users)
	e.dl = deliver.New(deliver.Options{
		Store: store, Users: users, Aliases: aliases.Open(e.aliases),
		LocalDomain: localDomain, TagSeparator: "+", Remote: e.forwarded.remote, Logger: logger,
	})
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := listen.GenerateSelfSigned(cert, key, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(cert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	e.clientTLS = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	au, err := auth.New(auth.Options{Users: users, StateDir: filepath.Join(dir, "auth"), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Mode: mode, Hostname: "mx.example.test", Deliverer: e.dl, Users: users, Store: store,
		LocalDomain: localDomain, Aliases: aliases.Open(e.aliases), TagSeparator: "+",
		Postmaster: addr.MustParse("postmaster@example.test"), Queue: e.queue,
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}}, Auth: au,
		Limits: Limits{MessageSize: 1 << 20, Recipients: 10, LineLength: 2000, MessagesPerConnection: 10,
			CommandTimeout: 10 * time.Second, SessionTimeout: time.Minute},
		Logger: logger,
	}
	if mutate != nil {
		mutate(&opts)
	}
	e.srv, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", e.logs.String())
		}
	})
	return e
}

func localDomain(d string) (bool, error) { return d == "example.test" || d == "other.test", nil }

func (e *testEnv) addUser(address string, quota int64, disabled bool) {
	e.t.Helper()
	hash, err := passwd.Hash(testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	a := addr.MustParse(address)
	u := userdb.User{Address: a, Hash: hash, Services: userdb.Services(0).With(userdb.Submit).With(userdb.IMAP), Quota: quota, Disabled: disabled}
	if err := userdb.Add(context.Background(), e.users, u); err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), a); err != nil {
		e.t.Fatal(err)
	}
}

func (e *testEnv) addAlias(key string, targets ...string) {
	e.t.Helper()
	var ts []addr.Address
	for _, s := range targets {
		ts = append(ts, addr.MustParse(s))
	}
	k := addr.Address{Domain: strings.TrimPrefix(key, "@")} // "@domain": the catch-all
	if !strings.HasPrefix(key, "@") {
		k = addr.MustParse(key)
	}
	if err := aliases.Add(context.Background(), e.aliases, k, ts); err != nil {
		e.t.Fatal(err)
	}
}

// inbox returns the messages in a user's new/ directory.
func (e *testEnv) inbox(address string) []string {
	e.t.Helper()
	return e.folder(address, "new")
}

// junk reads the messages in a user's Junk folder (Maildir++ ".Junk").
func (e *testEnv) junk(address string) []string {
	e.t.Helper()
	return e.folder(address, ".Junk/new")
}

func (e *testEnv) folder(address, sub string) []string {
	e.t.Helper()
	a := addr.MustParse(address)
	dir := filepath.Join(e.dir, "mail", a.Domain, a.Local, sub)
	ents, err := os.ReadDir(dir)
	if err != nil && !(os.IsNotExist(err) && sub != "new") {
		e.t.Fatal(err)
	}
	var out []string
	for _, de := range ents {
		b, err := os.ReadFile(filepath.Join(dir, de.Name()))
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, string(b))
	}
	return out
}

// memQueue is a Queue in memory.
type memQueue struct {
	mu   sync.Mutex
	envs []spool.Envelope
	msgs [][]byte
	fail error
}

func (q *memQueue) Enqueue(_ context.Context, env spool.Envelope, r io.Reader) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return "", q.fail
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return "", err
	}
	q.envs = append(q.envs, env)
	q.msgs = append(q.msgs, b)
	return fmt.Sprintf("q%d", len(q.envs)), nil
}

func (q *memQueue) entries() ([]spool.Envelope, [][]byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]spool.Envelope(nil), q.envs...), append([][]byte(nil), q.msgs...)
}

// forwardLog records deliver's Remote calls (remote alias targets).
type forwardLog struct {
	mu    sync.Mutex
	calls [][]addr.Address
}

func (f *forwardLog) remote(_ context.Context, _ addr.Address, rcpts []addr.Address, _ []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, rcpts)
	return nil
}

func (f *forwardLog) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// client speaks SMTP by hand, so tests can send exactly the bytes they
// mean (bare LFs included).
type client struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func (e *testEnv) dial() *client {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.addr, 5*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	cl := &client{t: e.t, c: c, r: bufio.NewReader(c)}
	e.t.Cleanup(func() { c.Close() })
	cl.expect("220")
	return cl
}

// reply reads one (possibly multi-line) reply.
func (c *client) reply() (string, error) {
	var lines []string
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			return strings.Join(lines, "\n"), err
		}
		line = strings.TrimRight(line, "\r\n")
		lines = append(lines, line)
		if len(line) < 4 || line[3] != '-' {
			return strings.Join(lines, "\n"), nil
		}
	}
}

// expect reads a reply and checks that its last line starts with want
// ("250", "550 5.1.1").
func (c *client) expect(want string) string {
	c.t.Helper()
	r, err := c.reply()
	if err != nil {
		c.t.Fatalf("reading reply (want %s): %v (got %q)", want, err, r)
	}
	last := r[strings.LastIndex(r, "\n")+1:]
	if !strings.HasPrefix(last, want) {
		c.t.Fatalf("reply %q, want %s", r, want)
	}
	return r
}

func (c *client) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, s); err != nil {
		c.t.Fatal(err)
	}
}

// cmd sends one command line and checks the reply.
func (c *client) cmd(line, want string) string {
	c.t.Helper()
	c.send(line + "\r\n")
	return c.expect(want)
}

// closed reports whether the server closed the connection (reads EOF).
func (c *client) closed() bool {
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.r.ReadByte()
	return err != nil
}

func (c *client) startTLS(cfg *tls.Config) {
	c.t.Helper()
	c.cmd("STARTTLS", "220")
	c.handshake(cfg)
}

func (c *client) handshake(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.c, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.c, c.r = tc, bufio.NewReader(tc)
}

// msg turns "\n" into CRLF.
func msg(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

const simpleMessage = "From: alice@remote.test\nTo: bob@example.test\nSubject: hello\n\nHi Bob.\n"

// sendMessage runs one whole transaction and checks the final reply.
func (c *client) sendMessage(from string, to []string, body, want string) string {
	c.t.Helper()
	c.cmd("MAIL FROM:<"+from+">", "250")
	for _, r := range to {
		c.cmd("RCPT TO:<"+r+">", "250")
	}
	c.cmd("DATA", "354")
	c.send(msg(body) + ".\r\n")
	return c.expect(want)
}

func itoa(n int) string { return strconv.Itoa(n) }
