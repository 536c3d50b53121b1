package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// memConn is a net.Conn that reads from a fixed input; deadlines are
// accepted and ignored.
type memConn struct {
	net.Conn // nil: only what ReadHeader uses is implemented
	r        *bytes.Reader
}

func (c *memConn) Read(p []byte) (int, error)      { return c.r.Read(p) }
func (c *memConn) SetReadDeadline(time.Time) error { return nil }

func newMemConn(s string) *memConn { return &memConn{r: bytes.NewReader([]byte(s))} }

func TestWriteHeader(t *testing.T) {
	tests := []struct {
		client netip.Addr
		want   string
	}{
		{netip.MustParseAddr("192.0.2.7"), "PROXY TCP4 192.0.2.7 0.0.0.0 0 0\r\n"},
		{netip.MustParseAddr("::ffff:192.0.2.7"), "PROXY TCP4 192.0.2.7 0.0.0.0 0 0\r\n"},
		{netip.MustParseAddr("2001:db8::7"), "PROXY TCP6 2001:db8::7 :: 0 0\r\n"},
		{netip.MustParseAddr("fe80::1%eth0"), "PROXY TCP6 fe80::1 :: 0 0\r\n"},
		{netip.Addr{}, "PROXY UNKNOWN\r\n"},
		{netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
			"PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff :: 0 0\r\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		if err := WriteHeader(&b, tt.client); err != nil {
			t.Fatalf("WriteHeader(%v): %v", tt.client, err)
		}
		if b.String() != tt.want {
			t.Errorf("WriteHeader(%v) = %q, want %q", tt.client, b.String(), tt.want)
		}
		if b.Len() > MaxHeaderLen {
			t.Errorf("WriteHeader(%v): %d bytes, over %d", tt.client, b.Len(), MaxHeaderLen)
		}
		got, _, err := ReadHeader(newMemConn(b.String()), time.Second)
		if err != nil {
			t.Fatalf("ReadHeader(%q): %v", b.String(), err)
		}
		if want := tt.client.Unmap().WithZone(""); got != want {
			t.Errorf("round trip of %v gave %v", tt.client, got)
		}
	}
}

