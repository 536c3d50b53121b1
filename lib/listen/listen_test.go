package listen

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenTCP(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := genCert(t, dir, "server", "localhost", "127.0.0.1")
	certs, err := LoadCerts([]CertPair{{cert, key}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		opts     Options
		wantMode TLSMode
	}{
		{"plain", Options{Listen: []string{"127.0.0.1:0"}}, Plain},
		{"implicit TLS", Options{ListenTLS: []string{"127.0.0.1:0"}, TLS: certs.TLSConfig()}, Implicit},
		{"IPv6 loopback", Options{Listen: []string{"[::1]:0"}}, Plain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := Open(testCtx(t), tt.opts)
			if err != nil {
				if strings.Contains(err.Error(), "::1") && strings.Contains(err.Error(), "cannot assign") {
					t.Skipf("no IPv6 loopback on this machine: %v", err)
				}
				t.Fatal(err)
			}
			defer closeAll(ls)
			if len(ls) != 1 || ls[0].Mode != tt.wantMode || ls[0].Name != "" {
				t.Fatalf("listeners %+v, want one with mode %v", ls, tt.wantMode)
			}
			l := ls[0]
			serverConn := make(chan net.Conn, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					close(serverConn)
					return
				}
				serverConn <- c
				serveEcho(c, l)
			}()
			conn, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			if tt.wantMode == Implicit {
				conn = tlsClient(t, conn, pool)
			}
			defer conn.Close()
			greeting, echo := talk(t, conn)
			if want := "mode=" + tt.wantMode.String() + " tls=" + map[bool]string{true: "true", false: "false"}[tt.wantMode == Implicit]; !strings.HasSuffix(greeting, want) {
				t.Errorf("greeting %q, want suffix %q", greeting, want)
			}
			if echo != "echo hello" {
				t.Errorf("echo %q", echo)
			}
			sc := <-serverConn
			if _, isTLS := sc.(*tls.Conn); isTLS != (tt.wantMode == Implicit) {
				t.Errorf("server side conn is %T", sc)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no source", Options{Names: []string{"lmtp"}}, "no socket"},
		{"implicit TLS without certificate", Options{ListenTLS: []string{"127.0.0.1:0"}}, "no TLS certificate"},
		{"host name instead of IP", Options{Listen: []string{"localhost:0"}}, "must be an IP address"},
		{"no port", Options{Listen: []string{"127.0.0.1"}}, "want HOST:PORT"},
		{"empty unix path", Options{Listen: []string{"unix:"}}, "empty socket path"},
		{"both inetd modes", Options{Inetd: true, InetdTLS: true}, "not both"},
		{"unix socket in a missing directory", Options{Listen: []string{"unix:" + filepath.Join(dir, "no", "sock")}}, "no such file"},
		{"second address fails", Options{Listen: []string{"127.0.0.1:0", "bogus"}}, "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ls, err := Open(testCtx(t), tt.opts)
			if err == nil {
				closeAll(ls)
				t.Fatalf("Open succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestInetdNotASocket(t *testing.T) {
	// The test's stdin is a terminal, /dev/null or a pipe: never a socket.
	if _, err := Inetd(); err == nil || !strings.Contains(err.Error(), "stdin is not a socket") {
		t.Fatalf("Inetd() error %v, want one saying stdin is not a socket", err)
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr string
	}{
		{"fresh", func(*testing.T, string) {}, ""},
		{"stale socket is replaced", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			l.Close()
		}, ""},
		{"live socket is kept", func(t *testing.T, path string) {
			l, err := net.Listen("unix", path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		}, "another process is listening"},
		{"regular file is kept", func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, "not a socket"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i))+".sock")
			tt.prepare(t, path)
			before, _ := os.Lstat(path)
			ls, err := Open(testCtx(t), Options{Listen: []string{"unix:" + path}})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					closeAll(ls)
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				after, err := os.Lstat(path)
				if err != nil || !os.SameFile(before, after) {
					t.Errorf("the existing file was touched: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeAll(ls)
			fi, err := os.Lstat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != SocketMode {
				t.Errorf("socket file mode %v, want socket %o", fi.Mode(), SocketMode)
			}
			go func() {
				if c, err := ls[0].Accept(); err == nil {
					serveEcho(c, ls[0])
				}
			}()
			c, err := net.DialTimeout("unix", path, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			if _, echo := talk(t, c); echo != "echo hello" {
				t.Errorf("echo %q", echo)
			}
		})
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err = net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	server, err = l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// acceptAsync runs Accept in the background.
func acceptAsync(l net.Listener) <-chan error {
	ch := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if c != nil {
			c.Close()
		}
		ch <- err
	}()
	return ch
}

func TestOneConn(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := genCert(t, dir, "server", "localhost")
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}}

	tests := []struct {
		name    string
		make    func(net.Conn) net.Listener
		wantTLS bool
		// Whether closing the accepted connection ends the listener; a
		// *tls.Conn made elsewhere can't be watched.
		endsOnConnClose bool
	}{
		{"plain", OneConn, false, true},
		{"OneTLSConn", func(c net.Conn) net.Listener { return OneTLSConn(c, cfg) }, true, true},
		{"foreign tls.Conn", func(c net.Conn) net.Listener { return OneConn(tls.Server(c, cfg)) }, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, _ := tcpPair(t)
			l := tt.make(server)
			if l.Addr().String() != server.LocalAddr().String() {
				t.Errorf("Addr %v, want %v", l.Addr(), server.LocalAddr())
			}
			c, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			if _, isTLS := c.(*tls.Conn); isTLS != tt.wantTLS {
				t.Errorf("accepted %T", c)
			}
			second := acceptAsync(l)
			select {
			case err := <-second:
				t.Fatalf("second Accept returned %v while the connection is open", err)
			case <-time.After(50 * time.Millisecond):
			}
			c.Close()
			if tt.endsOnConnClose {
				if err := waitErr(t, second); !errors.Is(err, net.ErrClosed) {
					t.Errorf("second Accept: %v, want net.ErrClosed", err)
				}
			} else {
				select {
				case err := <-second:
					t.Fatalf("second Accept returned %v; expected it to wait for Close", err)
				case <-time.After(50 * time.Millisecond):
				}
			}
			l.Close()
			if err := waitErr(t, acceptAsync(l)); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Accept after Close: %v", err)
			}
		})
	}
}

func TestOneConnCloseBeforeAccept(t *testing.T) {
	server, client := tcpPair(t)
	l := OneConn(server)
	l.Close()
	if err := waitErr(t, acceptAsync(l)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Accept after Close: %v", err)
	}
	// The never-accepted connection was closed: the peer sees EOF.
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("peer read: %v, want EOF", err)
	}
}

func waitErr(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Accept still blocked")
		return nil
	}
}

