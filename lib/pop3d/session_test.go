package pop3d

import (
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testMsg(i int) string {
	return fmt.Sprintf("From: alice@remote.example\nTo: bob@example.test\nSubject: message %d\n\nline one of %d\n.leading dot\n..two dots\n\nlast line\n", i, i)
}

// crlf is what RETR sends (before dot-stuffing) for a stored message.
func crlf(s string) string { return strings.ReplaceAll(s, "\n", "\r\n") }

func TestCapability(t *testing.T) {
	for _, tc := range []struct {
		name       string
		insecureOK bool
		implicit   bool
		want, not  []string
	}{
		{"plain, clear text refused", false, false, []string{"STLS", "TOP", "UIDL", "PIPELINING", "RESP-CODES", "AUTH-RESP-CODE"}, []string{"USER", "SASL"}},
		{"plain, loopback allowed", true, false, []string{"STLS", "USER", "SASL PLAIN LOGIN"}, nil},
		{"implicit TLS", false, true, []string{"USER", "SASL PLAIN LOGIN", "UIDL"}, []string{"STLS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, func(o *Options) { o.InsecureAuthLoopback = tc.insecureOK })
			c := ts.dial
			if tc.implicit {
				c = ts.dialTLS
			}
			cl := c()
			cl.ok("CAPA")
			caps := "\n" + strings.ReplaceAll(cl.multi(), "\r\n", "\n")
			for _, w := range tc.want {
				if !strings.Contains(caps, "\n"+w+"\n") {
					t.Errorf("CAPA lacks %q:%s", w, caps)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(caps, "\n"+n) {
					t.Errorf("CAPA has %q:%s", n, caps)
				}
			}
		})
	}
}

func TestClearTextLoginRefused(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.InsecureAuthLoopback = false })
	c := ts.dial()
	for _, cmd := range []string{"USER " + bob, "AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+bob+"\x00"+testPassword))} {
		if r := c.cmd("%s", cmd); !strings.HasPrefix(r, "-ERR [AUTH]") || !strings.Contains(r, "STLS") {
			t.Errorf("%s before TLS: %q", strings.Fields(cmd)[0], r)
		}
	}
	// After STLS the same login works.
	c.ok("STLS")
	tc := tls.Client(c.conn, ts.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn = tc
	c.r.Reset(tc)
	c.login()
	c.ok("QUIT")
}

func TestTransaction(t *testing.T) {
	ts := newTestServer(t, nil)
	var keys []string
	for i := 1; i <= 3; i++ {
		keys = append(keys, ts.deliver(testMsg(i)))
	}
	c := ts.dial()
	c.login()

	total := 0
	for i := 1; i <= 3; i++ {
		total += len(crlf(testMsg(i)))
	}
	if r := c.ok("STAT"); r != fmt.Sprintf("+OK 3 %d", total) {
		t.Errorf("STAT %q, want 3 %d", r, total)
	}
	c.ok("LIST")
	list := c.multi()
	for i := 1; i <= 3; i++ {
		if want := fmt.Sprintf("%d %d\r\n", i, len(crlf(testMsg(i)))); !strings.Contains(list, want) {
			t.Errorf("LIST lacks %q:\n%s", want, list)
		}
	}
	if r := c.ok("LIST 2"); r != fmt.Sprintf("+OK 2 %d", len(crlf(testMsg(2)))) {
		t.Errorf("LIST 2: %q", r)
	}
	c.ok("UIDL")
	uidl := c.multi()
	for i, k := range keys {
		if want := fmt.Sprintf("%d %s\r\n", i+1, UIDL(k)); !strings.Contains(uidl, want) {
			t.Errorf("UIDL lacks %q:\n%s", want, uidl)
		}
	}
	if r := c.ok("UIDL 3"); r != "+OK 3 "+UIDL(keys[2]) {
		t.Errorf("UIDL 3: %q", r)
	}

	if r := c.ok("RETR 1"); r != fmt.Sprintf("+OK %d octets", len(crlf(testMsg(1)))) {
		t.Errorf("RETR status %q", r)
	}
	if got := c.multi(); got != crlf(testMsg(1)) {
		t.Errorf("RETR 1 = %q, want %q", got, crlf(testMsg(1)))
	}
	c.ok("TOP 2 1")
	if got, want := c.multi(), crlf("From: alice@remote.example\nTo: bob@example.test\nSubject: message 2\n\nline one of 2\n"); got != want {
		t.Errorf("TOP 2 1 = %q, want %q", got, want)
	}
	c.ok("TOP 2 0")
	if got := c.multi(); !strings.HasSuffix(got, "Subject: message 2\r\n\r\n") {
		t.Errorf("TOP 2 0 = %q", got)
	}

	for _, tc := range []struct{ cmd, want string }{
		{"RETR 4", "-ERR no such message"},
		{"RETR 0", "-ERR no such message"},
		{"RETR x", "-ERR invalid message number"},
		{"RETR -1", "-ERR invalid message number"},
		{"TOP 1", "-ERR wrong number of arguments"},
		{"TOP 1 -1", "-ERR invalid number of lines"},
		{"LIST 1 2", "-ERR wrong number of arguments"},
		{"NOOP", "+OK"},
		{"USER " + bob, "-ERR already logged in"},
		{"STLS", "-ERR already logged in"},
		{"XYZZY", "-ERR invalid command keyword"},
		{"XYZ", "-ERR unknown command"},
	} {
		if r := c.cmd("%s", tc.cmd); !strings.HasPrefix(r, tc.want) {
			t.Errorf("%s: %q, want %q", tc.cmd, r, tc.want)
		}
	}

	c.ok("DELE 2")
	if r := c.cmd("DELE 2"); r != "-ERR message 2 already deleted" {
		t.Errorf("DELE 2 again: %q", r)
	}
	if r := c.cmd("RETR 2"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("RETR of a deleted message: %q", r)
	}
	if r := c.ok("STAT"); r != fmt.Sprintf("+OK 2 %d", total-len(crlf(testMsg(2)))) {
		t.Errorf("STAT after DELE: %q", r)
	}
	c.ok("LIST")
	if l := c.multi(); strings.Contains(l, "2 ") && strings.HasPrefix(strings.Split(l, "\r\n")[1], "2 ") {
		t.Errorf("LIST shows the deleted message:\n%s", l)
	}
	c.ok("RSET")
	if r := c.ok("STAT"); r != fmt.Sprintf("+OK 3 %d", total) {
		t.Errorf("STAT after RSET: %q", r)
	}
	c.ok("DELE 1")
	c.ok("DELE 3")
	if len(ts.keys()) != 3 {
		t.Fatal("DELE removed a file before QUIT")
	}
	c.ok("QUIT")
	got := ts.keys()
	if len(got) != 1 || got[keys[1]] == "" {
		t.Errorf("after QUIT: %v, want only %s", got, keys[1])
	}
	// Message 1 was retrieved but deleted; message 2 kept its flags
	// (only TOP): nothing is \Seen.
	if name := got[keys[1]]; strings.Contains(name, ":2,S") {
		t.Errorf("TOP marked message 2 seen: %s", name)
	}
}

func TestRetrMarksSeen(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("KeepUnseen=%v", keep), func(t *testing.T) {
			ts := newTestServer(t, func(o *Options) { o.KeepUnseen = keep })
			k1 := ts.deliver(testMsg(1))
			k2 := ts.deliver(testMsg(2))
			c := ts.dial()
			c.login()
			c.ok("RETR 1")
			c.multi()
			if _, info, _ := strings.Cut(ts.keys()[k1], ":2,"); strings.Contains(info, "S") {
				t.Error("marked \\Seen before QUIT")
			}
			c.ok("QUIT")
			got := ts.keys()
			if seen := strings.HasSuffix(got[k1], ":2,S"); seen == keep {
				t.Errorf("retrieved message is %s", got[k1])
			}
			if strings.Contains(got[k2], ":2,S") {
				t.Errorf("message not retrieved is %s", got[k2])
			}
		})
	}
}

