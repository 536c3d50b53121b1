package smtpd

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"mailctl/lib/addr"
	"mailctl/lib/passwd"
	"mailctl/lib/userdb"
)

func plainAuth(user, pass string) string {
	return "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass))
}

// loggedIn returns a submission client after STARTTLS and AUTH as bob.
func loggedIn(t *testing.T, e *testEnv) *client {
	t.Helper()
	c := e.dial()
	ehlo := c.cmd("EHLO client.test", "250")
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("AUTH offered before TLS:\n%s", ehlo)
	}
	c.startTLS(e.clientTLS)
	ehlo = c.cmd("EHLO client.test", "250")
	if !strings.Contains(ehlo, "AUTH PLAIN LOGIN") {
		t.Errorf("AUTH not offered after TLS:\n%s", ehlo)
	}
	c.cmd(plainAuth("bob@example.test", testPassword), "235")
	return c
}

// TestSubmissionNeedsAuth: no MAIL without AUTH, no AUTH without TLS.
func TestSubmissionNeedsAuth(t *testing.T) {
	e := newEnv(t, Submission, nil)
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<bob@example.test>", "530 5.7.0") // a local sender forged from outside
	c.cmd(plainAuth("bob@example.test", testPassword), "538 5.7.11")
	c.startTLS(e.clientTLS)
	c.cmd("EHLO client.test", "250")
	c.cmd(plainAuth("bob@example.test", "wrong password"), "535 5.7.8")
	c.cmd(plainAuth("nobody@example.test", testPassword), "535 5.7.8")
	c.cmd("MAIL FROM:<bob@example.test>", "530 5.7.0")
	// LOGIN, step by step.
	c.cmd("AUTH LOGIN", "334 VXNlcm5hbWU6")
	c.cmd(base64.StdEncoding.EncodeToString([]byte("bob@example.test")), "334 UGFzc3dvcmQ6")
	c.cmd(base64.StdEncoding.EncodeToString([]byte(testPassword)), "235")
	c.cmd("MAIL FROM:<bob@example.test>", "250")
}

// TestSubmissionInsecureLoopback: with the option, AUTH works without TLS
// from loopback.
func TestSubmissionInsecureLoopback(t *testing.T) {
	e := newEnv(t, Submission, func(o *Options) { o.InsecureAuthLoopback = true })
	c := e.dial()
	if ehlo := c.cmd("EHLO client.test", "250"); !strings.Contains(ehlo, "AUTH PLAIN") {
		t.Errorf("AUTH not offered on loopback:\n%s", ehlo)
	}
	c.cmd(plainAuth("bob@example.test", testPassword), "235")
	c.sendMessage("bob@example.test", []string{"bob@example.test"}, "From: bob@example.test\nSubject: self\n\nx\n", "250")
}

// TestSubmissionSender: the envelope sender and From: must be the user's.
func TestSubmissionSender(t *testing.T) {
	e := newEnv(t, Submission, nil)
	e.addUser("carol@example.test", 0, false)
	e.addAlias("sales@example.test", "bob@example.test", "carol@example.test")
	e.addAlias("@example.test", "bob@example.test") // a catch-all is no licence
	c := loggedIn(t, e)
	for _, tt := range []struct{ from, want string }{
		{"carol@example.test", "553 5.7.1"},
		{"anything@example.test", "553 5.7.1"},
		{"alice@remote.test", "553 5.7.1"},
		{"", "553 5.7.1"},
		{"bob@example.test", "250"},
		{"Bob+news@example.test", "250"},
		{"sales@example.test", "250"},
	} {
		c.cmd("MAIL FROM:<"+tt.from+">", tt.want)
		c.cmd("RSET", "250")
	}
	for _, tt := range []struct{ from, want string }{
		{"Carol <carol@example.test>", "550 5.7.1"},
		{"bob@example.test, carol@example.test", "550 5.7.1"},
		{"=?utf-8?q?B=C3=B6b?= <bob@example.test>", "250"},
		{"Sales <sales@example.test>", "250"},
	} {
		c.sendMessage("bob@example.test", []string{"carol@example.test"}, "From: "+tt.from+"\nSubject: x\n\nbody\n", tt.want)
	}
	c.sendMessage("bob@example.test", []string{"carol@example.test"}, "Subject: no from\n\nbody\n", "550 5.6.0")
	if n := len(e.inbox("carol@example.test")); n != 2 {
		t.Errorf("carol has %d messages, want 2", n)
	}
}