type refuseBackend struct{}

func (refuseBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	return nil, errors.New("no sessions in this test")
}

// go-smtp's Serve must return once the inetd connection is over.
func TestOneConnWithGoSMTP(t *testing.T) {
	server, client := tcpPair(t)
	s := smtp.NewServer(refuseBackend{})
	s.Domain = "test.invalid"
	done := make(chan error, 1)
	go func() { done <- s.Serve(OneConn(server)) }()

	client.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(client)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220 ") {
		t.Fatalf("greeting %q, %v", line, err)
	}
	io.WriteString(client, "QUIT\r\n")
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "221 ") {
		t.Fatalf("QUIT reply %q, %v", line, err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v, want net.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the connection ended")
	}
}

func TestIsImplicitTLSName(t *testing.T) {
	tests := map[string]bool{
		"submissions": true, "smtps": true, "imaps": true, "pop3s": true,
		"submission-tls": true, "extra-tls": true, "IMAPS": true,
		"submission": false, "smtp": false, "imap": false, "pop3": false, "lmtp": false,
		"tls": false, "LISTEN_FD_3": false, "": false,
	}
	for name, want := range tests {
		if got := IsImplicitTLSName(name); got != want {
			t.Errorf("IsImplicitTLSName(%q) = %t, want %t", name, got, want)
		}
	}
}

func TestIsWebmailName(t *testing.T) {
	tests := map[string]bool{
		"imap-webmail": true, "submission-webmail": true, "IMAP-WEBMAIL": true,
		"webmail": false, "imap": false, "webmail-tls": false, "imaps": false, "": false,
	}
	for name, want := range tests {
		if got := IsWebmailName(name); got != want {
			t.Errorf("IsWebmailName(%q) = %t, want %t", name, got, want)
		}
	}
}

// Webmail addresses are bound plain, marked, and as unix sockets get
// SocketMode like the others.
func TestOpenWebmail(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "imap-webmail.sock")
	ls, err := Open(testCtx(t), Options{Listen: []string{"127.0.0.1:0"}, Webmail: []string{"unix:" + sock, "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(ls)
	if len(ls) != 3 {
		t.Fatalf("%d listeners, want 3", len(ls))
	}
	for i, want := range []bool{false, true, true} {
		if ls[i].Webmail != want || ls[i].Mode != Plain {
			t.Errorf("listener %d (%s): webmail %t mode %v, want webmail %t, plain", i, ls[i].Addr(), ls[i].Webmail, ls[i].Mode, want)
		}
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != SocketMode || fi.Mode().Type() != fs.ModeSocket {
		t.Errorf("socket mode %v, want %v socket", fi.Mode(), os.FileMode(SocketMode))
	}
	// Webmail addresses alone are enough to open.
	ls2, err := Open(testCtx(t), Options{Webmail: []string{"127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	closeAll(ls2)
	if len(ls2) != 1 || !ls2[0].Webmail {
		t.Errorf("webmail only: %+v", ls2)
	}
}
