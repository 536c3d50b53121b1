package imapd

import (
	"context"
	"log/slog"

	"mailctl/lib/auth"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// panicLog fails the fuzz run when go-imap reports a recovered panic.
type panicLog struct {
	mu     sync.Mutex
	panics []string
}

func (p *panicLog) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicLog) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panic") {
		p.mu.Lock()
		p.panics = append(p.panics, r.Message)
		p.mu.Unlock()
	}
	return nil
}
func (p *panicLog) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicLog) WithGroup(string) slog.Handler      { return p }

// FuzzSession feeds command streams to a session over net.Pipe: whatever
// comes in, the server must neither panic nor hang.
func FuzzSession(f *testing.F) {
	login := "a LOGIN " + bob.String() + " \"" + testPassword + "\"\r\n"
	seeds := []string{
		login + "b SELECT INBOX\r\nc FETCH 1:* (FLAGS UID ENVELOPE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (Subject)])\r\nd LOGOUT\r\n",
		login + "b SELECT INBOX\r\nc UID FETCH 1:* (BODY[1.MIME] BINARY[1] BINARY.SIZE[2] BODY[]<0.10>)\r\n",
		login + "b SELECT INBOX\r\nc STORE 1:* +FLAGS (\\Deleted $Kw)\r\nd EXPUNGE\r\ne CLOSE\r\n",
		login + "b SELECT INBOX\r\nc SEARCH OR FROM alice NOT (BODY x LARGER 5) SENTSINCE 1-Jan-2000 UID 1:*\r\n",
		login + "b SELECT INBOX\r\nc UID SEARCH RETURN (SAVE MIN) ALL\r\nd FETCH $ (UID)\r\ne MOVE $ Trash\r\n",
		login + "b CREATE \"x/y\"\r\nc RENAME x z\r\nd LIST \"\" *\r\ne DELETE z/y\r\nf LSUB \"\" *\r\n",
		login + "b APPEND INBOX (\\Seen) \"02-Jan-2006 15:04:05 -0700\" {12}\r\nSubject: x\r\n\r\nc STATUS INBOX (MESSAGES UIDNEXT SIZE RECENT)\r\n",
		login + "b SELECT ../../etc\r\nc CREATE \"a/../b\"\r\nd EXAMINE INBOX\r\ne STORE 1 FLAGS x\r\n",
		login + "b ENABLE IMAP4rev2\r\nc SELECT INBOX\r\nd IDLE\r\nDONE\r\ne NOOP\r\n",
		"a AUTHENTICATE PLAIN\r\nAGJvYkBleGFtcGxlLm9yZwBjb3JyZWN0IGhvcnNlIGJhdHRlcnk=\r\nb NAMESPACE\r\n",
		"a CAPABILITY\r\nb STARTTLS\r\n\x16\x03\x01\x00\x05hello",
		login + "b SELECT INBOX\r\nc FETCH 0:4294967295 (FLAGS)\r\nd COPY 1 Sent\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	// Mutated passwords fail: no growing delays or lockouts here.
	ts := newTestServer(f, func(o *Options) { o.IdleTimeout = time.Second },
		authOption(func(ao *auth.Options) { ao.MaxUserDelay = time.Nanosecond; ao.MaxFailures = 1 << 30 }))
	for i := range 3 {
		ts.deliver(bob, "", testMessage("fuzz "+string(rune('a'+i)), "body"))
	}
	ts.deliver(bob, "", "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\nContent-Type: message/rfc822\n\nSubject: inner\n\nx\n--b--\n")
	pl := &panicLog{}
	ts.srv.log = slog.New(pl)
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		ts.srv.handle(server, false)
		done := make(chan struct{})
		activity := make(chan struct{}, 1)
		go func() {
			defer close(done)
			buf := make([]byte, 4096)
			for {
				if _, err := client.Read(buf); err != nil {
					return
				}
				select {
				case activity <- struct{}{}:
				default:
				}
			}
		}()
		go func() {
			client.SetWriteDeadline(time.Now().Add(2 * time.Second))
			client.Write(in)
		}()
		// Let the session answer, then hang up: quiet for a while, or
		// done talking, or enough.
		limit := time.After(2 * time.Second)
	wait:
		for {
			select {
			case <-activity:
			case <-done:
				break wait
			case <-limit:
				break wait
			case <-time.After(15 * time.Millisecond):
				break wait
			}
		}
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("session hung")
		}
		pl.mu.Lock()
		defer pl.mu.Unlock()
		if len(pl.panics) > 0 {
			t.Fatalf("panic in session: %s", pl.panics[0])
		}
	})
}
