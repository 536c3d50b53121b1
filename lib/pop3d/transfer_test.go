package pop3d

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func render(t testing.TB, in string, top int, oneByte bool) string {
	t.Helper()
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	var r io.Reader = strings.NewReader(in)
	if oneByte {
		r = iotest.OneByteReader(r)
	}
	if err := writeMessage(w, r, top); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	return out.String()
}

func TestWriteMessage(t *testing.T) {
	long := strings.Repeat("x", fileBufSize+100)
	for _, tc := range []struct {
		name, in string
		top      int
		want     string
	}{
		{"LF", "A: 1\n\nbody\n", -1, "A: 1\r\n\r\nbody\r\n.\r\n"},
		{"CRLF kept", "A: 1\r\n\r\nbody\r\n", -1, "A: 1\r\n\r\nbody\r\n.\r\n"},
		{"dot-stuffing", ".\n..x\n.\n", -1, "..\r\n...x\r\n..\r\n.\r\n"},
		{"no final newline", "A: 1\n\nbody", -1, "A: 1\r\n\r\nbody\r\n.\r\n"},
		{"empty", "", -1, ".\r\n"},
		{"bare CR stays", "a\rb\n\r\n", -1, "a\rb\r\n\r\n.\r\n"},
		{"CR CR LF", "a\r\r\n", -1, "a\r\r\n.\r\n"},
		{"CR at end of file", "a\r", -1, "a\r\r\n.\r\n"},
		{"TOP 0", "A: 1\nB: 2\n\nl1\nl2\n", 0, "A: 1\r\nB: 2\r\n\r\n.\r\n"},
		{"TOP 1", "A: 1\n\nl1\n.l2\nl3\n", 1, "A: 1\r\n\r\nl1\r\n.\r\n"},
		{"TOP 2 stuffs", "A: 1\n\nl1\n.l2\nl3\n", 2, "A: 1\r\n\r\nl1\r\n..l2\r\n.\r\n"},
		{"TOP beyond end", "A: 1\n\nl1\n", 10, "A: 1\r\n\r\nl1\r\n.\r\n"},
		{"TOP no body", "A: 1\n", 5, "A: 1\r\n.\r\n"},
		{"TOP CRLF header end", "A: 1\r\n\r\nl1\r\n", 0, "A: 1\r\n\r\n.\r\n"},
		{"long line", "." + long + "\n.\n", -1, ".." + long + "\r\n..\r\n.\r\n"},
		{"long line then CRLF at boundary", strings.Repeat("y", fileBufSize-1) + "\r\nz\n", -1, strings.Repeat("y", fileBufSize-1) + "\r\nz\r\n.\r\n"},
	} {
		for _, oneByte := range []bool{false, true} {
			if got := render(t, tc.in, tc.top, oneByte); got != tc.want {
				t.Errorf("%s (one byte reads %v): got %q, want %q", tc.name, oneByte, trunc(got), trunc(tc.want))
			}
		}
		if tc.top < 0 {
			n, err := crlfSize(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if want := int64(len(unstuff(tc.want))); n != want {
				t.Errorf("%s: crlfSize %d, want %d", tc.name, n, want)
			}
		}
	}
}

func trunc(s string) string {
	if len(s) > 80 {
		return s[:40] + "…" + s[len(s)-40:]
	}
	return s
}

// unstuff undoes a multi-line reply: the terminator goes, and one "."
// at the start of each line.
func unstuff(s string) string {
	s = strings.TrimSuffix(s, ".\r\n")
	lines := strings.SplitAfter(s, "\r\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, ".")
	}
	return strings.Join(lines, "")
}

// TestWriteMessageSizeMatchesMaildir: what RETR sends (unstuffed) has as
// many octets as the W= size lib/maildir writes into the file name.
func TestWriteMessageSizeMatchesMaildir(t *testing.T) {
	ts := newTestServer(t, nil)
	for _, msg := range []string{testMsg(1), "A: b\r\n\r\nx\r\ny\n", "A: b\n\n\rbare\rcr\n", ".\n..\n"} {
		ts.deliver(msg)
	}
	c := ts.dial()
	c.login()
	for i := 1; i <= 4; i++ {
		r := c.ok("LIST %d", i)
		c.ok("RETR %d", i)
		body := c.multi()
		if want := "+OK " + itoa(i) + " " + itoa(len(body)); r != want {
			t.Errorf("LIST %d = %q, RETR sent %d octets", i, r, len(body))
		}
	}
}
