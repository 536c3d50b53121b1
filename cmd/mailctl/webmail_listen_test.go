package main

import (
	"context"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailctl/lib/config"
	"mailctl/lib/listen"
	"mailctl/lib/proxyproto"
	"mailctl/lib/testenv"
)

// waitSocket waits for a unix socket to accept, then checks its mode.
func waitSocket(t *testing.T, path string) {
	t.Helper()
	waitFor(t, "socket "+path, func() bool {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o660 {
		t.Errorf("%s: mode %v, want a socket with 0660", path, fi.Mode())
	}
}

func dialWebmail(t *testing.T, sock, browser string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := proxyproto.Dial(ctx, "unix:"+sock, netip.MustParseAddr(browser))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIMAPDWebmailSocket: `mailctl imapd` opens the config's webmail
// socket (mode 0660) beside its port; there a webmail-only user logs in
// without TLS, and on the port the same user is refused.
func TestIMAPDWebmailSocket(t *testing.T) {
	address := "127.0.0.1:" + strconv.Itoa(freePort(t))
	e, _ := newIMAPEnv(t, "")
	sock := filepath.Join(e.dir, "run", "imap-webmail.sock") // run/ is made by imapd
	f, err := os.OpenFile(e.conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("[imapd]\nlisten = [\"" + address + "\"]\nwebmail_listen = [\"unix:" + sock + "\"]\n")
	f.Close()
	e.must("a password long enough\n", "useradd", "web@example.test", "--password-stdin", "--services", "webmail")
	startIMAPD(t, e)
	waitSocket(t, sock)

	c := imapclient.New(dialWebmail(t, sock, "192.0.2.30"), nil)
	defer c.Close()
	if err := c.Login("web@example.test", imapPassword).Wait(); err != nil {
		t.Fatalf("LOGIN on the webmail socket: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	p, err := imapclient.DialInsecure(address, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Login("web@example.test", imapPassword).Wait(); err == nil || !strings.Contains(err.Error(), "may not use IMAP") {
		t.Fatalf("LOGIN of a webmail-only user on the IMAP port: %v", err)
	}
}

// TestServeWebmailSockets: `mailctl serve` opens imapd's and submitd's
// webmail sockets from the config, and a message sent through submitd's
// (AUTH PLAIN without TLS) is delivered.
func TestServeWebmailSockets(t *testing.T) {
	sub := "127.0.0.1:" + strconv.Itoa(freePort(t))
	imapAddr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	dir := t.TempDir()
	imapSock, subSock := filepath.Join(dir, "imap-webmail.sock"), filepath.Join(dir, "submission-webmail.sock")
	e, _ := newSMTPTestEnv(t, `[modules]
smtpd = false
submitd = true
imapd = true
pop3d = false
lmtp = false
queue = false
webmaild = false
pickup = false
[submitd]
listen = ["`+sub+`"]
listen_tls = []
webmail_listen = ["unix:`+subSock+`"]
[imapd]
listen = ["`+imapAddr+`"]
listen_tls = []
webmail_listen = ["unix:`+imapSock+`"]
`)
	e.addUser("bob@example.test")
	e.must("a password long enough\n", "useradd", "web@example.test", "--password-stdin", "--services", "webmail")
	e.startDaemon(t, e.bin, "serve")
	waitSocket(t, imapSock)
	waitSocket(t, subSock)

	c := smtp.NewClient(dialWebmail(t, subSock, "2001:db8::30"))
	defer c.Close()
	if err := c.Hello("webmail.example.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", "web@example.test", "a password long enough")); err != nil {
		t.Fatalf("AUTH PLAIN on the webmail socket: %v", err)
	}
	msg := "From: web@example.test\r\nTo: bob@example.test\r\nSubject: via webmail\r\n\r\nhi\r\n"
	if err := c.SendMail("web@example.test", []string{"bob@example.test"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("sending: %v", err)
	}
	files := e.newFiles("bob@example.test")
	if len(files) != 1 {
		t.Fatalf("bob has %d messages, want 1", len(files))
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "([IPv6:2001:db8::30] via webmail)") {
		t.Errorf("Received: does not name the browser:\n%s", b)
	}
}

// TestSubmitdListenWebmailFlag: --listen-webmail replaces the config's
// addresses like --listen does.
func TestSubmitdListenWebmailFlag(t *testing.T) {
	e, _ := newSMTPTestEnv(t, "")
	sock := filepath.Join(e.dir, "sub-webmail.sock")
	e.startDaemon(t, e.bin, "submitd", "--listen", "127.0.0.1:"+strconv.Itoa(freePort(t)), "--listen-webmail", "unix:"+sock)
	waitSocket(t, sock)
	c := smtp.NewClient(dialWebmail(t, sock, "192.0.2.31"))
	defer c.Close()
	if err := c.Hello("webmail.example.test"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); !ok {
		t.Error("no AUTH on the webmail socket")
	}
}

// chownWebmailSockets gives a webmail socket bound by root to the mail
// account, and leaves other sockets alone.
func TestChownWebmailSockets(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: only root binds sockets for another account")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no account nobody to hand the socket to: %v", err)
	}
	dir := t.TempDir()
	web, other := filepath.Join(dir, "w.sock"), filepath.Join(dir, "o.sock")
	lns, err := listen.Open(context.Background(), listen.Options{Listen: []string{"unix:" + other}, Webmail: []string{"unix:" + web}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	if err := chownWebmailSockets(&config.Config{User: "nobody"}, lns); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{web: nobody.Uid, other: "0"} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if uid := strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Uid)); uid != want {
			t.Errorf("%s: owner %s, want %s", path, uid, want)
		}
	}
}

// TestIMAPDSystemdWebmailSocket: a systemd socket named "imap-webmail" is
// served as webmaild's listener, beside "imap".
func TestIMAPDSystemdWebmailSocket(t *testing.T) {
	ssa := testenv.NeedCommand(t, "systemd-socket-activate", "systemd")
	e, _ := newIMAPEnv(t, "")
	e.must("a password long enough\n", "useradd", "web@example.test", "--password-stdin", "--services", "webmail")
	plain := "127.0.0.1:" + strconv.Itoa(freePort(t))
	sock := filepath.Join(e.dir, "imap-webmail.sock")
	c := exec.Command(ssa, "-l", plain, "-l", sock, "--fdname=imap:imap-webmail",
		"-E", "MAILCTL_TEST_MAIN=1", "-E", "MAILCTL_CONFIG="+e.conf, e.bin, "imapd")
	c.Env = e.environ()
	var stderr strings.Builder
	c.Stderr = &syncWriter{w: &stderr}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		c.Process.Signal(syscall.SIGTERM)
		c.Wait()
		if t.Failed() {
			t.Logf("stderr:\n%s", stderr.String())
		}
	}()
	var conn net.Conn
	waitFor(t, "the webmail socket", func() bool {
		var err error
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err = proxyproto.Dial(ctx, "unix:"+sock, netip.MustParseAddr("192.0.2.32"))
		return err == nil
	})
	ic := imapclient.New(conn, nil)
	defer ic.Close()
	if err := ic.Login("web@example.test", imapPassword).Wait(); err != nil {
		t.Fatalf("LOGIN on the systemd webmail socket: %v", err)
	}
	p := dialIMAP(t, plain, nil, nil) // bob, on the ordinary socket
	if _, err := p.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}