// TestSubmissionDelivers: local recipients get the message at once with
// Date and Message-ID added; remote ones are queued with the user's own
// address as sender (no SRS).
func TestSubmissionDelivers(t *testing.T) {
	e := newEnv(t, Submission, nil)
	c := loggedIn(t, e)
	c.sendMessage("bob@example.test", []string{"bob@example.test", "alice@remote.test"}, "From: Bob <bob@example.test>\nTo: alice@remote.test\nSubject: hi\n\nhello\n", "250")
	got := e.inbox("bob@example.test")
	if len(got) != 1 {
		t.Fatalf("%d messages, want 1", len(got))
	}
	for _, want := range []string{"with ESMTPSA id", "\nDate: ", "\nMessage-ID: <", "@mx.example.test>\n"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("message lacks %q:\n%s", want, got[0])
		}
	}
	envs, msgs := e.queue.entries()
	if len(envs) != 1 {
		t.Fatalf("%d queued, want 1", len(envs))
	}
	q := envs[0]
	if q.From.String() != "bob@example.test" || q.AuthUser != "bob@example.test" || q.Origin != "submitd" ||
		len(q.Recipients) != 1 || q.Recipients[0].Local || q.Recipients[0].Address.String() != "alice@remote.test" {
		t.Errorf("queued envelope %+v", q)
	}
	if !strings.Contains(string(msgs[0]), "\r\nMessage-ID: <") {
		t.Errorf("queued message lacks the added Message-ID:\n%s", msgs[0])
	}
	// A message that has them keeps its own.
	c.sendMessage("bob@example.test", []string{"bob@example.test"}, "From: bob@example.test\nDate: Thu, 1 Jan 2026 00:00:00 +0000\nMessage-ID: <own@example.test>\nSubject: x\n\nx\n", "250")
	for _, m := range e.inbox("bob@example.test") {
		if strings.Contains(m, "<own@example.test>") && strings.Count(m, "Message-ID:") != 1 {
			t.Errorf("Message-ID added twice:\n%s", m)
		}
	}
}

// TestSendLimits: per-user messages and recipients per hour, shared
// through files.
func TestSendLimits(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, Submission, func(o *Options) {
		l, err := NewSendLimits(filepath.Join(dir, "limits"), 2, 3)
		if err != nil {
			t.Fatal(err)
		}
		o.SendLimits = l
	})
	c := loggedIn(t, e)
	body := "From: bob@example.test\nSubject: x\n\nx\n"
	c.sendMessage("bob@example.test", []string{"bob@example.test", "a@remote.test"}, body, "250")
	c.cmd("MAIL FROM:<bob@example.test>", "250")
	c.cmd("RCPT TO:<b@remote.test>", "250")
	c.cmd("RCPT TO:<c@remote.test>", "452 4.5.3") // 4 recipients this hour
	c.cmd("DATA", "354")
	c.send(msg(body) + ".\r\n")
	c.expect("250")
	c.cmd("MAIL FROM:<bob@example.test>", "450 4.7.1") // 3 messages this hour
	// Another connection (think: another inetd process) sees the same counts.
	c2 := loggedIn(t, e)
	c2.cmd("MAIL FROM:<bob@example.test>", "450 4.7.1")
}

// TestSubmissionServiceDenied: a user without the submit service is told
// so, but only after giving the right password.
func TestSubmissionServiceDenied(t *testing.T) {
	e := newEnv(t, Submission, nil)
	hash, err := passwd.Hash(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	u := userdb.User{Address: addr.MustParse("imaponly@example.test"), Hash: hash, Services: userdb.Services(0).With(userdb.IMAP)}
	if err := userdb.Add(context.Background(), e.users, u); err != nil {
		t.Fatal(err)
	}
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	c.startTLS(e.clientTLS)
	c.cmd("EHLO client.test", "250")
	c.cmd(plainAuth("imaponly@example.test", "wrong password"), "535 5.7.8 Authentication credentials invalid")
	c.cmd(plainAuth("imaponly@example.test", testPassword), "535 5.7.8 This account may not send mail")
}
