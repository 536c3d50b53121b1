package smtpd

import (
	"strings"
	"testing"
	"time"
)

// TestLimits: each limit ends where it should, and the flood cut-offs
// close the connection.
func TestLimits(t *testing.T) {
	t.Run("messages per connection", func(t *testing.T) {
		e := newEnv(t, MX, func(o *Options) { o.Limits.MessagesPerConnection = 2 })
		c := e.dial()
		c.cmd("EHLO client.test", "250")
		c.sendMessage("alice@remote.test", []string{"bob@example.test"}, simpleMessage, "250")
		c.sendMessage("alice@remote.test", []string{"bob@example.test"}, simpleMessage, "250")
		c.cmd("MAIL FROM:<alice@remote.test>", "421 4.7.0")
		if !c.closed() {
			t.Error("still open after 421")
		}
	})
	t.Run("recipients", func(t *testing.T) {
		e := newEnv(t, MX, func(o *Options) { o.Limits.Recipients = 2 })
		c := e.dial()
		c.cmd("EHLO client.test", "250")
		c.cmd("MAIL FROM:<alice@remote.test>", "250")
		c.cmd("RCPT TO:<bob@example.test>", "250")
		c.cmd("RCPT TO:<postmaster@example.test>", "250")
		c.cmd("RCPT TO:<abuse@example.test>", "452 4.5.3")
	})
	t.Run("line length", func(t *testing.T) {
		e := newEnv(t, MX, nil)
		c := e.dial()
		c.cmd("EHLO client.test", "250")
		c.cmd("NOOP "+strings.Repeat("x", 3000), "500")
		if !c.closed() {
			t.Error("still open after an overlong line")
		}
	})
	t.Run("errors", func(t *testing.T) {
		e := newEnv(t, MX, func(o *Options) { o.Limits.MaxErrors = 3 })
		c := e.dial()
		c.cmd("EHLO client.test", "250")
		c.cmd("MAIL FROM:<alice@remote.test>", "250")
		for i := range 3 {
			c.cmd("RCPT TO:<nobody"+itoa(i)+"@example.test>", "550")
		}
		c.send("RCPT TO:<nobody@example.test>\r\n")
		c.expect("550")
		c.expect("421 4.7.0")
		if !c.closed() {
			t.Error("still open after too many errors")
		}
	})
	t.Run("errors forgiven after a message", func(t *testing.T) {
		e := newEnv(t, MX, func(o *Options) { o.Limits.MaxErrors = 3 })
		c := e.dial()
		c.cmd("EHLO client.test", "250")
		for range 3 {
			c.cmd("MAIL FROM:<alice@remote.test>", "250")
			c.cmd("RCPT TO:<nobody@example.test>", "550")
			c.cmd("RCPT TO:<nobody2@example.test>", "550")
			c.cmd("RCPT TO:<bob@example.test>", "250")
			c.cmd("DATA", "354")
			c.send(msg(simpleMessage) + ".\r\n")
			c.expect("250")
		}
	})
	t.Run("junk", func(t *testing.T) {
		e := newEnv(t, MX, func(o *Options) { o.Limits.MaxJunk = 5; o.Limits.MaxErrors = 2 })
		c := e.dial()
		c.cmd("EHLO client.test", "250") // junk 1
		for range 6 {
			c.cmd("NOOP", "250")
		}
		// Junk 8 makes the third error.
		c.send("NOOP\r\n")
		c.expect("250")
		c.expect("421 4.7.0")
	})
	t.Run("command timeout", func(t *testing.T) {
		e := newEnv(t, MX, func(o *Options) { o.Limits.CommandTimeout = 300 * time.Millisecond })
		c := e.dial()
		c.cmd("EHLO client.test", "250")
		c.startTLS(e.clientTLS)
		c.cmd("EHLO client.test", "250")
		c.cmd("MAIL FROM:<alice@remote.test>", "250")
		c.cmd("RCPT TO:<bob@example.test>", "250")
		c.cmd("DATA", "354")
		c.send("Subject: slow\r\n")
		c.expect("421 4.4.2")
		if !c.closed() {
			t.Error("still open after the timeout")
		}
	})
	t.Run("session timeout", func(t *testing.T) {
		e := newEnv(t, MX, func(o *Options) { o.Limits.SessionTimeout = 500 * time.Millisecond })
		c := e.dial()
		c.cmd("EHLO client.test", "250")
		start := time.Now()
		for time.Since(start) < 5*time.Second {
			c.send("NOOP\r\n")
			r, err := c.reply()
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(r, "421 4.4.2") {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Error("session never timed out")
	})
}