func TestReadHeader(t *testing.T) {
	full := "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
	longest := "PROXY UNKNOWN " + full + " " + full + " 65535 65535\r\n" // the spec's worst case
	if len(longest) != MaxHeaderLen {
		t.Fatalf("longest header is %d bytes, MaxHeaderLen %d", len(longest), MaxHeaderLen)
	}
	tests := []struct {
		in   string
		want string // the client; "" for an invalid Addr; "ERR" for an error
	}{
		{"PROXY TCP4 192.0.2.7 198.51.100.1 56324 143\r\n", "192.0.2.7"},
		{"PROXY TCP6 2001:db8::7 2001:db8::1 56324 587\r\n", "2001:db8::7"},
		{"PROXY TCP6 ::ffff:192.0.2.7 :: 0 0\r\n", "192.0.2.7"},
		{"PROXY UNKNOWN\r\n", ""},
		{"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", ""},
		{longest, ""},
		{"PROXY TCP6 " + full + " " + full + " 65535 65535\r\n", full},
		{"PROXY UNKNOWN " + full + " " + full + " 65535 655355\r\n", "ERR"}, // 108 bytes
		{"PROXY TCP4 192.0.2.7 0.0.0.0 65535 0\r\n", "192.0.2.7"},

		{"", "ERR"},
		{"PROXY TCP4 192.0.2.7 0.0.0.0 0 0", "ERR"},                // no CRLF, EOF
		{"PROXY TCP4 192.0.2.7 0.0.0.0 0 0\n", "ERR"},              // bare LF
		{"PROXY TCP4 192.0.2.7 0.0.0.0 0\r0\r\n", "ERR"},           // bare CR
		{"proxy TCP4 192.0.2.7 0.0.0.0 0 0\r\n", "ERR"},            // case
		{"A001 LOGIN bob secret\r\n", "ERR"},                       // no header at all
		{"EHLO webmail\r\n", "ERR"},                                //
		{"PROXY TCP4 192.0.2.7 0.0.0.0 0 0 \r\n", "ERR"},           // trailing space
		{"PROXY TCP4  192.0.2.7 0.0.0.0 0 0\r\n", "ERR"},           // double space
		{"PROXY TCP4 192.0.2.7 0.0.0.0 0\r\n", "ERR"},              // field missing
		{"PROXY TCP5 192.0.2.7 0.0.0.0 0 0\r\n", "ERR"},            // protocol
		{"PROXY UDP4 192.0.2.7 0.0.0.0 0 0\r\n", "ERR"},            //
		{"PROXY TCP4 2001:db8::7 0.0.0.0 0 0\r\n", "ERR"},          // family
		{"PROXY TCP6 192.0.2.7 :: 0 0\r\n", "ERR"},                 //
		{"PROXY TCP4 192.0.2.7 :: 0 0\r\n", "ERR"},                 // family of dst
		{"PROXY TCP6 fe80::1%eth0 :: 0 0\r\n", "ERR"},              // zone
		{"PROXY TCP4 192.0.2.07 0.0.0.0 0 0\r\n", "ERR"},           // leading zero octet
		{"PROXY TCP4 example.org 0.0.0.0 0 0\r\n", "ERR"},          // name
		{"PROXY TCP4 192.0.2.7 0.0.0.0 65536 0\r\n", "ERR"},        // port range
		{"PROXY TCP4 192.0.2.7 0.0.0.0 01 0\r\n", "ERR"},           // leading zero port
		{"PROXY TCP4 192.0.2.7 0.0.0.0 -1 0\r\n", "ERR"},           //
		{"PROXY TCP4 192.0.2.7 0.0.0.0 +1 0\r\n", "ERR"},           //
		{"PROXY TCP4 192.0.2.7 0.0.0.0  0\r\n", "ERR"},             // empty port
		{"PROXY UNKNOWNX\r\n", "ERR"},                              //
		{"PROXY \r\n", "ERR"},                                      //
		{"PROXY TCP6 " + strings.Repeat("f", 100) + "\r\n", "ERR"}, // too long
		{"\x0d\x0a\x0d\x0a\x00\x0d\x0aQUIT\x0a", "ERR"},            // the v2 signature
	}
	for _, tt := range tests {
		got, c, err := ReadHeader(newMemConn(tt.in), time.Second)
		if tt.want == "ERR" {
			if err == nil {
				t.Errorf("ReadHeader(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ReadHeader(%q): %v", tt.in, err)
			continue
		}
		if c == nil {
			t.Errorf("ReadHeader(%q): nil conn", tt.in)
		}
		var want netip.Addr
		if tt.want != "" {
			want = netip.MustParseAddr(tt.want)
		}
		if got != want {
			t.Errorf("ReadHeader(%q) = %v, want %v", tt.in, got, want)
		}
	}
}

// The header is consumed to its CRLF and not a byte further, and the
// deadline is gone afterwards.
func TestReadHeaderLeavesTheRest(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	defer cli.Close()
	go func() {
		io.WriteString(cli, "PROXY TCP4 192.0.2.7 0.0.0.0 0 0\r\nA001 LOGIN")
		time.Sleep(150 * time.Millisecond) // past the header timeout below
		io.WriteString(cli, " bob\r\n")
	}()
	got, c, err := ReadHeader(srv, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("client %v", got)
	}
	if c != srv {
		t.Errorf("conn is not the one passed in")
	}
	rest := make([]byte, len("A001 LOGIN bob\r\n"))
	if _, err := io.ReadFull(c, rest); err != nil {
		t.Fatalf("reading after the header: %v (deadline not cleared?)", err)
	}
	if string(rest) != "A001 LOGIN bob\r\n" {
		t.Errorf("after the header: %q", rest)
	}
}

func TestReadHeaderTimeout(t *testing.T) {
	srv, cli := net.Pipe()
	defer srv.Close()
	defer cli.Close()
	go io.WriteString(cli, "PROXY TCP4 192.0") // and then nothing
	start := time.Now()
	_, _, err := ReadHeader(srv, 50*time.Millisecond)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestReadHeaderMalformedIsErrMalformed(t *testing.T) {
	_, _, err := ReadHeader(newMemConn("GET / HTTP/1.1\r\n"), time.Second)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
}
