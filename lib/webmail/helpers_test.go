package webmail

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/auth"
	"mailctl/lib/imapd"
	"mailctl/lib/maildir"
	"mailctl/lib/passwd"
	"mailctl/lib/userdb"
)

const testPassword = "correct horse battery"

var (
	bob      = addr.MustParse("bob@example.org")
	hashOnce sync.Once
	testHash string
)

// testEnv is a real imapd on a loopback webmail listener (PROXY header
// first) with user bob, and a webmail Server in front of it.
type testEnv struct {
	t     testing.TB
	user  *maildir.User
	srv   *Server
	http  *httptest.Server
	clock *fakeClock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestEnv(t testing.TB) *testEnv {
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
	err = userdb.Write(f, []userdb.User{{Address: bob, Hash: testHash, Services: userdb.AllServices}})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	store, err := maildir.Open(filepath.Join(dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "test.host"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.CreateUser(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	u, err := store.User(bob)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Options{Users: userdb.Open(usersPath)})
	if err != nil {
		t.Fatal(err)
	}
	is, err := imapd.New(imapd.Options{Store: store, Auth: a, Mechanisms: auth.Mechanisms})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { is.ServeWebmail(ctx, ln); close(done) }()
	clock := &fakeClock{t: time.Now()}
	srv, err := New(Options{Hostname: "mx.example.org", IMAP: ln.Addr().String(), Submission: "127.0.0.1:1",
		SessionIdle: 10 * time.Minute, MaxSessions: 3, PageSize: 50, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		cancel()
		is.Close()
		<-done
	})
	return &testEnv{t: t, user: u, srv: srv, http: hs, clock: clock}
}

func (e *testEnv) deliver(subject, body string) {
	e.t.Helper()
	msg := fmt.Sprintf("From: Alice <alice@example.net>\nTo: bob@example.org\nSubject: %s\nDate: Thu, 26 Nov 2026 10:00:00 +0000\n\n%s\n", subject, body)
	if _, err := e.user.Deliver(context.Background(), strings.NewReader(msg), maildir.DeliverOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// client is a cookie-keeping HTTP client that does not follow redirects
// and remembers the last CSRF token it saw.
type client struct {
	t    testing.TB
	base string
	c    *http.Client
	csrf string
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (e *testEnv) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: e.t, base: e.http.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (c *client) do(req *http.Request) (*http.Response, string) {
	c.t.Helper()
	r, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, err := io.ReadAll(r.Body)
	r.Body.Close()
	if err != nil {
		c.t.Fatal(err)
	}
	if m := csrfRe.FindSubmatch(b); m != nil {
		c.csrf = string(m[1])
	}
	return r, string(b)
}

func (c *client) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", c.base+path, nil)
	return c.do(req)
}

func (c *client) post(path string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

func (c *client) login() {
	c.t.Helper()
	r, body := c.post("/login", url.Values{"email": {"bob@example.org"}, "password": {testPassword}})
	if r.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("login: %s\n%s", r.Status, body)
	}
}

func (st *sessionStore) drainCopy() []*session {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []*session
	for _, s := range st.m {
		out = append(out, s)
	}
	return out
}

func regexpValue(body, name string) string {
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

func regexpAttr(body, attr string) string {
	m := regexp.MustCompile(attr + `="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}
