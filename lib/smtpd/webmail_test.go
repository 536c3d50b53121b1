package smtpd

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailctl/lib/addr"
	"mailctl/lib/auth"
	"mailctl/lib/passwd"
	"mailctl/lib/proxyproto"
	"mailctl/lib/userdb"
)

// newWebmailEnv is a submission server with a lockout after three
// failures, a user web@example.test with the webmail service only, and a
// webmail listener on a unix socket, whose path it returns.
func newWebmailEnv(t *testing.T) (*testEnv, string) {
	t.Helper()
	e := newEnv(t, Submission, func(o *Options) {
		a, err := auth.New(auth.Options{Users: o.Users.(*userdb.DB), MaxFailures: 3, MaxUserDelay: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		o.Auth = a
	})
	hash, err := passwd.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	web := userdb.User{Address: addr.MustParse("web@example.test"), Hash: hash, Services: userdb.Services(0).With(userdb.Webmail)}
	if err := userdb.Add(context.Background(), e.users, web); err != nil {
		t.Fatal(err)
	}
	if err := e.store.CreateUser(context.Background(), web.Address); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(e.dir, "submission-webmail.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.ServeWebmail(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeWebmail: %v", err)
		}
	})
	return e, sock
}

// webmailSMTP connects through the webmail socket for a browser at
// client and says EHLO.
func webmailSMTP(t *testing.T, sock, client string) *smtp.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := dialProxy(ctx, sock, client)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("webmail.example.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	return c
}

func smtpCode(err error) int {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

func TestWebmailSubmission(t *testing.T) {
	e, sock := newWebmailEnv(t)
	c := webmailSMTP(t, sock, "192.0.2.20")
	if ok, _ := c.Extension("STARTTLS"); ok {
		t.Error("STARTTLS offered on the webmail socket")
	}
	if ok, mechs := c.Extension("AUTH"); !ok || !strings.Contains(mechs, "PLAIN") {
		t.Fatalf("AUTH not offered without TLS on the webmail socket: %q", mechs)
	}
	if err := c.Auth(sasl.NewPlainClient("", "web@example.test", testPassword)); err != nil {
		t.Fatalf("AUTH PLAIN: %v", err)
	}
	// The submission rules still hold: bob's address is not web's.
	if err := c.Mail("bob@example.test", nil); smtpCode(err) != 553 {
		t.Fatalf("MAIL FROM another user: %v, want 553", err)
	}
	msg := "From: web@example.test\r\nTo: bob@example.test\r\nSubject: from the browser\r\n\r\nhello\r\n"
	if err := c.SendMail("web@example.test", []string{"bob@example.test"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("sending: %v", err)
	}
	in := e.inbox("bob@example.test")
	if len(in) != 1 || !strings.Contains(in[0], "Subject: from the browser") {
		t.Fatalf("bob's inbox: %q", in)
	}
	if !strings.Contains(in[0], "Received: from webmail.example.test ([192.0.2.20] via webmail)") {
		t.Errorf("Received: header does not name the browser and webmail:\n%s", in[0])
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "remote=192.0.2.20") || !strings.Contains(logs, "peer=unix:") {
		t.Errorf("the log names neither the browser nor the socket:\n%s", logs)
	}
}

func TestWebmailSubmissionServices(t *testing.T) {
	e, sock := newWebmailEnv(t)
	// bob may submit, but not use webmail.
	c := webmailSMTP(t, sock, "192.0.2.21")
	err := c.Auth(sasl.NewPlainClient("", "bob@example.test", testPassword))
	if smtpCode(err) != 535 || !strings.Contains(err.Error(), "may not use webmail") {
		t.Fatalf("AUTH as a user without webmail: %v", err)
	}
	// web may use webmail, but not the submission port.
	n := e.dial()
	n.cmd("EHLO client.test", "250")
	n.startTLS(e.clientTLS)
	n.cmd("EHLO client.test", "250")
	n.cmd(plainAuth("web@example.test", testPassword), "535 5.7.8 This account may not send mail")
}

// A connection without a valid header is closed before the greeting.
func TestWebmailSubmissionWithoutHeader(t *testing.T) {
	_, sock := newWebmailEnv(t)
	for _, in := range []string{"EHLO client.test\r\n", "PROXY TCP4 192.0.2.1\r\n", ""} {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(15 * time.Second))
		io.WriteString(c, in)
		if in == "" {
			c.(*net.UnixConn).CloseWrite()
		}
		b, err := io.ReadAll(c)
		c.Close()
		if err != nil && !errors.Is(err, syscall.ECONNRESET) || len(b) != 0 {
			t.Errorf("after %q: read %q, %v; want the connection closed without a word", in, b, err)
		}
	}
}

// AUTH failures count against the browser's address: A is locked out,
// B and the submission port are not.
func TestWebmailSubmissionLockout(t *testing.T) {
	e, sock := newWebmailEnv(t)
	a := webmailSMTP(t, sock, "192.0.2.66")
	for range 3 {
		if err := a.Auth(sasl.NewPlainClient("", "web@example.test", "wrong")); smtpCode(err) != 535 {
			t.Fatalf("wrong password: %v", err)
		}
	}
	a2 := webmailSMTP(t, sock, "192.0.2.66")
	if err := a2.Auth(sasl.NewPlainClient("", "web@example.test", testPassword)); smtpCode(err) != 454 {
		t.Fatalf("right password from a locked-out browser: %v, want 454", err)
	}
	b := webmailSMTP(t, sock, "2001:db8::b")
	if err := b.Auth(sasl.NewPlainClient("", "web@example.test", testPassword)); err != nil {
		t.Fatalf("another browser: %v", err)
	}
	loggedIn(t, e) // bob from 127.0.0.1 on the submission port
}

// ServeWebmail is for submission only.
func TestWebmailNotOnMX(t *testing.T) {
	e := newEnv(t, MX, nil)
	l, err := net.Listen("unix", filepath.Join(e.dir, "mx.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := e.srv.ServeWebmail(context.Background(), l); err == nil {
		t.Fatal("ServeWebmail on an MX server: no error")
	}
}

func dialProxy(ctx context.Context, sock, client string) (net.Conn, error) {
	return proxyproto.Dial(ctx, "unix:"+sock, netip.MustParseAddr(client))
}
