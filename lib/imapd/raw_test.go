package imapd

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// rawClient speaks IMAP by hand, for what a client library won't send.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	n    int
}

func dialRaw(t testing.TB, address string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", address, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	rc := &rawClient{t: t, conn: conn, r: bufio.NewReader(conn)}
	if line := rc.line(); !strings.HasPrefix(line, "* OK") {
		t.Fatalf("greeting %q", line)
	}
	return rc
}

func (rc *rawClient) line() string {
	rc.t.Helper()
	l, err := rc.r.ReadString('\n')
	if err != nil {
		rc.t.Fatalf("read: %v (so far %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends a command and returns the untagged lines and the tagged one.
func (rc *rawClient) cmd(format string, args ...any) (untagged []string, tagged string) {
	rc.t.Helper()
	rc.n++
	tag := fmt.Sprintf("r%d", rc.n)
	fmt.Fprintf(rc.conn, tag+" "+format+"\r\n", args...)
	return rc.until(tag)
}

func (rc *rawClient) until(tag string) (untagged []string, tagged string) {
	rc.t.Helper()
	for {
		l := rc.line()
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimPrefix(l, tag+" ")
		}
		untagged = append(untagged, l)
	}
}

func (rc *rawClient) login() {
	rc.t.Helper()
	if _, st := rc.cmd("LOGIN %s %q", bob.String(), testPassword); !strings.HasPrefix(st, "OK") {
		rc.t.Fatalf("LOGIN: %s", st)
	}
}

func TestRawProtocol(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(bob, "", testMessage("one", "x"))
	ts.deliver(bob, "", testMessage("two", "y"))
	rc := dialRaw(t, ts.addr)
	rc.login()
	rc.cmd("SELECT INBOX")
	tests := []struct {
		cmd      string
		status   string // prefix of the tagged reply
		untagged []string
	}{
		{"UID FETCH 100:* (UID)", "OK", []string{"* 2 FETCH (UID 2)"}},
		{"UID FETCH 2:1 (UID)", "OK", []string{"* 1 FETCH (UID 1)", "* 2 FETCH (UID 2)"}},
		{"FETCH 3 (UID)", "BAD", nil},
		// go-imap answers a malformed set with NO [SERVERBUG]: a protocol
		// error all the same, and the session goes on.
		{"FETCH 0 (UID)", "", nil},
		{"FETCH 1:x (UID)", "", nil},
		{"FETCH * (UID)", "OK", []string{"* 2 FETCH (UID 2)"}},
		{"SEARCH UNDELETED SUBJECT two", "OK", []string{"* SEARCH 2"}},
		{"UID SEARCH RETURN (COUNT MIN) ALL", "OK", []string{`* ESEARCH (TAG "r10") UID MIN 1 COUNT 2`}},
		{"SEARCH CHARSET UTF-8 TEXT two", "OK", []string{"* SEARCH 2"}},
		{"SEARCH CHARSET KOI8-R TEXT two", "NO", nil},
		{"FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (Date Message-ID To From)])", "OK", []string{"* 1 FETCH (BODY[HEADER.FIELDS.NOT (\"Date\" \"Message-ID\" \"To\" \"From\")] {16}", "Subject: one", "", ")"}},
		{"FETCH 1 (BINARY.SIZE[1] BODY[1]<0.1>)", "OK", []string{"* 1 FETCH (FLAGS (\\Seen \\Recent) BODY[1]<0> {1}", "x BINARY.SIZE[1] 3)"}},
		{`CREATE "../../etc"`, "NO", nil},
		{`STATUS "a/../../b" (MESSAGES)`, "NO", nil},
		{"SELECT ../../etc", "NO", nil},
		{"NOOP", "OK", nil},
	}
	for _, tt := range tests {
		un, st := rc.cmd("%s", tt.cmd)
		if tt.status == "" && !strings.HasPrefix(st, "NO") && !strings.HasPrefix(st, "BAD") {
			t.Errorf("%s: %s, want a protocol error", tt.cmd, st)
			continue
		}
		if !strings.HasPrefix(st, tt.status) {
			t.Errorf("%s: %s, want %s", tt.cmd, st, tt.status)
			continue
		}
		if tt.untagged != nil && strings.Join(un, "\n") != strings.Join(tt.untagged, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", tt.cmd, strings.Join(un, "\n"), strings.Join(tt.untagged, "\n"))
		}
	}
}

// TestBadInput: oversized and unterminated literals, huge lines, a
// flood of garbage. Each gets a protocol error or a closed connection,
// and the server keeps serving.
func TestBadInput(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.IdleTimeout = 2 * time.Second; o.AppendLimit = 1000 })
	t.Run("APPEND over the limit", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.login()
		fmt.Fprintf(rc.conn, "a1 APPEND INBOX {5000}\r\n")
		if _, st := rc.until("a1"); !strings.HasPrefix(st, "NO [TOOBIG]") {
			t.Fatalf("APPEND of 5000 bytes with a limit of 1000: %s", st)
		}
		if _, st := rc.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("NOOP after: %s", st)
		}
	})
	t.Run("oversized literal outside APPEND", func(t *testing.T) {
		// go-imap refuses literals over 4 KiB outside APPEND without
		// saying so; the next line is then taken as the rest of the
		// command and refused.
		rc := dialRaw(t, ts.addr)
		rc.login()
		fmt.Fprintf(rc.conn, "a1 SELECT {100000}\r\n")
		fmt.Fprintf(rc.conn, "a2 NOOP\r\n")
		if _, st := rc.until("a1"); !strings.HasPrefix(st, "BAD") && !strings.HasPrefix(st, "NO") {
			t.Fatalf("oversized literal: %s", st)
		}
		if _, st := rc.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
			t.Fatalf("NOOP after: %s", st)
		}
	})
	t.Run("unterminated literal", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.login()
		fmt.Fprintf(rc.conn, "a1 APPEND INBOX {100}\r\n")
		if l := rc.line(); !strings.HasPrefix(l, "+") {
			t.Fatalf("no continuation: %q", l)
		}
		fmt.Fprintf(rc.conn, "only a few bytes")
		// Nothing more: the server gives up after the idle timeout.
		rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			if _, err := rc.r.ReadString('\n'); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatal("the server kept waiting for the literal")
				}
				break
			}
		}
	})
	t.Run("huge line", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		rc.login()
		fmt.Fprintf(rc.conn, "a1 NOOP %s\r\n", strings.Repeat("x", 200000))
		rc.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		l, _ := rc.r.ReadString('\n')
		if !strings.HasPrefix(l, "a1 BAD") && l != "" {
			t.Fatalf("huge line: %q", l)
		}
	})
	t.Run("garbage before login", func(t *testing.T) {
		rc := dialRaw(t, ts.addr)
		fmt.Fprintf(rc.conn, "\x00\x01\x02 GET / HTTP/1.1\r\n")
		// A reply, or the connection closed at once.
		if l, err := rc.r.ReadString('\n'); err == nil && !strings.Contains(l, "BAD") && !strings.Contains(l, "BYE") {
			t.Fatalf("garbage: %q", l)
		}
		fmt.Fprintf(rc.conn, "a1 GET / HTTP/1.1\r\n")
		if l, err := rc.r.ReadString('\n'); err == nil && !strings.Contains(l, "BAD") && !strings.Contains(l, "BYE") {
			t.Fatalf("an unknown command before login: %q", l)
		}
	})
	// The server lives on.
	rc := dialRaw(t, ts.addr)
	rc.login()
	if _, st := rc.cmd("SELECT INBOX"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("SELECT on a fresh connection: %s", st)
	}
}