func TestNoQuitNoChanges(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.deliver(testMsg(1))
	c := ts.dial()
	c.login()
	c.ok("DELE 1")
	c.conn.Close()
	// The session ends on EOF and releases the maildrop unchanged.
	c2 := ts.dial()
	c2.login()
	if r := c2.ok("STAT"); !strings.HasPrefix(r, "+OK 1 ") {
		t.Errorf("after a dropped session: STAT %q, want the message kept", r)
	}
}

func TestAuthPlainAndLogin(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.deliver(testMsg(1))
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	plain := b64("\x00" + bob + "\x00" + testPassword)
	tests := []struct {
		name string
		run  func(c *client) string // returns the final reply
	}{
		{"PLAIN initial response", func(c *client) string { return c.cmd("AUTH PLAIN %s", plain) }},
		{"PLAIN continuation", func(c *client) string {
			if r := c.cmd("AUTH PLAIN"); r != "+ " {
				t.Errorf("AUTH PLAIN challenge %q", r)
			}
			return c.cmd("%s", plain)
		}},
		{"LOGIN", func(c *client) string {
			if r := c.cmd("AUTH LOGIN"); r != "+ "+b64("Username:") {
				t.Errorf("LOGIN challenge %q", r)
			}
			if r := c.cmd("%s", b64(bob)); r != "+ "+b64("Password:") {
				t.Errorf("LOGIN challenge %q", r)
			}
			return c.cmd("%s", b64(testPassword))
		}},
		{"lower-case mechanism", func(c *client) string { return c.cmd("auth plain %s", plain) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ts.dial()
			if r := tc.run(c); !strings.HasPrefix(r, "+OK maildrop has 1 messages") {
				t.Fatalf("AUTH: %q", r)
			}
			c.ok("QUIT")
		})
	}

	c := ts.dial()
	c.ok("AUTH")
	if m := c.multi(); m != "PLAIN\r\nLOGIN\r\n" {
		t.Errorf("AUTH list %q", m)
	}
	for _, tc := range []struct{ send, want string }{
		{"AUTH CRAM-MD5", "-ERR unsupported"},
		{"AUTH PLAIN !!!", "-ERR invalid base64"},
		{"AUTH PLAIN " + b64("\x00"+bob+"\x00wrong"), "-ERR [AUTH] authentication failed"},
		{"AUTH PLAIN " + b64("garbage"), "-ERR [AUTH] authentication failed"},
	} {
		if r := c.cmd("%s", tc.send); !strings.HasPrefix(r, tc.want) {
			t.Errorf("%s: %q, want %q", tc.send, r, tc.want)
		}
	}
	c = ts.dial()
	c.cmd("AUTH PLAIN")
	if r := c.cmd("*"); r != "-ERR authentication cancelled" {
		t.Errorf("cancel: %q", r)
	}
	c.login() // still usable
}

