package proxyproto

import (
	"context"
	"io"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// serveOne accepts one connection on l, reads its header and the line
// after it, and reports both.
func serveOne(t *testing.T, l net.Listener) <-chan string {
	t.Helper()
	out := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			out <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		client, c2, err := ReadHeader(c, 5*time.Second)
		if err != nil {
			out <- "header: " + err.Error()
			return
		}
		line := make([]byte, 6)
		if _, err := io.ReadFull(c2, line); err != nil {
			out <- "read: " + err.Error()
			return
		}
		out <- client.String() + " " + string(line)
	}()
	return out
}

func TestDial(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "imap-webmail.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ul.Close()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()

	tests := []struct {
		l      net.Listener
		spec   string
		client netip.Addr
		want   string
	}{
		{ul, "unix:" + sock, netip.MustParseAddr("192.0.2.7"), "192.0.2.7 hello\n"},
		{tl, tl.Addr().String(), netip.MustParseAddr("2001:db8::7"), "2001:db8::7 hello\n"},
		{ul, "unix:" + sock, netip.Addr{}, "invalid IP hello\n"},
	}
	for _, tt := range tests {
		got := serveOne(t, tt.l)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := Dial(ctx, tt.spec, tt.client)
		cancel()
		if err != nil {
			t.Fatalf("Dial(%q): %v", tt.spec, err)
		}
		if _, err := io.WriteString(c, "hello\n"); err != nil {
			t.Fatal(err)
		}
		if s := <-got; s != tt.want {
			t.Errorf("Dial(%q, %v): server saw %q, want %q", tt.spec, tt.client, s, tt.want)
		}
		c.Close()
	}
}

// Names are never resolved; bad specs fail before any dial.
func TestDialSpecs(t *testing.T) {
	for _, spec := range []string{"localhost:143", "imap.example.org:143", "unix:", "127.0.0.1", "", "[::1]"} {
		_, err := Dial(context.Background(), spec, netip.Addr{})
		if err == nil || !strings.Contains(err.Error(), "proxyproto") {
			t.Errorf("Dial(%q) = %v, want a proxyproto error", spec, err)
		}
	}
}

func TestDialCancelled(t *testing.T) {
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c, err := Dial(ctx, tl.Addr().String(), netip.Addr{}); err == nil {
		c.Close()
		t.Fatal("Dial with a cancelled context succeeded")
	}
}