// TestForeignFiles: messages another program put in the Maildir (no S= or
// W= in the name) get their sizes and dates when asked for.
func TestForeignFiles(t *testing.T) {
	ts := newTestServer(t)
	msg := "Subject: foreign\n\nline one\nline two\n"
	p := filepath.Join(ts.dir, "mail", "example.org", "bob", "cur", "1620000000.foreign.host:2,")
	if err := os.WriteFile(p, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	os.Chtimes(p, mtime, mtime)
	rc := dialRaw(t, ts.addr)
	rc.login()
	rc.cmd("SELECT INBOX")
	want := fmt.Sprintf(`* 1 FETCH (RFC822.SIZE %d INTERNALDATE "%s")`, len(msg)+4, mtime.In(time.Local).Format("_2-Jan-2006 15:04:05 -0700"))
	if un, _ := rc.cmd("FETCH 1 (RFC822.SIZE INTERNALDATE)"); len(un) != 1 || un[0] != want {
		t.Errorf("FETCH: %v, want %s", un, want)
	}
	if un, _ := rc.cmd("SEARCH LARGER %d SMALLER %d", len(msg)+3, len(msg)+5); !slices.Contains(un, "* SEARCH 1") {
		t.Errorf("SEARCH LARGER/SMALLER: %v", un)
	}
	if un, _ := rc.cmd("STATUS INBOX (SIZE)"); !slices.Contains(un, fmt.Sprintf("* STATUS INBOX (SIZE %d)", len(msg)+4)) {
		t.Errorf("STATUS SIZE: %v", un)
	}
}

// TestStartTLSInjection: commands pipelined after STARTTLS in clear text
// are not run after the handshake (CVE-2011-0411): they are taken as TLS
// data, and the handshake fails.
func TestStartTLSInjection(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.LoopbackPlaintext = false })
	rc := dialRaw(t, ts.addr)
	fmt.Fprintf(rc.conn, "a STARTTLS\r\nb LOGIN %s %q\r\nc SELECT INBOX\r\n", bob, testPassword)
	if l := rc.line(); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	rc.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	rest, _ := io.ReadAll(rc.r)
	if strings.Contains(string(rest), "b OK") || strings.Contains(string(rest), "c OK") {
		t.Fatalf("injected commands ran: %q", rest)
	}
	if strings.Contains(ts.logs.String(), "imapd: login") {
		t.Fatal("the injected LOGIN logged in")
	}
}

