package smtpd

import (
	"strings"
	"testing"
)

// smuggled is a second transaction hidden in a message's content behind
// a non-standard end of data.
const smuggled = "MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nowned\r\n.\r\n"

// TestSmuggling: every lax end-of-data variant is refused with 5xx and
// the connection closed; no message — first or second — is delivered.
func TestSmuggling(t *testing.T) {
	for _, tt := range []struct{ name, content string }{
		{"LF.LF", "Subject: a\r\n\r\nbody\n.\n" + smuggled},
		{"LF.CRLF", "Subject: a\r\n\r\nbody\n.\r\n" + smuggled},
		{"CRLF.LF", "Subject: a\r\n\r\nbody\r\n.\n" + smuggled},
		{"CR.CR", "Subject: a\r\n\r\nbody\r.\r" + smuggled},
		{"CRLF.CR", "Subject: a\r\n\r\nbody\r\n.\r" + smuggled},
		{"bare LF in header", "Subject: a\nX: b\r\n\r\nbody\r\n.\r\n"},
		{"bare CR in body", "Subject: a\r\n\r\nbo\rdy\r\n.\r\n"},
	} {
		t.Run("DATA "+tt.name, func(t *testing.T) {
			e := newEnv(t, MX, nil)
			c := e.dial()
			c.cmd("EHLO client.test", "250")
			c.cmd("MAIL FROM:<alice@remote.test>", "250")
			c.cmd("RCPT TO:<bob@example.test>", "250")
			c.cmd("DATA", "354")
			c.send(tt.content)
			c.expect("554 5.5.2")
			if !c.closed() {
				t.Error("connection still open after refused content")
			}
			if n := len(e.inbox("bob@example.test")); n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
	}
	for _, tt := range []struct{ name, chunk string }{
		{"LF.LF", "Subject: a\r\n\r\nbody\n.\n" + smuggled},
		{"LF.CRLF", "Subject: a\r\n\r\nbody\n.\r\n" + smuggled},
		{"CRLF.LF", "Subject: a\r\n\r\nbody\r\n.\n" + smuggled},
		{"ends in CR", "Subject: a\r\n\r\nbody\r"},
	} {
		t.Run("BDAT "+tt.name, func(t *testing.T) {
			e := newEnv(t, MX, nil)
			c := e.dial()
			c.cmd("EHLO client.test", "250")
			c.cmd("MAIL FROM:<alice@remote.test>", "250")
			c.cmd("RCPT TO:<bob@example.test>", "250")
			c.send("BDAT " + itoa(len(tt.chunk)) + " LAST\r\n" + tt.chunk)
			c.expect("554 5.5.2")
			if !c.closed() {
				t.Error("connection still open after refused content")
			}
			if n := len(e.inbox("bob@example.test")); n != 0 {
				t.Errorf("%d messages delivered", n)
			}
		})
	}
}

// TestCleanContent: what is legal passes untouched — dot-stuffing, a CRLF
// split between two BDAT chunks, a line of one dot inside a chunk.
func TestCleanContent(t *testing.T) {
	e := newEnv(t, MX, nil)
	c := e.dial()
	c.cmd("EHLO client.test", "250")
	c.sendMessage("alice@remote.test", []string{"bob@example.test"}, "Subject: dots\n\n..leading dot\n", "250")
	c.cmd("MAIL FROM:<alice@remote.test>", "250")
	c.cmd("RCPT TO:<bob@example.test>", "250")
	one, two := "Subject: chunks\r\n\r\nfirst\r", "\n.\r\nlast\r\n"
	c.send("BDAT " + itoa(len(one)) + "\r\n" + one)
	c.expect("250")
	c.send("BDAT " + itoa(len(two)) + " LAST\r\n" + two)
	c.expect("250")
	// Pipelined: two whole transactions in one write.
	p1 := "Subject: p1\r\n\r\nbody\r\n"
	c.send("MAIL FROM:<alice@remote.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT " + itoa(len(p1)) + " LAST\r\n" + p1 +
		"MAIL FROM:<alice@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
	for _, want := range []string{"250", "250", "250", "250", "250", "354"} {
		c.expect(want)
	}
	c.send("Subject: p2\r\n\r\nbody\r\n.\r\nQUIT\r\n")
	c.expect("250")
	c.expect("221")
	got := e.inbox("bob@example.test")
	if len(got) != 4 {
		t.Fatalf("%d messages, want 4", len(got))
	}
	all := strings.Join(got, "\n---\n")
	for _, want := range []string{"\n.leading dot\n", "\nfirst\n.\nlast\n", "Subject: p1", "Subject: p2"} {
		if !strings.Contains(all, want) {
			t.Errorf("messages lack %q:\n%s", want, all)
		}
	}
	if strings.Contains(all, "\r") {
		t.Errorf("a CR was stored:\n%q", all)
	}
}
