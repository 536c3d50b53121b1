package smtpd

import (
	"context"
	"errors"
	"strings"
	"testing"

	"mailctl/lib/addr"
	"mailctl/lib/maildir"
	"mailctl/lib/srs"
)

// TestRelayRefused: nothing that is not for a local user leaves through
// the MX, however the address is dressed up.
func TestRelayRefused(t *testing.T) {
	e := newEnv(t, MX, nil)
	tests := []struct {
		name, from, rcpt, want string
	}{
		{"remote to remote", "alice@remote.test", "<carol@elsewhere.test>", "554 5.7.1"},
		{"forged local sender", "bob@example.test", "<carol@elsewhere.test>", "554 5.7.1"},
		{"percent hack", "alice@remote.test", "<carol%elsewhere.test@example.test>", "550 5.1.1"},
		{"source route", "alice@remote.test", "<@example.test,@relay.test:carol@elsewhere.test>", "554 5.7.1"},
		{"quoted local part", "alice@remote.test", `<"carol@elsewhere.test"@example.test>`, "550 5.1.1"},
		{"quoted, no domain", "alice@remote.test", `<"carol@elsewhere.test">`, "501"},
		{"bang path", "alice@remote.test", "<elsewhere.test!carol@example.test>", "550 5.1.1"},
		{"address literal", "alice@remote.test", "<carol@[127.0.0.1]>", "553 5.1.3"},
		{"trailing dot", "alice@remote.test", "<carol@elsewhere.test.>", "554 5.7.1"},
	}
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.cmd("MAIL FROM:<"+tt.from+">", "250")
			c.cmd("RCPT TO:"+tt.rcpt, tt.want)
			c.cmd("RSET", "250")
		})
	}
	c.t = t
	c.cmd("QUIT", "221")
	if envs, _ := e.queue.entries(); len(envs) > 0 || e.forwarded.count() > 0 {
		t.Errorf("something was queued: %+v", envs)
	}
}