// TestServiceRefusedAfterPassword: a user without pop3 (or disabled) is
// told so only with the right password.
func TestServiceRefusedAfterPassword(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, tc := range []struct{ user, pass, want string }{
		{imapOnly, testPassword, "-ERR [SYS/PERM] POP3 access is not enabled"},
		{imapOnly, "wrong password", "-ERR [AUTH] authentication failed"},
		{disabled, testPassword, "-ERR [SYS/PERM] this account is disabled"},
		{disabled, "wrong password", "-ERR [AUTH] authentication failed"},
		{"nobody@example.test", testPassword, "-ERR [AUTH] authentication failed"},
	} {
		c := ts.dial()
		if r := c.ok("USER %s", tc.user); r != "+OK send PASS" {
			t.Errorf("USER %s: %q (must not tell whether the user exists)", tc.user, r)
		}
		if r := c.cmd("PASS %s", tc.pass); !strings.HasPrefix(r, tc.want) {
			t.Errorf("%s/%s: %q, want %q", tc.user, tc.pass, r, tc.want)
		}
	}
	if logs := ts.logs.String(); strings.Contains(logs, testPassword) || strings.Contains(logs, "wrong password") {
		t.Errorf("a password reached the log:\n%s", logs)
	}
}

func TestPassNeedsUser(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.dial()
	if r := c.cmd("PASS %s", testPassword); r != "-ERR USER first" {
		t.Errorf("PASS alone: %q", r)
	}
	c.ok("USER %s", bob)
	c.cmd("NOOP") // -ERR in AUTHORIZATION, and it forgets the USER
	if r := c.cmd("PASS %s", testPassword); r != "-ERR USER first" {
		t.Errorf("PASS after another command: %q", r)
	}
}

func TestInUse(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.deliver(testMsg(1))
	c1 := ts.dial()
	c1.login()
	c2 := ts.dial()
	c2.ok("USER %s", bob)
	if r := c2.cmd("PASS %s", testPassword); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Fatalf("second session: %q", r)
	}
	c1.ok("QUIT")
	c2.login() // free again once the first session quit
	c2.ok("QUIT")
}

// TestSTLSInjection: commands sent in clear text together with STLS
// (before the handshake) must be discarded, not run inside TLS.
func TestSTLSInjection(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.dial()
	// One write: STLS plus an injected USER that would pair with the
	// client's PASS after the handshake.
	if _, err := c.conn.Write([]byte("STLS\r\nUSER " + imapOnly + "\r\nCAPA\r\n")); err != nil {
		t.Fatal(err)
	}
	if r := c.line(); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("STLS: %q", r)
	}
	if n := c.r.Buffered(); n != 0 {
		t.Fatalf("%d bytes after the STLS reply before TLS", n)
	}
	tc := tls.Client(c.conn, ts.clientTLS)
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	c.conn = tc
	c.r.Reset(tc)
	// Nothing may come unasked: the injected commands got no reply.
	tc.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if b, err := c.r.ReadByte(); err == nil {
		t.Fatalf("server answered an injected command (%q...)", b)
	}
	tc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if r := c.cmd("PASS %s", testPassword); r != "-ERR USER first" {
		t.Errorf("PASS after injected USER: %q", r)
	}
	if r := c.cmd("STLS"); !strings.HasPrefix(r, "-ERR") {
		t.Errorf("second STLS: %q", r)
	}
	c.login()
	if !strings.Contains(ts.logs.String(), "discarded input sent before the TLS handshake") {
		t.Errorf("the discarded input was not logged:\n%s", ts.logs.String())
	}
}