// TestUTF8Names: folder names in modified UTF-7, and in UTF-8 once the
// client enabled UTF8=ACCEPT; the same folder either way.
func TestUTF8Names(t *testing.T) {
	ts := newTestServer(t)
	rc := dialRaw(t, ts.addr)
	rc.login()
	if _, st := rc.cmd(`CREATE "&AMQ-rger"`); !strings.HasPrefix(st, "OK") {
		t.Fatalf("CREATE in modified UTF-7: %s", st)
	}
	if un, _ := rc.cmd(`LIST "" "&AMQ-*"`); len(un) != 1 || !strings.HasSuffix(un[0], `"&AMQ-rger"`) {
		t.Errorf("LIST: %v", un)
	}
	rc.cmd("ENABLE UTF8=ACCEPT")
	if un, _ := rc.cmd(`LIST "" "Ä*"`); len(un) != 1 || !strings.HasSuffix(un[0], `"Ärger"`) {
		t.Errorf("LIST in UTF-8: %v", un)
	}
	if _, st := rc.cmd(`SELECT "Ärger"`); !strings.HasPrefix(st, "OK") {
		t.Errorf("SELECT in UTF-8: %s", st)
	}
	if _, err := os.Stat(filepath.Join(ts.dir, "mail", "example.org", "bob", ".&AMQ-rger")); err != nil {
		t.Errorf("not stored in modified UTF-7 as Dovecot does: %v", err)
	}
}