// TestRecipients covers the RCPT replies and that accepted mail arrives.
func TestRecipients(t *testing.T) {
	e := newEnv(t, MX, nil)
	e.addUser("full@example.test", 10, false)
	e.addUser("off@example.test", 0, true)
	e.addUser("carol@other.test", 0, false) // other.test has no postmaster alias
	// Fill full@'s 10-byte quota.
	box, err := e.store.User(addr.MustParse("full@example.test"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := box.Deliver(context.Background(), strings.NewReader("Subject: x\r\n\r\n12345678901234567890\r\n"), maildir.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	box.Close()
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<alice@remote.test>", "250")
	for _, tt := range []struct{ rcpt, want string }{
		{"<nobody@example.test>", "550 5.1.1"},
		{"<full@example.test>", "452 4.2.2"},
		{"<off@example.test>", "550 5.2.1"},
		{"<bob@example.test>", "250"},
		{"<Bob+Lists@EXAMPLE.test>", "250"},
		{"<Postmaster>", "250"},
		{"<postmaster@other.test>", "250"},
		{"<carol@other.test>", "250"},
	} {
		c.cmd("RCPT TO:"+tt.rcpt, tt.want)
	}
	c.cmd("DATA", "354")
	c.send(msg(simpleMessage) + ".\r\n")
	c.expect("250 2.0.0 Ok: queued as ")
	c.cmd("QUIT", "221")
	// bob is reached directly, by subaddress and as postmaster (twice),
	// but gets one copy.
	if got := e.inbox("bob@example.test"); len(got) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(got))
	}
	if got := e.inbox("carol@other.test"); len(got) != 1 {
		t.Fatalf("carol has %d messages, want 1", len(got))
	}
}

// TestVRFYAndEXPNRevealNothing: the same answer for users and strangers.
func TestVRFYAndEXPNRevealNothing(t *testing.T) {
	e := newEnv(t, MX, nil)
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	a := c.cmd("VRFY bob@example.test", "252")
	b := c.cmd("VRFY nobody@example.test", "252")
	if a != b {
		t.Errorf("VRFY differs: %q vs %q", a, b)
	}
	c.cmd("EXPN postmaster@example.test", "502")
}

// TestNoAuthOnMX: port 25 neither offers nor accepts AUTH.
func TestNoAuthOnMX(t *testing.T) {
	e := newEnv(t, MX, nil)
	c := e.dial()
	ehlo := c.cmd("EHLO client.test", "250")
	for _, ext := range []string{"PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "SIZE 1048576", "STARTTLS", "CHUNKING"} {
		if !strings.Contains(ehlo, ext) {
			t.Errorf("EHLO lacks %s:\n%s", ext, ehlo)
		}
	}
	if strings.Contains(ehlo, "AUTH") {
		t.Errorf("EHLO offers AUTH on the MX:\n%s", ehlo)
	}
	c.cmd("AUTH PLAIN AGJvYkBleGFtcGxlLnRlc3QAY29ycmVjdCBob3JzZSBiYXR0ZXJ5", "5")
	c.startTLS(e.clientTLS)
	ehlo = c.cmd("EHLO client.test", "250")
	if strings.Contains(ehlo, "AUTH") || strings.Contains(ehlo, "STARTTLS") {
		t.Errorf("EHLO after TLS offers AUTH or STARTTLS:\n%s", ehlo)
	}
}

// TestSize: SIZE is checked at MAIL and while the data comes in.
func TestSize(t *testing.T) {
	e := newEnv(t, MX, nil)
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<alice@remote.test> SIZE=2000000", "552 5.3.4")
	c.cmd("MAIL FROM:<alice@remote.test> SIZE=1000", "250")
	c.cmd("RCPT TO:<bob@example.test>", "250")
	c.cmd("DATA", "354")
	line := strings.Repeat("x", 998) + "\r\n"
	c.send("Subject: big\r\n\r\n" + strings.Repeat(line, 1100) + ".\r\n")
	c.expect("552 5.3.4")
	// Still usable afterwards.
	c.sendMessage("alice@remote.test", []string{"bob@example.test"}, simpleMessage, "250")
	if n := len(e.inbox("bob@example.test")); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
}

// TestLoop: more than 100 Received: headers (ours counted) is a loop.
func TestLoop(t *testing.T) {
	e := newEnv(t, MX, nil)
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	hops := func(n int) string {
		return strings.Repeat("Received: from a by b; Thu, 1 Jan 2026 00:00:00 +0000\n", n)
	}
	c.sendMessage("alice@remote.test", []string{"bob@example.test"}, hops(100)+simpleMessage, "554 5.4.6")
	c.sendMessage("alice@remote.test", []string{"bob@example.test"}, hops(99)+simpleMessage, "250")
	if n := len(e.inbox("bob@example.test")); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
}

// TestReceivedHeader: our trace field comes first and tells the TLS state.
func TestReceivedHeader(t *testing.T) {
	e := newEnv(t, MX, nil)
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	c.sendMessage("alice@remote.test", []string{"bob@example.test"}, simpleMessage, "250")
	c.startTLS(e.clientTLS)
	c.cmd("MAIL FROM:<alice@remote.test>", "503 5.5.1") // EHLO again first (RFC 3207)
	c.cmd("EHLO tls-client.test", "250")
	c.sendMessage("alice@remote.test", []string{"bob@example.test", "postmaster@example.test"}, simpleMessage, "250")
	got := e.inbox("bob@example.test")
	if len(got) != 2 {
		t.Fatalf("%d messages, want 2", len(got))
	}
	var plain, tlsMsg string
	for _, m := range got {
		if strings.Contains(m, "ESMTPS") {
			tlsMsg = m
		} else {
			plain = m
		}
	}
	for _, want := range []string{"Received: from client.test ([127.0.0.1])\n\tby mx.example.test (mailctl) with ESMTP id ", "\n\tfor <bob@example.test>; "} {
		if !strings.Contains(plain, want) {
			t.Errorf("plain message lacks %q:\n%s", want, plain)
		}
	}
	for _, want := range []string{"Received: from tls-client.test ([127.0.0.1])", "with ESMTPS id ", "(using TLS 1.3 with cipher TLS_"} {
		if !strings.Contains(tlsMsg, want) {
			t.Errorf("TLS message lacks %q:\n%s", want, tlsMsg)
		}
	}
	if strings.Contains(tlsMsg, "\tfor <") {
		t.Errorf("two recipients, yet the header names one:\n%s", tlsMsg)
	}
	if !strings.HasPrefix(plain, "Return-Path: <alice@remote.test>\nDelivered-To: bob@example.test\nReceived: from") {
		t.Errorf("header order:\n%s", plain)
	}
}

// TestSTARTTLSInjection: commands pipelined after STARTTLS in clear text
// are thrown away (CVE-2011-0411), not run inside the TLS session.
func TestSTARTTLSInjection(t *testing.T) {
	e := newEnv(t, MX, nil)
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	c.send("STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\n")
	c.expect("220")
	if n := c.r.Buffered(); n != 0 {
		t.Fatalf("%d bytes after the 220 in clear text", n)
	}
	c.handshake(e.clientTLS)
	// Had the MAIL been kept, a second MAIL would be refused as nested,
	// and the reply to the injected one would be waiting here.
	c.cmd("EHLO client.test", "250")
	c.cmd("MAIL FROM:<alice@remote.test>", "250")
	c.cmd("RCPT TO:<bob@example.test>", "250")
	c.cmd("QUIT", "221")
}

// TestTemporaryFailureQueued: once RCPT said yes, a local failure after
// DATA is queued for retry and the client still gets 250.
func TestTemporaryFailureQueued(t *testing.T) {
	e := newEnv(t, MX, nil)
	e.addUser("small@example.test", 300, false) // room at RCPT, not for the message
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	c.sendMessage("alice@remote.test", []string{"small@example.test", "bob@example.test"}, simpleMessage+strings.Repeat("filler line\n", 50), "250")
	if n := len(e.inbox("bob@example.test")); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
	envs, msgs := e.queue.entries()
	if len(envs) != 1 || len(envs[0].Recipients) != 1 || !envs[0].Recipients[0].Local ||
		envs[0].Recipients[0].Address.String() != "small@example.test" || envs[0].Origin != "smtpd" {
		t.Fatalf("queued %+v, want small@ as a local retry", envs)
	}
	if !strings.HasPrefix(string(msgs[0]), "Received: from client.test") {
		t.Errorf("queued message lacks our Received: header:\n%.200s", msgs[0])
	}
	// With no queue to hold it, the sender must keep the message.
	e.queue.mu.Lock()
	e.queue.fail = errors.New("disk full")
	e.queue.mu.Unlock()
	c.sendMessage("alice@remote.test", []string{"small@example.test"}, simpleMessage+strings.Repeat("filler line\n", 50), "451 4.3.0")
}

type verdictScanner struct{ v Verdict }

func (s verdictScanner) Scan(context.Context, Envelope, []byte) (Verdict, error) { return s.v, nil }

// TestSpamNotForwarded: a spam verdict reaches local mailboxes only; the
// remote target of an alias never gets it.
func TestSpamNotForwarded(t *testing.T) {
	for _, tt := range []struct {
		name      string
		v         Verdict
		want      string
		local     int
		forwarded int
	}{
		{"accept", Verdict{}, "250", 1, 1},
		{"spam", Verdict{Action: Spam, Headers: []string{"X-Spam: yes", "Bad\r\nInjected: x"}}, "250", 1, 0},
		{"reject", Verdict{Action: Reject, Reason: "Virus found"}, "550 5.7.1 Virus found", 0, 0},
		{"tempfail", Verdict{Action: TempFail}, "451 4.7.1", 0, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, MX, func(o *Options) { o.Scanner = verdictScanner{tt.v} })
			e.addAlias("team@example.test", "bob@example.test", "carol@elsewhere.test")
			c := e.dial()
			c.cmd("EHLO client.test", "250")
			c.sendMessage("alice@remote.test", []string{"team@example.test"}, simpleMessage, tt.want)
			got := e.inbox("bob@example.test")
			if tt.v.Action == Spam { // spam goes to Junk, never INBOX
				if len(got) != 0 {
					t.Fatalf("spam in INBOX")
				}
				got = e.junk("bob@example.test")
			}
			if len(got) != tt.local || e.forwarded.count() != tt.forwarded {
				t.Fatalf("bob has %d, forwarded %d; want %d and %d", len(got), e.forwarded.count(), tt.local, tt.forwarded)
			}
			if tt.v.Action == Spam && (!strings.Contains(got[0], "\nX-Spam: yes\n") || strings.Contains(got[0], "Injected")) {
				t.Errorf("verdict headers wrong:\n%s", got[0])
			}
		})
	}
}

