package smtpd

import (
	"context"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/greylist"
)

// greylisted starts an MX whose greylist (delay 1s) keeps its state in
// dir; loopback says whether our loopback client is greylisted at all.
func greylisted(t *testing.T, dir string, loopback bool) *testEnv {
	t.Helper()
	g, err := greylist.New(greylist.Options{Dir: dir, Delay: time.Second, RetryWindow: time.Hour,
		SPFPass: func(_ context.Context, _ netip.Addr, _ string, s addr.Address) bool {
			return s.Domain == "spf-pass.test"
		}})
	if err != nil {
		t.Fatal(err)
	}
	return newEnv(t, MX, func(o *Options) { o.Greylist, o.greylistLoopback = g, loopback })
}

// TestGreylist: a new triplet gets 451 4.7.1, also from a second server
// on the same state (the state is on disk, not in memory); after the
// delay both let it through, and the message is delivered. An unknown
// user is still 550, not 451; SPF passing lets a sender in at once.
func TestGreylist(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "greylist")
	a, b := greylisted(t, dir, true), greylisted(t, dir, true)

	ca := a.dial()
	ca.cmd("EHLO mx.remote.test", "250")
	ca.cmd("MAIL FROM:<alice@remote.test>", "250")
	if r := ca.cmd("RCPT TO:<bob@example.test>", "451 4.7.1"); !strings.Contains(r, "Greylisted") {
		t.Errorf("reply %q", r)
	}
	ca.cmd("RCPT TO:<nobody@example.test>", "550 5.1.1")
	ca.cmd("QUIT", "221")

	cb := b.dial()
	cb.cmd("EHLO mx.remote.test", "250")
	cb.cmd("MAIL FROM:<alice@remote.test>", "250")
	cb.cmd("RCPT TO:<bob@example.test>", "451 4.7.1") // too early, seen by the other server
	cb.cmd("RSET", "250")
	cb.sendMessage("someone@spf-pass.test", []string{"bob@example.test"}, simpleMessage, "250")

	time.Sleep(1100 * time.Millisecond)
	cb.sendMessage("alice@remote.test", []string{"bob@example.test"}, simpleMessage, "250")
	ca = a.dial()
	ca.cmd("EHLO mx.remote.test", "250")
	ca.sendMessage("alice@remote.test", []string{"bob@example.test"}, simpleMessage, "250")
	if n := len(a.inbox("bob@example.test")) + len(b.inbox("bob@example.test")); n != 3 {
		t.Errorf("%d messages delivered, want 3", n)
	}
	if !strings.Contains(a.logs.String(), "msg=greylisted") || !strings.Contains(b.logs.String(), "why=spf") {
		t.Errorf("logs lack the decisions:\n%s\n%s", a.logs.String(), b.logs.String())
	}
}

// TestGreylistExempt: loopback clients and submission are never delayed.
func TestGreylistExempt(t *testing.T) {
	e := greylisted(t, t.TempDir(), false)
	c := e.dial()
	c.cmd("EHLO mx.remote.test", "250")
	c.sendMessage("alice@remote.test", []string{"bob@example.test"}, simpleMessage, "250")

	g, err := greylist.New(greylist.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := newEnv(t, Submission, func(o *Options) { o.Greylist, o.greylistLoopback = g, true })
	c = loggedIn(t, s)
	c.sendMessage("bob@example.test", []string{"bob@example.test"}, "From: bob@example.test\nTo: bob@example.test\nSubject: x\n\nx\n", "250")
}
