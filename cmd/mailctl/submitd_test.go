package main

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailctl/lib/testenv"
)

// smtplibScript sends one message with Python's smtplib: STARTTLS on 587
// or implicit TLS on 465, then AUTH (smtplib picks PLAIN or LOGIN).
const smtplibScript = `
import smtplib, ssl, sys
mode, host, port, cafile, user, password, to = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=cafile)
msg = "From: Bob <%s>\r\nTo: %s\r\nSubject: via smtplib %s\r\n\r\nHello from Python.\r\n" % (user, to, mode)
if mode == "starttls":
    s = smtplib.SMTP(host, int(port), local_hostname="laptop.example", timeout=20)
    s.starttls(context=ctx)
else:
    s = smtplib.SMTP_SSL(host, int(port), local_hostname="laptop.example", context=ctx, timeout=20)
s.login(user, password)
s.sendmail(user, to.split(","), msg)
s.quit()
`

// TestSubmitdClients: Python's smtplib and swaks send through submitd
// with STARTTLS on one port and implicit TLS on another; local mail lands
// in the Maildir, remote mail in the spool.
func TestSubmitdClients(t *testing.T) {
	python := testenv.NeedCommand(t, "python3", "python3")
	e, _ := newSMTPTestEnv(t, "")
	e.addUser("bob@example.test")
	e.addUser("carol@example.test")
	plain := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	implicit := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDaemon(t, e.bin, "submitd", "--listen", plain, "--listen-tls", implicit)
	waitListening(t, plain)
	waitListening(t, implicit)
	script := filepath.Join(e.dir, "send.py")
	if err := os.WriteFile(script, []byte(smtplibScript), 0o644); err != nil {
		t.Fatal(err)
	}
	cafile := e.tlsCert(t)
	for _, tt := range []struct{ mode, address string }{{"starttls", plain}, {"tls", implicit}} {
		host, port, _ := net.SplitHostPort(tt.address)
		out, err := exec.Command(python, script, tt.mode, host, port, cafile, "bob@example.test", "a password long enough",
			"carol@example.test,dave@remote.test").CombinedOutput()
		if err != nil {
			t.Fatalf("smtplib %s: %v\n%s", tt.mode, err, out)
		}
	}
	files := e.newFiles("carol@example.test")
	if len(files) != 2 {
		t.Fatalf("carol has %d messages, want 2", len(files))
	}
	all := ""
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all += string(b)
	}
	for _, want := range []string{"Subject: via smtplib starttls", "Subject: via smtplib tls", "with ESMTPSA id", "Message-ID: <", "Date: "} {
		if !strings.Contains(all, want) {
			t.Errorf("carol's mail lacks %q:\n%s", want, all)
		}
	}
	es := e.spoolEntries(t)
	if len(es) != 2 {
		t.Fatalf("spool holds %d messages, want 2", len(es))
	}
	for _, en := range es {
		if en.From.String() != "bob@example.test" || en.AuthUser != "bob@example.test" || len(en.Recipients) != 1 ||
			en.Recipients[0].Address.String() != "dave@remote.test" || en.Size <= 0 {
			t.Errorf("spool entry %+v", en)
		}
	}

	swaks := needSwaksTLS(t)
	out, err := exec.Command(swaks, "--server", plain, "--tls", "--auth", "LOGIN", "--auth-user", "bob@example.test",
		"--auth-password", "a password long enough", "--from", "bob@example.test", "--to", "carol@example.test",
		"--header", "From: bob@example.test", "--timeout", "20").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	if n := len(e.newFiles("carol@example.test")); n != 3 {
		t.Errorf("carol has %d messages after swaks, want 3", n)
	}
	// Someone else's address as sender: refused at MAIL.
	out, err = exec.Command(swaks, "--server", plain, "--tls", "--auth", "PLAIN", "--auth-user", "bob@example.test",
		"--auth-password", "a password long enough", "--from", "carol@example.test", "--to", "dave@remote.test", "--timeout", "20").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "553 5.7.1") {
		t.Errorf("forged sender: %v\n%s", err, out)
	}
}

// tlsCert returns the path of the test certificate named in the config.
func (e *testEnv) tlsCert(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(e.conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "cert = "); ok {
			return strings.Trim(v, `"`)
		}
	}
	t.Fatal("no cert in the config")
	return ""
}

// TestSubmitdLockoutAcrossProcesses: under inetd every connection is a
// process of its own; failed logins in one still lock the address out in
// the next.
func TestSubmitdLockoutAcrossProcesses(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e, clientTLS := newSMTPTestEnv(t, "")
	e.addUser("bob@example.test")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDaemon(t, ssa, "--inetd", "-a", "-l", address,
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf,
		e.bin, "submitd", "--inetd", "--log-file", filepath.Join(e.dir, "submitd.log"))
	waitListening(t, address)
	session := func(users []string, password, want string) {
		t.Helper()
		raw, err := net.DialTimeout("tcp", address, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(60 * time.Second))
		var conn net.Conn = raw
		r := bufio.NewReader(conn)
		expect := func(code string) {
			t.Helper()
			for {
				line, err := r.ReadString('\n')
				if err != nil || !strings.HasPrefix(line, code) && !(len(line) > 3 && line[3] == '-') {
					t.Fatalf("reply %q (%v), want %s", line, err, code)
				}
				if line[3] != '-' {
					return
				}
			}
		}
		send := func(s string) { fmt.Fprintf(conn, "%s\r\n", s) }
		expect("220")
		send("EHLO client.test")
		expect("250")
		send("STARTTLS")
		expect("220")
		tc := tls.Client(raw, clientTLS)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		conn, r = tc, bufio.NewReader(tc)
		send("EHLO client.test")
		expect("250")
		for _, u := range users {
			send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00"+u+"\x00"+password)))
			expect(want)
		}
	}
	// Ten wrong guesses, each for another user (so no per-user delay),
	// from one address, in one process.
	var guesses []string
	for i := range 10 {
		guesses = append(guesses, fmt.Sprintf("guess%d@example.test", i))
	}
	session(guesses, "wrong", "535 5.7.8")
	// A new connection is a new process: the right password is refused
	// for now.
	session([]string{"bob@example.test"}, "a password long enough", "454 4.7.0")
}

// TestServeSMTPModules: smtpd and submitd as modules of `mailctl serve`,
// one process: mail in through the MX, and through submission over
// implicit TLS.
func TestServeSMTPModules(t *testing.T) {
	mx := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	sub := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e, clientTLS := newSMTPTestEnv(t, fmt.Sprintf(`[modules]
smtpd = true
submitd = true
imapd = false
pop3d = false
lmtp = false
queue = false
webmaild = false
pickup = false
[smtpd]
listen = [%q]
[submitd]
listen = []
listen_tls = [%q]
webmail_listen = []
`, mx, sub))
	e.addUser("bob@example.test")
	e.startDaemon(t, e.bin, "serve")
	waitListening(t, mx)
	waitListening(t, sub)
	c, err := smtp.Dial(mx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail("alice@remote.test", []string{"bob@example.test"}, strings.NewReader("Subject: in\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	s, err := smtp.DialTLS(sub, clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Auth(sasl.NewPlainClient("", "bob@example.test", "a password long enough")); err != nil {
		t.Fatal(err)
	}
	if err := s.SendMail("bob@example.test", []string{"bob@example.test"}, strings.NewReader("From: bob@example.test\r\nSubject: out\r\n\r\nx\r\n")); err != nil {
		t.Fatal(err)
	}
	s.Quit()
	if n := len(e.newFiles("bob@example.test")); n != 2 {
		t.Errorf("bob has %d messages, want 2", n)
	}
}
