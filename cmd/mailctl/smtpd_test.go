package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/listen"
	"mailctl/lib/spool"
	"mailctl/lib/testenv"
)

// newSMTPTestEnv is a test installation with a self-signed certificate
// for localhost; it returns the env and a client config trusting it.
func newSMTPTestEnv(t testing.TB, extra string) (*testEnv, *tls.Config) {
	t.Helper()
	tdir := t.TempDir()
	cert, key := filepath.Join(tdir, "cert.pem"), filepath.Join(tdir, "key.pem")
	if err := listen.GenerateSelfSigned(cert, key, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, fmt.Sprintf("[tls]\ncert = %q\nkey = %q\n%s", cert, key, extra))
	pem, err := os.ReadFile(cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return e, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// startDaemon runs mailctl with args until the test ends.
func (e *testEnv) startDaemon(t *testing.T, name string, args ...string) {
	t.Helper()
	c := exec.Command(name, args...)
	c.Env = e.environ()
	var stderr strings.Builder
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(name), stderr.String())
		}
	})
}

// waitListening waits until address accepts connections.
func waitListening(t *testing.T, address string) {
	t.Helper()
	waitFor(t, "a listener at "+address, func() bool {
		c, err := net.DialTimeout("tcp", address, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// spoolEntries lists what the outbound queue holds.
func (e *testEnv) spoolEntries(t *testing.T) []spool.Entry {
	t.Helper()
	q, err := spool.Open(filepath.Join(e.dir, "queue"), spool.Options{UID: -1, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	es, err := q.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestSMTPDSwaks: the MX under --listen, spoken to by swaks with
// STARTTLS: local mail arrives in the Maildir, a remote alias target goes
// to the spool with an SRS sender, and relaying is refused.
func TestSMTPDSwaks(t *testing.T) {
	swaks := needSwaksTLS(t)
	e, _ := newSMTPTestEnv(t, "")
	e.addUser("bob@example.test")
	e.must("", "alias", "add", "fwd@example.test", "carol@elsewhere.test")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDaemon(t, e.bin, "smtpd", "--listen", address)
	waitListening(t, address)
	run := func(args ...string) (string, error) {
		base := []string{"--server", address, "--from", "alice@remote.test", "--helo", "client.remote.test", "--tls", "--timeout", "20"}
		out, err := exec.Command(swaks, append(base, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := run("--to", "bob@example.test", "--header", "Subject: via swaks"); err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	files := e.newFiles("bob@example.test")
	if len(files) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(files))
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "Subject: via swaks") || !strings.Contains(string(b), "with ESMTPS id") {
		t.Errorf("delivered message:\n%s", b)
	}
	if out, err := run("--to", "fwd@example.test"); err != nil {
		t.Fatalf("swaks to the forwarding alias: %v\n%s", err, out)
	}
	es := e.spoolEntries(t)
	if len(es) != 1 || len(es[0].Recipients) != 1 || es[0].Recipients[0].Address.String() != "carol@elsewhere.test" ||
		!strings.HasPrefix(es[0].From.String(), "srs0=") || !strings.HasSuffix(es[0].From.String(), "@example.test") {
		t.Fatalf("spool holds %+v, want one message to carol with an SRS sender", es)
	}
	out, err := run("--to", "carol@elsewhere.test")
	if err == nil || !strings.Contains(out, "554 5.7.1") {
		t.Errorf("relay attempt: %v\n%s", err, out)
	}
	// carol's server bounces the forwarded message to the SRS sender: the
	// bounce goes back to alice.
	if out, err := exec.Command(swaks, "--server", address, "--from", "<>", "--to", es[0].From.String(), "--tls", "--timeout", "20").CombinedOutput(); err != nil {
		t.Fatalf("bounce to the SRS address: %v\n%s", err, out)
	}
	found := false
	for _, en := range e.spoolEntries(t) {
		if en.From.IsZero() && len(en.Recipients) == 1 && en.Recipients[0].Address.String() == "alice@remote.test" {
			found = true
		}
	}
	if !found {
		t.Errorf("the bounce was not queued for alice@remote.test: %+v", e.spoolEntries(t))
	}
}

// needSwaksTLS returns swaks, with the Perl modules its --tls needs (only
// recommended by the package, so installed apart; make test-deps has them).
func needSwaksTLS(t *testing.T) string {
	t.Helper()
	swaks := testenv.NeedCommand(t, "swaks", "swaks")
	perlTLS := func() bool { return exec.Command("perl", "-MNet::SSLeay", "-MIO::Socket::SSL", "-e", "1").Run() == nil }
	if !perlTLS() && os.Geteuid() == 0 {
		c := exec.Command("apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", "--no-install-recommends", "libnet-ssleay-perl", "libio-socket-ssl-perl")
		c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("installing Perl TLS for swaks: %v\n%s", err, out)
		}
	}
	if !perlTLS() {
		t.Fatal("swaks --tls needs libnet-ssleay-perl and libio-socket-ssl-perl (make test-deps)")
	}
	return swaks
}

// TestSMTPDInetd: one process per connection (systemd-socket-activate
// --inetd); a smuggling attempt is refused and closes the connection,
// the next connection delivers.
func TestSMTPDInetd(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e, _ := newSMTPTestEnv(t, "")
	e.addUser("bob@example.test")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	logFile := filepath.Join(e.dir, "smtpd.log")
	e.startDaemon(t, ssa, "--inetd", "-a", "-l", address,
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf,
		e.bin, "smtpd", "--inetd", "--log-file", logFile)
	waitListening(t, address)
	dialog := func(content, want string) {
		t.Helper()
		conn, err := net.DialTimeout("tcp", address, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(conn)
		expect := func(code string) {
			t.Helper()
			for {
				line, err := r.ReadString('\n')
				if err != nil || !strings.HasPrefix(line, code[:3]) {
					t.Fatalf("reply %q (%v), want %s", line, err, code)
				}
				if line[3] != '-' {
					if !strings.HasPrefix(line, code) {
						t.Fatalf("reply %q, want %s", line, code)
					}
					return
				}
			}
		}
		expect("220")
		for _, c := range []string{"EHLO client.test", "MAIL FROM:<alice@remote.test>", "RCPT TO:<bob@example.test>"} {
			fmt.Fprintf(conn, "%s\r\n", c)
			expect("250")
		}
		fmt.Fprint(conn, "DATA\r\n")
		expect("354")
		fmt.Fprint(conn, content)
		expect(want)
	}
	dialog("Subject: a\r\n\r\nx\n.\nMAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\n.\r\n", "554 5.5.2")
	dialog("Subject: fine\r\n\r\nx\r\n.\r\n", "250 2.0.0")
	waitFor(t, "delivery", func() bool { return len(e.newFiles("bob@example.test")) == 1 })
	b, _ := os.ReadFile(e.newFiles("bob@example.test")[0])
	if !strings.Contains(string(b), "Subject: fine") {
		t.Errorf("delivered:\n%s", b)
	}
	if lb, _ := os.ReadFile(logFile); !strings.Contains(string(lb), "message refused") {
		t.Errorf("the log does not show the refusal:\n%s", lb)
	}
}

// TestSMTPDSystemdSocket: a named socket from systemd-socket-activate.
func TestSMTPDSystemdSocket(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e, clientTLS := newSMTPTestEnv(t, "")
	e.addUser("bob@example.test")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDaemon(t, ssa, "-l", address, "--fdname=smtp",
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf, e.bin, "smtpd")
	waitListening(t, address)
	c, err := smtp.DialStartTLS(address, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("alice@remote.test", []string{"bob@example.test", "Postmaster@example.test"}, strings.NewReader("Subject: systemd\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	if n := len(e.newFiles("bob@example.test")); n != 1 {
		t.Errorf("bob has %d messages, want 1", n)
	}
}
