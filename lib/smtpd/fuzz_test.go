package smtpd

import (
	"bufio"
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	replyLine = regexp.MustCompile(`^[2-5][0-9][0-9]([ -].*)?$`)
	// go-smtp recovers a panic in a session and reports it; errorLog logs
	// that at level ERROR (the input itself may well say "panic").
	goPanic = regexp.MustCompile(`(?m)^time=\S+ level=ERROR msg="smtp server"`)
)

// FuzzSession feeds random command streams to a whole session over an
// in-memory pipe. The server must answer only with well-formed reply
// lines, never panic, end when the client goes, and never store a message
// holding a bare CR (content with one is refused, not normalised).
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		"EHLO a\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n",
		"EHLO a\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<Postmaster>\r\nBDAT 5 LAST\r\nabc\r\nQUIT\r\n",
		"EHLO a\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nx\n.\nMAIL FROM:<b@c>\r\n",
		"HELO a\r\nMAIL FROM:<a@remote.test> SIZE=99999999\r\nRCPT TO:<\"x@y\"@example.test>\r\nVRFY bob\r\nEXPN x\r\nNOOP\r\nRSET\r\n",
		"EHLO a\r\nSTARTTLS\r\nMAIL FROM:<x@y>\r\n",
		"EHLO a\r\nAUTH PLAIN AGJvYgB4\r\nAUTH LOGIN\r\n*\r\nMAIL FROM:<a@b> BODY=8BITMIME SMTPUTF8\r\nRCPT TO:<ü@example.test>\r\n",
		"EHLO a\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT 3\r\nab\rBDAT 2 LAST\r\n\nx",
		"\r\n\r\nXXXX\r\nDATA\r\n.\r\nBDAT 0 LAST\r\n",
	} {
		f.Add([]byte(s))
	}
	e := newEnv(f, MX, func(o *Options) {
		o.Limits.CommandTimeout = 2 * time.Second
		o.Limits.MaxErrors = 1000
		o.Limits.MaxJunk = 1000
	})
	f.Fuzz(func(t *testing.T, input []byte) {
		client, server := net.Pipe()
		done := make(chan error, 1)
		go func() { done <- e.srv.ServeConn(context.Background(), server) }()
		var lines []string
		read := make(chan struct{})
		go func() {
			defer close(read)
			sc := bufio.NewScanner(client)
			for sc.Scan() {
				lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
			}
		}()
		client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		client.Write(input)
		time.Sleep(time.Millisecond)
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end after the client left")
		}
		<-read
		for _, l := range lines {
			if !replyLine.MatchString(l) {
				t.Fatalf("malformed reply line %q", l)
			}
		}
		if goPanic.MatchString(e.logs.String()) {
			t.Fatalf("panic:\n%s", e.logs.String())
		}
		dir := filepath.Join(e.dir, "mail", "example.test", "bob", "new")
		ents, _ := os.ReadDir(dir)
		for _, de := range ents {
			b, _ := os.ReadFile(filepath.Join(dir, de.Name()))
			if strings.ContainsRune(string(b), '\r') {
				t.Fatalf("stored message holds a CR:\n%q", b)
			}
		}
	})
}
