package listen

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Tests that need another process (systemd-socket-activate's child, a
// privilege drop) re-execute this test binary with childEnv set; TestMain
// then runs the child's job instead of the tests.
const (
	childEnv     = "MAILCTL_LISTEN_CHILD"  // "echo", "inetd", "drop"
	childGroups  = "MAILCTL_LISTEN_GROUPS" // Open calls, ";" between, "," between names
	childCert    = "MAILCTL_LISTEN_CERT"
	childKey     = "MAILCTL_LISTEN_KEY"
	childResult  = "MAILCTL_LISTEN_RESULT" // file the child appends result lines to
	childInetTLS = "MAILCTL_LISTEN_INETD_TLS"
	childDir     = "MAILCTL_LISTEN_DIR"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(runChild(mode))
	}
	os.Exit(m.Run())
}

func runChild(mode string) int {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	switch mode {
	case "echo":
		err = childEcho(log)
	case "inetd":
		err = childInetd(log)
	case "drop":
		err = childDrop(log)
	default:
		err = fmt.Errorf("unknown child mode %q", mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", mode, err)
		result("error %v", err)
		return 1
	}
	return 0
}

var resultMu sync.Mutex

// result appends one line to the result file the parent reads.
func result(format string, args ...any) {
	resultMu.Lock()
	defer resultMu.Unlock()
	path := os.Getenv(childResult)
	if path == "" {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return
	}
	fmt.Fprintf(f, format+"\n", args...)
	f.Close()
}

func childTLS() (*tls.Config, error) {
	if os.Getenv(childCert) == "" {
		return nil, nil
	}
	c, err := LoadCerts([]CertPair{{os.Getenv(childCert), os.Getenv(childKey)}}, nil)
	if err != nil {
		return nil, err
	}
	return c.TLSConfig(), nil
}

// childEcho opens listeners as a `serve` process would (one Open per group
// of names), then echoes on every connection until its listener ends.
func childEcho(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg, err := childTLS()
	if err != nil {
		return err
	}
	var all []Listener
	for _, g := range strings.Split(os.Getenv(childGroups), ";") {
		var names []string
		if g != "" {
			names = strings.Split(g, ",")
		}
		ls, err := Open(ctx, Options{Names: names, TLS: cfg, Logger: log})
		if err != nil {
			return err
		}
		all = append(all, ls...)
	}
	result("unclaimed=%s", strings.Join(Unclaimed(), ","))
	var wg sync.WaitGroup
	for _, l := range all {
		wg.Go(func() {
			for {
				c, err := l.Accept()
				if err != nil {
					result("accept-end name=%s closed=%t", l.Name, errors.Is(err, net.ErrClosed))
					return
				}
				serveEcho(c, l)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}

// serveEcho greets with what the server saw, then echoes one line.
func serveEcho(c net.Conn, l Listener) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	_, isTLS := c.(*tls.Conn)
	webmail := ""
	if l.Webmail {
		webmail = " webmail"
	}
	fmt.Fprintf(c, "name=%s mode=%s tls=%t%s\n", l.Name, l.Mode, isTLS, webmail)
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return
	}
	io.WriteString(c, "echo "+line)
}

// childInetd serves the one connection on stdin, then checks that the
// listener ends and that stdout no longer is the socket.
func childInetd(log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := childTLS()
	if err != nil {
		return err
	}
	opts := Options{Inetd: os.Getenv(childInetTLS) == "", InetdTLS: os.Getenv(childInetTLS) != "", TLS: cfg, Logger: log}
	ls, err := Open(ctx, opts)
	if err != nil {
		return err
	}
	if len(ls) != 1 {
		return fmt.Errorf("got %d listeners", len(ls))
	}
	l := ls[0]
	var st syscall.Stat_t
	syscall.Fstat(1, &st)
	result("stdout-socket=%t", st.Mode&syscall.S_IFMT == syscall.S_IFSOCK)
	c, err := l.Accept()
	if err != nil {
		return err
	}
	serveEcho(c, l)
	errc := make(chan error, 1)
	go func() { _, err := l.Accept(); errc <- err }()
	select {
	case err := <-errc:
		result("second-accept closed=%t", errors.Is(err, net.ErrClosed))
	case <-ctx.Done():
		result("second-accept blocked")
	}
	return nil
}

// childDrop switches to nobody and reports what it can still do.
func childDrop(log *slog.Logger) error {
	if err := DropPrivileges("nobody", log); err != nil {
		return err
	}
	uid, gid, err := LookupAccount("nobody")
	if err != nil {
		return err
	}
	groups, _ := syscall.Getgroups()
	result("euid=%d egid=%d uid=%d gid=%d want=%d/%d groups=%v", os.Geteuid(), os.Getegid(), os.Getuid(), os.Getgid(), uid, gid, groups)
	_, err = os.Open(filepath.Join(os.Getenv(childDir), "secret"))
	result("open-secret-denied=%t", errors.Is(err, os.ErrPermission))
	result("setuid0-refused=%t", syscall.Setuid(0) != nil)
	result("second-drop-err=%v", DropPrivileges("nobody", log))
	return nil
}

// genCert writes a self-signed certificate for hosts into dir and returns
// its paths and a pool that trusts it.
func genCert(t *testing.T, dir, base string, hosts ...string) (cert, key string, pool *x509.CertPool) {
	t.Helper()
	cert, key = filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if err := GenerateSelfSigned(cert, key, hosts); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("certificate not parsed into pool")
	}
	return cert, key, pool
}

func leafOf(t *testing.T, certPath string) *x509.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(certPath, strings.TrimSuffix(certPath, ".crt")+".key")
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// dialRetry connects to addr, retrying while a freshly started process has
// not bound it yet.
func dialRetry(t *testing.T, addr string) net.Conn {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(20 * time.Second))
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// talk reads the greeting, sends a line and returns greeting and echo.
func talk(t *testing.T, c net.Conn) (greeting, echo string) {
	t.Helper()
	r := bufio.NewReader(c)
	greeting, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading greeting: %v", err)
	}
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		t.Fatal(err)
	}
	echo, err = r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading echo: %v", err)
	}
	return strings.TrimSpace(greeting), strings.TrimSpace(echo)
}

// waitResult waits until the child's result file holds want.
func waitResult(t *testing.T, path, want string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("child result %s: want %q, have:\n%s", path, want, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
