package listen

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailctl/lib/testenv"
)

// startActivate runs the real systemd-socket-activate with args, then this
// test binary as its child with the given environment (NAME=VALUE).
func startActivate(t *testing.T, args, env []string) {
	t.Helper()
	sa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	full := append([]string{}, args...)
	for _, kv := range env {
		full = append(full, "-E", kv)
	}
	full = append(full, exe)
	// A file, not a buffer: children of an Accept=yes run inherit it, and
	// Wait would wait for them to close a pipe.
	out, err := os.Create(filepath.Join(t.TempDir(), "activate.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sa, full...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		out.Close()
		if t.Failed() {
			b, _ := os.ReadFile(out.Name())
			t.Logf("systemd-socket-activate %s:\n%s", strings.Join(full, " "), b)
		}
	})
}

type activationConn struct {
	port     int // index into the test's ports
	tls      bool
	greeting string
}

func TestSystemdActivation(t *testing.T) {
	tests := []struct {
		name    string
		args    string // %[1]d, %[2]d, %[3]d are free ports
		groups  string // child's Open calls: ";" between calls, "," between names
		conns   []activationConn
		results []string
	}{
		{
			name:    "one named socket",
			args:    "-l 127.0.0.1:%[1]d --fdname=lmtp",
			groups:  "lmtp",
			conns:   []activationConn{{0, false, "name=lmtp mode=plain tls=false"}},
			results: []string{"unclaimed=\n"},
		},
		{
			name:   "two modules pick their names, one socket left over",
			args:   "-l 127.0.0.1:%[1]d -l 127.0.0.1:%[2]d -l 127.0.0.1:%[3]d --fdname=submission:submissions:imaps",
			groups: "submission;submissions",
			conns: []activationConn{
				{0, false, "name=submission mode=plain tls=false"},
				{1, true, "name=submissions mode=implicit-tls tls=true"},
			},
			results: []string{"unclaimed=imaps\n"},
		},
		{
			name:   "webmail sockets are marked",
			args:   "-l 127.0.0.1:%[1]d -l 127.0.0.1:%[2]d --fdname=imap:imap-webmail",
			groups: "imap,imap-webmail",
			conns: []activationConn{
				{0, false, "name=imap mode=plain tls=false"},
				{1, false, "name=imap-webmail mode=plain tls=false webmail"},
			},
			results: []string{"unclaimed=\n"},
		},
		{
			name:    "unnamed socket taken by a daemon that names none",
			args:    "-l 127.0.0.1:%[1]d",
			groups:  "",
			conns:   []activationConn{{0, false, "name=LISTEN_FD_3 mode=plain tls=false"}},
			results: []string{"unclaimed=\n"},
		},
		{
			name:    "Accept=yes passes a connection",
			args:    "-a -l 127.0.0.1:%[1]d --fdname=smtps",
			groups:  "smtps",
			conns:   []activationConn{{0, true, "name=smtps mode=implicit-tls tls=true"}},
			results: []string{"accept-end name=smtps closed=true\n"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cert, key, pool := genCert(t, dir, "server", "localhost", "127.0.0.1")
			ports := []int{freePort(t), freePort(t), freePort(t)}
			resultFile := filepath.Join(dir, "result")
			startActivate(t, strings.Fields(fmt.Sprintf(tt.args, ports[0], ports[1], ports[2])), []string{
				childEnv + "=echo", childGroups + "=" + tt.groups,
				childCert + "=" + cert, childKey + "=" + key, childResult + "=" + resultFile,
			})
			for _, c := range tt.conns {
				conn := dialRetry(t, fmt.Sprintf("127.0.0.1:%d", ports[c.port]))
				if c.tls {
					conn = tlsClient(t, conn, pool)
				}
				greeting, echo := talk(t, conn)
				conn.Close()
				if greeting != c.greeting {
					t.Errorf("port %d: greeting %q, want %q", c.port, greeting, c.greeting)
				}
				if echo != "echo hello" {
					t.Errorf("port %d: echo %q", c.port, echo)
				}
			}
			for _, want := range tt.results {
				waitResult(t, resultFile, want)
			}
		})
	}
}

func TestInetdActivation(t *testing.T) {
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%t", useTLS), func(t *testing.T) {
			dir := t.TempDir()
			cert, key, pool := genCert(t, dir, "server", "localhost")
			port := freePort(t)
			resultFile := filepath.Join(dir, "result")
			env := []string{childEnv + "=inetd", childCert + "=" + cert, childKey + "=" + key, childResult + "=" + resultFile}
			want := "name= mode=plain tls=false"
			if useTLS {
				env = append(env, childInetTLS+"=1")
				want = "name= mode=implicit-tls tls=true"
			}
			startActivate(t, []string{"--inetd", "-a", "-l", fmt.Sprintf("127.0.0.1:%d", port)}, env)
			conn := dialRetry(t, fmt.Sprintf("127.0.0.1:%d", port))
			if useTLS {
				conn = tlsClient(t, conn, pool)
			}
			defer conn.Close()
			greeting, echo := talk(t, conn)
			if greeting != want || echo != "echo hello" {
				t.Errorf("got %q / %q, want %q / echo hello", greeting, echo, want)
			}
			// The server closed its side: the client sees the end of the stream.
			conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := conn.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("after the echo: read %d bytes, err %v; want EOF", n, err)
			}
			waitResult(t, resultFile, "second-accept closed=true")
			waitResult(t, resultFile, "stdout-socket=false")
		})
	}
}

func tlsClient(t *testing.T, c net.Conn, pool *x509.CertPool) *tls.Conn {
	t.Helper()
	tc := tls.Client(c, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	return tc
}