// TestAppendBinary: APPEND with a literal8 (BINARY) and FETCH BINARY of a
// base64 part.
func TestAppendBinary(t *testing.T) {
	ts := newTestServer(t)
	rc := dialRaw(t, ts.addr)
	rc.login()
	msg := "Subject: bin\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n"
	fmt.Fprintf(rc.conn, "a APPEND INBOX ~{%d}\r\n", len(msg))
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND literal8: %q", l)
	}
	fmt.Fprintf(rc.conn, "%s\r\n", msg)
	if _, st := rc.until("a"); !strings.HasPrefix(st, "OK [APPENDUID") {
		t.Fatalf("APPEND: %s", st)
	}
	rc.cmd("SELECT INBOX")
	un, _ := rc.cmd("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])")
	if all := strings.Join(un, "\n"); !strings.Contains(all, "BINARY.SIZE[1] 4") || !strings.Contains(all, "BINARY[1] ~{4}\n\x00\x01\x02\x03") {
		t.Errorf("FETCH BINARY: %q", un)
	}
}

// TestLoginTimeout: a client that talks but never logs in is cut off.
func TestLoginTimeout(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.CommandTimeout = 300 * time.Millisecond })
	rc := dialRaw(t, ts.addr)
	start := time.Now()
	for time.Since(start) < 5*time.Second {
		fmt.Fprintf(rc.conn, "a NOOP\r\n")
		if _, err := rc.r.ReadString('\n'); err != nil {
			if d := time.Since(start); d < 250*time.Millisecond {
				t.Fatalf("closed after %v, before the timeout", d)
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("a client without LOGIN was never cut off")
}

// TestDeleteSelected: deleting or renaming the selected folder leaves a
// session that still answers.
func TestDeleteSelected(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(bob, "Junk", testMessage("spam", "x"))
	rc := dialRaw(t, ts.addr)
	rc.login()
	rc.cmd("SELECT Junk")
	other := dialRaw(t, ts.addr)
	other.login()
	for _, cmd := range []string{"DELETE Junk", "NOOP", "FETCH 1 (FLAGS BODY.PEEK[])", "SEARCH ALL", "STORE 1 +FLAGS (\\Seen)", "EXPUNGE", "CLOSE", "SELECT INBOX"} {
		c := rc
		if cmd == "DELETE Junk" {
			c = other
		}
		if _, st := c.cmd("%s", cmd); !strings.HasPrefix(st, "OK") && !strings.HasPrefix(st, "NO") {
			t.Errorf("%s after DELETE: %s", cmd, st)
		}
	}
	rc.cmd("CREATE Old")
	rc.cmd("SELECT Old")
	if _, st := rc.cmd("RENAME Old New"); !strings.HasPrefix(st, "OK") {
		t.Fatalf("RENAME the selected folder: %s", st)
	}
	if _, st := rc.cmd("NOOP"); !strings.HasPrefix(st, "OK") {
		t.Errorf("NOOP after RENAME: %s", st)
	}
}

// TestLSUB: LSUB lists what SUBSCRIBE recorded, including a name that
// does not exist (RFC 3501 §6.3.6).
func TestLSUB(t *testing.T) {
	ts := newTestServer(t)
	rc := dialRaw(t, ts.addr)
	rc.login()
	rc.cmd("UNSUBSCRIBE Junk")
	rc.cmd("SUBSCRIBE Lists/Gone")
	un, st := rc.cmd(`LSUB "" "*"`)
	if !strings.HasPrefix(st, "OK") {
		t.Fatalf("LSUB: %s", st)
	}
	all := strings.Join(un, "\n")
	for _, want := range []string{`"/" INBOX`, `"/" "Sent"`, `"/" "Lists/Gone"`} {
		if !strings.Contains(all, want) {
			t.Errorf("LSUB lacks %s:\n%s", want, all)
		}
	}
	if strings.Contains(all, "Junk") {
		t.Errorf("LSUB lists the unsubscribed Junk:\n%s", all)
	}
}