// TestSRSBounce: a bounce to an SRS address we made goes back to the
// original sender; a forged or mangled one is refused.
func TestSRSBounce(t *testing.T) {
	rw := srs.New([]byte("0123456789abcdef0123456789abcdef"), "example.test")
	e := newEnv(t, MX, func(o *Options) { o.SRS = rw })
	fwd, err := rw.Forward(addr.MustParse("alice@remote.test"))
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(fwd.String(), "srs0=", "srs0=x", 1)
	c := e.dial()
	c.cmd("EHLO bounce.test", "250")
	c.cmd("MAIL FROM:<>", "250")
	c.cmd("RCPT TO:<"+forged+">", "550 5.1.1")
	c.cmd("RCPT TO:<"+fwd.String()+">", "250")
	c.cmd("DATA", "354")
	c.send(msg("Subject: Undelivered Mail Returned to Sender\n\nsorry\n") + ".\r\n")
	c.expect("250")
	envs, _ := e.queue.entries()
	if len(envs) != 1 || !envs[0].From.IsZero() || len(envs[0].Recipients) != 1 ||
		envs[0].Recipients[0].Local || envs[0].Recipients[0].Address.String() != "alice@remote.test" {
		t.Fatalf("queued %+v, want the bounce to alice@remote.test", envs)
	}
}
