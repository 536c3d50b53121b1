package proxyproto

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzReadHeader: whatever comes in, ReadHeader never reads past the first
// CRLF nor beyond MaxHeaderLen bytes, and a header it accepts is one whose
// source address survives WriteHeader and ReadHeader again.
func FuzzReadHeader(f *testing.F) {
	for _, s := range []string{
		"PROXY TCP4 192.0.2.7 198.51.100.1 56324 143\r\nA001 CAPABILITY\r\n",
		"PROXY TCP6 2001:db8::7 :: 0 0\r\n",
		"PROXY TCP6 ::ffff:192.0.2.7 :: 0 0\r\n",
		"PROXY UNKNOWN\r\n",
		"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n",
		"PROXY TCP4 192.0.2.7 0.0.0.0 65536 0\r\n",
		"PROXY TCP6 fe80::1%eth0 :: 0 0\r\n",
		"PROXY TCP4 192.0.2.7 0.0.0.0 0\r0\r\n",
		"EHLO webmail\r\n",
		"\r\n\r\n\x00\r\nQUIT\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c := &memConn{r: bytes.NewReader(in)}
		client, _, err := ReadHeader(c, time.Second)
		consumed := len(in) - c.r.Len()
		if consumed > MaxHeaderLen {
			t.Fatalf("read %d bytes, over %d", consumed, MaxHeaderLen)
		}
		if err != nil {
			return
		}
		head := string(in[:consumed])
		if !strings.HasSuffix(head, "\r\n") || strings.Count(head, "\n") != 1 {
			t.Fatalf("accepted %q, which is not one CRLF line", head)
		}
		if client.Zone() != "" || client.Is4In6() {
			t.Fatalf("client %v: zone or mapped form", client)
		}
		var b bytes.Buffer
		if err := WriteHeader(&b, client); err != nil {
			t.Fatal(err)
		}
		again, _, err := ReadHeader(&memConn{r: bytes.NewReader(b.Bytes())}, time.Second)
		if err != nil || again != client {
			t.Fatalf("%q → %v → %q → %v, %v", head, client, b.String(), again, err)
		}
		if !client.IsValid() && !strings.HasPrefix(head, "PROXY UNKNOWN") {
			t.Fatalf("%q gave no address but is not UNKNOWN", head)
		}
	})
}
