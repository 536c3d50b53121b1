package pop3d

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzParseCommand: the parser never panics, and what it accepts is
// well-formed and parses back to itself.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		"QUIT", "USER bob@example.test", "PASS secret with spaces", "RETR 1", "TOP 1 10",
		"LIST", "UIDL 7", "AUTH PLAIN AGJvYgBzZWNyZXQ=", "AUTH", "STLS", "CAPA", "DELE 2",
		"RSET", "NOOP", "APOP bob c4c9334bac560ecc979e58001b3e22fb", "", "RETR  1", "X\x00Y",
		"retr 4294967296", "LIST 1 2 3 4 5 6 7 8 9",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := ParseCommand(line)
		if err != nil {
			return
		}
		if len(c.Name) < 3 || len(c.Name) > 4 || strings.ToUpper(c.Name) != c.Name {
			t.Fatalf("keyword %q", c.Name)
		}
		for _, a := range c.Args {
			if a == "" || strings.ContainsAny(a, "\r\n\x00") {
				t.Fatalf("argument %q", a)
			}
			if c.Name != "PASS" && strings.Contains(a, " ") {
				t.Fatalf("argument with a space %q", a)
			}
		}
		again := c.Name
		if len(c.Args) > 0 {
			again += " " + strings.Join(c.Args, " ")
		}
		c2, err := ParseCommand(again)
		if err != nil || c2.Name != c.Name || strings.Join(c2.Args, "\x00") != strings.Join(c.Args, "\x00") {
			t.Fatalf("%q → %#v → %q → %#v, %v", line, c, again, c2, err)
		}
	})
}

// FuzzWriteMessage: whatever the stored bytes, the reply is one
// multi-line response — every line ends in CRLF, the only "." line is the
// last — and undoing dot-stuffing gives crlfSize octets.
func FuzzWriteMessage(f *testing.F) {
	for _, s := range []string{"A: 1\n\nbody\n", ".\r\n.\n", "a\r", "\r\n\r\n.\r\n", "x\r\ry\n\n.", ""} {
		f.Add(s, -1)
		f.Add(s, 1)
	}
	f.Fuzz(func(t *testing.T, in string, top int) {
		if top < -1 {
			top = -1
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		if err := writeMessage(w, strings.NewReader(in), top); err != nil {
			t.Fatal(err)
		}
		w.Flush()
		s := out.String()
		if !strings.HasSuffix(s, ".\r\n") {
			t.Fatalf("no terminator: %q", s)
		}
		body := strings.TrimSuffix(s, ".\r\n")
		if body != "" && !strings.HasSuffix(body, "\r\n") {
			t.Fatalf("last line without CRLF: %q", s)
		}
		for _, l := range strings.SplitAfter(body, "\r\n") {
			if l == ".\r\n" {
				t.Fatalf("early terminator in %q", s)
			}
		}
		if top >= 0 {
			return
		}
		n, err := crlfSize(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		if got := len(unstuff(s)); int64(got) != n {
			t.Fatalf("%q: %d octets unstuffed, crlfSize %d", in, got, n)
		}
	})
}
