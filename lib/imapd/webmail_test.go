package imapd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailctl/lib/addr"
	"mailctl/lib/auth"
	"mailctl/lib/proxyproto"
	"mailctl/lib/userdb"
)

// web may use webmail and nothing else.
var web = addr.MustParse("web@example.org")

// newWebmailServer is newTestServer without plaintext logins on loopback,
// a user web (webmail only), a lockout after three failures, and a
// webmail listener on a unix socket, whose path it returns.
func newWebmailServer(t *testing.T) (*testServer, string) {
	t.Helper()
	ts := newTestServer(t, func(o *Options) { o.LoopbackPlaintext = false },
		authOption(func(ao *auth.Options) { ao.MaxFailures = 3; ao.MaxUserDelay = time.Nanosecond }))
	usersPath := filepath.Join(ts.dir, "users")
	f, err := os.OpenFile(usersPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = userdb.Write(f, []userdb.User{{Address: web, Hash: testHash, Services: userdb.Services(0).With(userdb.Webmail)}})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.store.CreateUser(context.Background(), web); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(ts.dir, "imap-webmail.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := ts.srv.ServeWebmail(ctx, ln); err != nil {
			t.Errorf("ServeWebmail: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() }) // before newTestServer's Close
	return ts, sock
}

// webmailClient connects through the webmail socket for a browser at
// client.
func webmailClient(t *testing.T, sock, client string) *imapclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var ip netip.Addr
	if client != "" {
		ip = netip.MustParseAddr(client)
	}
	conn, err := proxyproto.Dial(ctx, "unix:"+sock, ip)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(conn, nil)
	if err := c.WaitGreeting(); err != nil {
		t.Fatalf("greeting: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestWebmailLogin(t *testing.T) {
	ts, sock := newWebmailServer(t)
	tests := []struct {
		name, user string
		sasl       bool
		code       imap.ResponseCode
		text       string
	}{
		{"webmail-only user", web.String(), false, "", ""},
		{"webmail-only user, AUTHENTICATE PLAIN", web.String(), true, "", ""},
		{"user with every service", bob.String(), false, "", ""},
		{"POP-only user", pop.String(), false, imap.ResponseCodeAuthorizationFailed, "may not use webmail"},
		{"POP-only user, AUTHENTICATE PLAIN", pop.String(), true, imap.ResponseCodeAuthorizationFailed, "may not use webmail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := webmailClient(t, sock, "192.0.2.10")
			caps := c.Caps()
			if caps.Has(imap.CapLoginDisabled) || caps.Has(imap.CapStartTLS) || !caps.Has("AUTH=PLAIN") {
				t.Errorf("capabilities on the webmail socket: %v", caps)
			}
			var err error
			if tt.sasl {
				err = c.Authenticate(saslPlain("", tt.user, testPassword))
			} else {
				err = c.Login(tt.user, testPassword).Wait()
			}
			if tt.code == "" {
				if err != nil {
					t.Fatalf("login: %v", err)
				}
				if _, err := c.Select("INBOX", nil).Wait(); err != nil {
					t.Fatalf("SELECT: %v", err)
				}
				return
			}
			if imapCode(err) != tt.code || !strings.Contains(errString(err), tt.text) {
				t.Fatalf("login: %v, want [%s] %q", err, tt.code, tt.text)
			}
		})
	}
	logs := ts.logs.String()
	if !strings.Contains(logs, "remote=192.0.2.10") || !strings.Contains(logs, "peer=unix:") {
		t.Errorf("the log names neither the browser nor the socket:\n%s", logs)
	}
}

// The ordinary listener still wants the imap service.
func TestWebmailUserOnIMAPListener(t *testing.T) {
	ts, _ := newWebmailServer(t)
	c, err := imapclient.DialStartTLS(ts.addr, &imapclient.Options{TLSConfig: insecureTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Login(web.String(), testPassword).Wait()
	if imapCode(err) != imap.ResponseCodeAuthorizationFailed || !strings.Contains(errString(err), "may not use IMAP") {
		t.Fatalf("LOGIN of a webmail-only user on the IMAP port: %v", err)
	}
}

// A connection without a header is closed before a greeting; one that
// says nothing does not hold up the next.
func TestWebmailWithoutHeader(t *testing.T) {
	_, sock := newWebmailServer(t)
	silent, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()

	tests := []string{
		"A1 LOGIN web@example.org x\r\n",
		"PROXY TCP4 192.0.2.1 0.0.0.0 0\r\n",
		"PROXY TCP6 192.0.2.1 :: 0 0\r\n",
	}
	for _, in := range tests {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, in)
		b, err := io.ReadAll(c)
		c.Close()
		// Closed with unread input, the socket may say "reset".
		if err != nil && !errors.Is(err, syscall.ECONNRESET) || len(b) != 0 {
			t.Errorf("after %q: read %q, %v; want the connection closed without a word", in, b, err)
		}
	}
	// The silent one is still waiting for its header; others get in.
	c := webmailClient(t, sock, "192.0.2.11")
	if err := c.Login(web.String(), testPassword).Wait(); err != nil {
		t.Fatalf("LOGIN beside a silent connection: %v", err)
	}
}

// Failures count against the browser's address from the header: A is
// locked out, B and the IMAP port are not.
func TestWebmailLockoutPerBrowser(t *testing.T) {
	ts, sock := newWebmailServer(t)
	a := webmailClient(t, sock, "192.0.2.66")
	for range 3 {
		if err := a.Login(web.String(), "wrong").Wait(); imapCode(err) != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("wrong password: %v", err)
		}
	}
	a2 := webmailClient(t, sock, "192.0.2.66")
	err := a2.Login(web.String(), testPassword).Wait()
	if imapCode(err) != imap.ResponseCodeUnavailable || !strings.Contains(errString(err), "Too many failed logins") {
		t.Fatalf("right password from a locked-out browser: %v", err)
	}
	b := webmailClient(t, sock, "2001:db8::b")
	if err := b.Login(web.String(), testPassword).Wait(); err != nil {
		t.Fatalf("another browser: %v", err)
	}
	n, err := imapclient.DialStartTLS(ts.addr, &imapclient.Options{TLSConfig: insecureTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if err := n.Login(bob.String(), testPassword).Wait(); err != nil {
		t.Fatalf("LOGIN on the IMAP port from 127.0.0.1: %v", err)
	}
}