func TestLimits(t *testing.T) {
	t.Run("long line", func(t *testing.T) {
		ts := newTestServer(t, func(o *Options) { o.MaxLineLength = 1000 })
		c := ts.dial()
		if r := c.cmd("USER %s", strings.Repeat("x", 70000)); r != "-ERR line too long" {
			t.Errorf("long line: %q", r)
		}
		c.login() // the session lives on
	})
	t.Run("bad commands", func(t *testing.T) {
		ts := newTestServer(t, func(o *Options) { o.MaxBadCommands = 3 })
		c := ts.dial()
		c.cmd("FOO")
		c.cmd("BAR")
		if r := c.cmd("BAZ"); r != "-ERR unknown command" {
			t.Errorf("third bad command: %q", r)
		}
		if r := c.line(); !strings.Contains(r, "too many bad commands") {
			t.Errorf("after the limit: %q", r)
		}
		if _, err := c.r.ReadByte(); err == nil {
			t.Error("connection still open")
		}
	})
	t.Run("auth failures", func(t *testing.T) {
		ts := newTestServer(t, func(o *Options) { o.MaxAuthFailures = 2 })
		c := ts.dial()
		for range 2 {
			c.ok("USER %s", bob)
			c.cmd("PASS nope")
		}
		if r := c.line(); !strings.Contains(r, "too many failed logins") {
			t.Errorf("after the limit: %q", r)
		}
		if _, err := c.r.ReadByte(); err == nil {
			t.Error("connection still open")
		}
	})
	t.Run("command timeout", func(t *testing.T) {
		ts := newTestServer(t, func(o *Options) { o.CommandTimeout = 200 * time.Millisecond })
		ts.deliver(testMsg(1))
		c := ts.dial()
		c.login()
		c.ok("DELE 1")
		if r := c.line(); !strings.Contains(r, "autologout") {
			t.Errorf("idle client: %q", r)
		}
		if _, err := c.r.ReadByte(); err == nil {
			t.Error("connection still open")
		}
		if len(ts.keys()) != 1 {
			t.Error("a timed-out session deleted a message")
		}
	})
	t.Run("session timeout", func(t *testing.T) {
		ts := newTestServer(t, func(o *Options) { o.SessionTimeout = 300 * time.Millisecond })
		c := ts.dial()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			c.send("CAPA")
			r := c.line()
			if strings.Contains(r, "autologout") {
				return
			}
			c.multi()
			time.Sleep(50 * time.Millisecond)
		}
		t.Error("a busy session outlived SessionTimeout")
	})
}

func TestPipelining(t *testing.T) {
	ts := newTestServer(t, nil)
	ts.deliver(testMsg(1))
	c := ts.dial()
	c.login()
	if _, err := c.conn.Write([]byte("STAT\r\nUIDL 1\r\nRETR 1\r\nNOOP\r\n")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"+OK 1 ", "+OK 1 ", "+OK "} {
		if r := c.line(); !strings.HasPrefix(r, want) {
			t.Fatalf("pipelined reply %q, want %q", r, want)
		}
	}
	c.multi()
	if r := c.line(); r != "+OK" {
		t.Errorf("NOOP: %q", r)
	}
}

// TestLogs: every line of a session names its connection, and the
// login is logged without the password.
func TestLogs(t *testing.T) {
	ts := newTestServer(t, nil)
	c := ts.dial()
	c.login()
	c.ok("QUIT")
	time.Sleep(50 * time.Millisecond)
	logs := ts.logs.String()
	var ids []string
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, "pop3:") {
			continue
		}
		i := strings.Index(l, "conn=")
		if i < 0 {
			t.Errorf("log line without connection id: %s", l)
			continue
		}
		ids = append(ids, strings.Fields(l[i:])[0])
	}
	if len(ids) < 3 {
		t.Fatalf("few session log lines:\n%s", logs)
	}
	for _, id := range ids {
		if id != ids[0] {
			t.Errorf("one session, several ids: %v", ids)
			break
		}
	}
	if !strings.Contains(logs, "pop3: login") || !strings.Contains(logs, "PASS <hidden>") {
		t.Errorf("log lacks the login or the hidden PASS:\n%s", logs)
	}
	if strings.Contains(logs, testPassword) {
		t.Errorf("password in the log")
	}
}

func TestCreatesMissingMaildir(t *testing.T) {
	ts := newTestServer(t, nil)
	if err := os.RemoveAll(filepath.Join(ts.dir, "mail", "example.test", "bob")); err != nil {
		t.Fatal(err)
	}
	c := ts.dial()
	c.login()
	if r := c.ok("STAT"); r != "+OK 0 0" {
		t.Errorf("empty maildrop: %q", r)
	}
}
