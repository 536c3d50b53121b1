package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"mailctl/lib/addr"
	"mailctl/lib/dkim"
	"mailctl/lib/listen"
	"mailctl/lib/resolver"
	"mailctl/lib/smtpout/smtptest"
	"mailctl/lib/spool"
)

// outWorld is the internet on loopback for the queue: a DNS server the
// config points at, remote MXes on one port, and a relay with its CA.
type outWorld struct {
	*testEnv
	dns  *smtptest.DNS
	port int
	ca   *smtptest.CA
}

// newQueueEnv makes an installation whose queue resolves through an
// in-process DNS server and delivers to MXes on 127.0.0.x at one port.
// extra is TOML that starts with a table.
func newQueueEnv(t *testing.T, extra string, records ...string) *outWorld {
	t.Helper()
	w := &outWorld{dns: smtptest.NewDNS(t, records...), port: smtptest.Port(t), ca: smtptest.NewCA(t)}
	w.testEnv = newTestEnv(t, fmt.Sprintf("[queue]\nport = %d\nretry_initial = \"1m\"\n%s", w.port, extra))
	b, err := os.ReadFile(w.conf)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.Replace(string(b), `resolver = ["127.0.0.1:53"]`, fmt.Sprintf("resolver = [%q]", w.dns.Addr), 1)
	if err := os.WriteFile(w.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *outWorld) mx(t *testing.T, ip string, o smtptest.Options) *smtptest.Server {
	o.Addr = fmt.Sprintf("%s:%d", ip, w.port)
	return smtptest.NewServer(t, o)
}

// enqueue puts a message in the spool as submitd would.
func (w *outWorld) enqueue(t *testing.T, from, subject string, rcpts ...string) string {
	t.Helper()
	sp, err := spool.Open(filepath.Join(w.dir, "queue"), spool.Options{UID: -1, GID: -1})
	if err != nil {
		t.Fatal(err)
	}
	env := spool.Envelope{Origin: "submitd"}
	if from != "" {
		env.From = addr.MustParse(from)
	}
	for _, r := range rcpts {
		env.Recipients = append(env.Recipients, spool.Recipient{Address: addr.MustParse(r)})
	}
	body := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%d@example.test>\r\n\r\nHello.\r\n", from, rcpts[0], subject, time.Now().UnixNano())
	id, err := sp.Enqueue(context.Background(), env, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// list runs "queue list --json".
func (w *outWorld) list(t *testing.T) []queueEntry {
	t.Helper()
	var out []queueEntry
	if err := json.Unmarshal([]byte(w.must("", "queue", "list", "--json")), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func (w *outWorld) runOnce(t *testing.T) string {
	t.Helper()
	_, errs, code := w.run("", "queue", "run", "--once")
	if code != 0 {
		t.Fatalf("queue run --once: exit %d\n%s", code, errs)
	}
	return errs
}

func (w *outWorld) readMail(t *testing.T, address string) string {
	t.Helper()
	var all strings.Builder
	for _, f := range w.newFiles(address) {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	return all.String()
}

func activeEmpty(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "queue", "active"))
	if err != nil || len(ents) != 0 {
		t.Errorf("active/ holds %d entries (%v)", len(ents), err)
	}
}

var exampleNet = []string{"example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2"}

func TestQueueRunDelivers(t *testing.T) {
	w := newQueueEnv(t, "", exampleNet...)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{TLS: w.ca.ServerTLS(t, "mx.example.net")})
	id := w.enqueue(t, "alice@example.test", "first", "bob@example.net")
	l := w.list(t)
	if len(l) != 1 || l[0].ID != id || l[0].State != "incoming" || l[0].Sender != "alice@example.test" ||
		len(l[0].Recipients) != 1 || l[0].Recipients[0].Address != "bob@example.net" || l[0].Recipients[0].Status != "pending" {
		t.Fatalf("queue list --json: %+v", l)
	}
	errs := w.runOnce(t)
	got := mx.Messages()
	if len(got) != 1 || got[0].From != "alice@example.test" || got[0].Helo != "mx.example.test" || !got[0].TLS {
		t.Fatalf("MX got %+v\n%s", got, errs)
	}
	if !strings.Contains(errs, "path=direct") {
		t.Errorf("log does not name the path:\n%s", errs)
	}
	if l := w.list(t); len(l) != 0 {
		t.Errorf("queue after delivery: %+v", l)
	}
	if out := w.must("", "queue", "list"); !strings.Contains(out, "The queue is empty.") {
		t.Errorf("queue list: %q", out)
	}
}

func TestQueueRetryAndFlush(t *testing.T) {
	w := newQueueEnv(t, "", exampleNet...)
	var greylist atomic.Bool
	greylist.Store(true)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{Rcpt: func(string) error {
		if greylist.Load() {
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted, try again later"}
		}
		return nil
	}})
	id := w.enqueue(t, "alice@example.test", "greylisted", "bob@example.net")
	w.runOnce(t)
	l := w.list(t)
	if len(l) != 1 || l[0].State != "deferred" || l[0].Attempts != 1 || l[0].NextAttempt == nil ||
		l[0].LastReply != "451 4.7.1 greylisted, try again later" || l[0].Recipients[0].LastReply != l[0].LastReply {
		t.Fatalf("after a 4xx: %+v", l)
	}
	if out := w.must("", "queue", "list"); !strings.Contains(out, id) || !strings.Contains(out, "-> bob@example.net  (451 4.7.1 greylisted") {
		t.Errorf("queue list:\n%s", out)
	}
	if out := w.must("", "queue", "show", id); !strings.Contains(out, "state:        deferred") || !strings.Contains(out, "Subject: greylisted") {
		t.Errorf("queue show:\n%s", out)
	}
	w.runOnce(t) // not due yet
	if len(mx.Messages()) != 0 || len(w.list(t)) != 1 {
		t.Fatal("retried before it was due")
	}
	greylist.Store(false)
	if out := w.must("", "queue", "flush"); !strings.Contains(out, "1 deferred message(s) made due") {
		t.Errorf("flush: %q", out)
	}
	w.runOnce(t)
	if len(mx.Messages()) != 1 || len(w.list(t)) != 0 {
		t.Fatalf("after flush: MX %d messages, queue %+v", len(mx.Messages()), w.list(t))
	}
}

func TestQueueBounceInSendersInbox(t *testing.T) {
	w := newQueueEnv(t, "", exampleNet...)
	w.addUser("alice@example.test")
	w.mx(t, "127.0.0.2", smtptest.Options{Rcpt: func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: User unknown"}
	}})
	w.enqueue(t, "alice@example.test", "to nobody", "nobody@example.net")
	w.runOnce(t)
	mail := strings.ReplaceAll(w.readMail(t, "alice@example.test"), "\n ", " ") // unfold
	for _, want := range []string{
		"Return-Path: <>", "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>", "Auto-Submitted: auto-replied",
		"multipart/report; report-type=delivery-status", "Final-Recipient: rfc822; nobody@example.net", "Action: failed", "Status: 5.1.1",
		"Diagnostic-Code: smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected: User unknown", "Subject: to nobody",
	} {
		if !strings.Contains(mail, want) {
			t.Errorf("bounce lacks %q:\n%s", want, mail)
		}
	}
	if l := w.list(t); len(l) != 0 {
		t.Errorf("queue %+v", l)
	}
}

func TestQueueNullMXAndPostmaster(t *testing.T) {
	w := newQueueEnv(t, "", "nomail.example. MX 0 .")
	w.addUser("admin@example.test") // receives postmaster@example.test
	// From a local address that does not exist: the bounce fails, and its
	// failure goes to the postmaster; nothing ever goes to <>.
	w.enqueue(t, "ghost@example.test", "from a ghost", "x@nomail.example")
	errs := w.runOnce(t)
	mail := w.readMail(t, "admin@example.test")
	for _, want := range []string{"Subject: Postmaster Copy: Undelivered Mail", "Final-Recipient: rfc822; ghost@example.test", "Return-Path: <>"} {
		if !strings.Contains(mail, want) {
			t.Errorf("postmaster copy lacks %q:\n%s\n%s", want, mail, errs)
		}
	}
	if !strings.Contains(errs, "5.1.10") {
		t.Errorf("the null MX is not in the log:\n%s", errs)
	}
	if l := w.list(t); len(l) != 0 {
		t.Errorf("queue %+v", l)
	}
}

// relayConfig starts a relay on 127.0.0.6 (STARTTLS, verified with the
// CA file, AUTH from a password file) and returns its TOML.
func (w *outWorld) relay(t *testing.T, mode string, extra string) (*smtptest.Server, string) {
	t.Helper()
	srv := smtptest.NewServer(t, smtptest.Options{Addr: "127.0.0.6:0", TLS: w.ca.ServerTLS(t, "smtp.provider.example"), Users: map[string]string{"me@example.test": "relay secret"}})
	w.dns.Add(t, "smtp.provider.example. A 127.0.0.6")
	dir := t.TempDir()
	pw := filepath.Join(dir, "relay-password")
	if err := os.WriteFile(pw, []byte("relay secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	port := netip.MustParseAddrPort(srv.Addr).Port()
	return srv, fmt.Sprintf("[relay]\nmode = %q\nhost = \"smtp.provider.example\"\nport = %d\nca_file = %q\nusername = \"me@example.test\"\npassword_file = %q\n%s\n",
		mode, port, w.ca.WritePEM(t, dir), pw, extra)
}

func TestQueueSmarthostFallback(t *testing.T) {
	w := &outWorld{dns: smtptest.NewDNS(t,
		"blocked.example. MX 10 mx.blocked.example.", "mx.blocked.example. A 127.0.0.2",
		"closed.example. MX 10 mx.closed.example.", "mx.closed.example. A 127.0.0.3", // port 25 "blocked": refused
	), port: smtptest.Port(t), ca: smtptest.NewCA(t)}
	relay, relayTOML := w.relay(t, "direct-then-smarthost", "")
	*w = *newQueueEnvWith(t, w, relayTOML)
	w.mx(t, "127.0.0.2", smtptest.Options{Mail: func(string, *smtp.MailOptions) error {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Service unavailable; Client host blocked using zen.spamhaus.org"}
	}})
	w.enqueue(t, "alice@example.test", "via relay 1", "a@blocked.example")
	w.enqueue(t, "alice@example.test", "via relay 2", "b@closed.example")
	errs := w.runOnce(t)
	got := relay.Messages()
	if len(got) != 2 || got[0].AuthUser != "me@example.test" || !got[0].TLS {
		t.Fatalf("relay got %+v\n%s", got, errs)
	}
	if !strings.Contains(errs, "trying the smarthost now") || !strings.Contains(errs, "path=smarthost") {
		t.Errorf("log:\n%s", errs)
	}
	if strings.Contains(errs, "relay secret") {
		t.Error("the relay password is in the log")
	}
	if l := w.list(t); len(l) != 0 {
		t.Errorf("queue %+v", l)
	}
	if out := w.must("", "config", "check"); strings.Contains(out, "relay secret") {
		t.Error("config check shows the password")
	}
}

// newQueueEnvWith is newQueueEnv for a world made first (its relay's TOML
// needs the CA and DNS).
func newQueueEnvWith(t *testing.T, w *outWorld, extra string) *outWorld {
	t.Helper()
	n := &outWorld{dns: w.dns, port: w.port, ca: w.ca}
	n.testEnv = newTestEnv(t, fmt.Sprintf("[queue]\nport = %d\nretry_initial = \"1m\"\n%s", w.port, extra))
	b, _ := os.ReadFile(n.conf)
	conf := strings.Replace(string(b), `resolver = ["127.0.0.1:53"]`, fmt.Sprintf("resolver = [%q]", w.dns.Addr), 1)
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestQueueSmarthostHourlyCap(t *testing.T) {
	w := &outWorld{dns: smtptest.NewDNS(t), port: smtptest.Port(t), ca: smtptest.NewCA(t)}
	relay, relayTOML := w.relay(t, "smarthost", "messages_per_hour = 1")
	*w = *newQueueEnvWith(t, w, relayTOML)
	w.addUser("alice@example.test")
	w.enqueue(t, "alice@example.test", "one", "x@anywhere.example")
	w.enqueue(t, "alice@example.test", "two", "y@anywhere.example")
	w.runOnce(t)
	if n := len(relay.Messages()); n != 1 {
		t.Fatalf("relay got %d messages, want 1", n)
	}
	l := w.list(t)
	if len(l) != 1 || l[0].State != "deferred" || l[0].Attempts != 0 || !strings.Contains(l[0].LastReply, "relay limit reached (1 messages per hour)") {
		t.Fatalf("queue %+v", l)
	}
	if l[0].NextAttempt == nil || l[0].NextAttempt.Sub(time.Now()) < 55*time.Minute {
		t.Errorf("next attempt %v, want about an hour from now", l[0].NextAttempt)
	}
	// A second run in the same hour (another process) still waits.
	w.must("", "queue", "flush")
	w.runOnce(t)
	if len(relay.Messages()) != 1 || len(w.list(t)) != 1 {
		t.Error("the cap was not kept across processes")
	}
	if mail := w.readMail(t, "alice@example.test"); mail != "" {
		t.Errorf("a bounce for a paced message:\n%s", mail)
	}
}

func TestQueueNo8BitMIMEPeer(t *testing.T) {
	w := newQueueEnv(t, "", exampleNet...)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{No8BitMIME: true})
	sp, _ := spool.Open(filepath.Join(w.dir, "queue"), spool.Options{UID: -1, GID: -1})
	_, err := sp.Enqueue(context.Background(), spool.Envelope{From: addr.MustParse("alice@example.test"), EightBit: true,
		Recipients: []spool.Recipient{{Address: addr.MustParse("bob@example.net")}}},
		strings.NewReader("From: alice@example.test\nSubject: accents\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nDéjà vu, naïve café.\n"))
	if err != nil {
		t.Fatal(err)
	}
	w.runOnce(t)
	got := mx.Messages()
	if len(got) != 1 {
		t.Fatalf("MX got %d messages", len(got))
	}
	data := string(got[0].Data)
	for _, c := range got[0].Data {
		if c >= 0x80 {
			t.Fatalf("8-bit byte sent to a 7-bit peer:\n%s", data)
		}
	}
	if !strings.Contains(data, "Content-Transfer-Encoding: quoted-printable") || !strings.Contains(data, "D=C3=A9j=C3=A0 vu") {
		t.Errorf("not quoted-printable:\n%s", data)
	}
}

func TestQueueShowDelete(t *testing.T) {
	w := newQueueEnv(t, "")
	id := w.enqueue(t, "alice@example.test", "to delete", "bob@example.net")
	var q queueEntry
	if err := json.Unmarshal([]byte(w.must("", "queue", "show", id, "--json")), &q); err != nil {
		t.Fatal(err)
	}
	if q.ID != id || q.State != "incoming" || !strings.Contains(q.Header, "Subject: to delete") || q.Size <= 0 {
		t.Errorf("show --json: %+v", q)
	}
	if out := w.must("", "queue", "delete", id); !strings.Contains(out, "removed") {
		t.Errorf("delete: %q", out)
	}
	w.expect(66, "", "queue", "delete", id)
	w.expect(66, "", "queue", "show", id)
	w.expect(66, "", "queue", "show", "../../etc/passwd")
}

// TestQueueKill9MidDelivery: queue run is killed while a slow MX holds the
// DATA reply; the next run puts the message back and delivers it, and
// nothing is left in active/.
func TestQueueKill9MidDelivery(t *testing.T) {
	w := newQueueEnv(t, "", exampleNet...)
	var slow atomic.Bool
	slow.Store(true)
	inData := make(chan struct{}, 10)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{Data: func(*smtptest.Message) error {
		if slow.Load() {
			inData <- struct{}{}
			time.Sleep(3 * time.Second)
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "too slow, not taken"}
		}
		return nil
	}})
	id := w.enqueue(t, "alice@example.test", "survives", "bob@example.net")
	c := w.command("", "queue", "run")
	var stderr strings.Builder
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-inData:
	case <-time.After(20 * time.Second):
		c.Process.Kill()
		c.Wait()
		t.Fatalf("the runner never reached DATA\n%s", stderr.String())
	}
	c.Process.Signal(syscall.SIGKILL)
	c.Wait()
	if ents, _ := os.ReadDir(filepath.Join(w.dir, "queue", "active")); len(ents) != 1 || ents[0].Name() != id {
		t.Fatalf("killed mid-delivery, active/ holds %v", ents)
	}
	slow.Store(false)
	w.runOnce(t)
	if got := mx.Messages(); len(got) != 1 || !strings.Contains(string(got[0].Data), "Subject: survives") {
		t.Fatalf("MX got %+v", got)
	}
	activeEmpty(t, w.dir)
	if l := w.list(t); len(l) != 0 {
		t.Errorf("queue %+v", l)
	}
}

// TestQueueKill9AtRandom kills queue run at random moments while it
// delivers many messages: after one more run every message arrived (some
// maybe twice), and nothing is left in the queue.
func TestQueueKill9AtRandom(t *testing.T) {
	w := newQueueEnv(t, "", exampleNet...)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{Data: func(*smtptest.Message) error {
		time.Sleep(5 * time.Millisecond)
		return nil
	}})
	const n = 30
	for i := range n {
		w.enqueue(t, "alice@example.test", fmt.Sprintf("msg-%02d", i), fmt.Sprintf("r%d@example.net", i))
	}
	for round, delay := range []time.Duration{30, 80, 5, 150, 300} {
		c := w.command("", "queue", "run")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		c.Process.Signal(syscall.SIGKILL)
		c.Wait()
		t.Logf("round %d: killed after %dms, MX has %d", round, delay, len(mx.Messages()))
	}
	w.runOnce(t)
	seen := map[string]bool{}
	for _, m := range mx.Messages() {
		for i := range n {
			if strings.Contains(string(m.Data), fmt.Sprintf("Subject: msg-%02d\r\n", i)) {
				seen[fmt.Sprint(i)] = true
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d of %d messages arrived", len(seen), n)
	}
	activeEmpty(t, w.dir)
	if l := w.list(t); len(l) != 0 {
		t.Errorf("queue %+v", l)
	}
}

// TestQueueSubmittedMailReachesMX: the whole path — a user submits to a
// remote address through submitd, and the queue module of "serve"
// delivers it to the remote MX.
func TestQueueSubmittedMailReachesMX(t *testing.T) {
	tdir := t.TempDir()
	cert, key := filepath.Join(tdir, "cert.pem"), filepath.Join(tdir, "key.pem")
	if err := listen.GenerateSelfSigned(cert, key, []string{"localhost", "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(cert)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	sub := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	w := newQueueEnv(t, fmt.Sprintf(`[tls]
cert = %q
key = %q
[modules]
smtpd = false
imapd = false
pop3d = false
lmtp = false
pickup = false
submitd = true
queue = true
[submitd]
listen = [%q]
listen_tls = []
webmail_listen = []
`, cert, key, sub), exampleNet...)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{})
	w.addUser("alice@example.test")
	w.startDaemon(t, w.bin, "serve")
	waitListening(t, sub)
	c, err := smtp.DialStartTLS(sub, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "alice@example.test", "a password long enough")); err != nil {
		t.Fatal(err)
	}
	msg := "From: alice@example.test\r\nTo: bob@example.net\r\nSubject: out into the world\r\n\r\nHi Bob.\r\n"
	if err := c.SendMail("alice@example.test", []string{"bob@example.net"}, strings.NewReader(msg)); err != nil {
		t.Fatal(err)
	}
	got := mx.WaitMessages(t, 1)
	if got[0].From != "alice@example.test" || !strings.Contains(string(got[0].Data), "Subject: out into the world") {
		t.Errorf("MX got %+v", got[0])
	}
	waitFor(t, "an empty queue", func() bool { return len(w.spoolEntries(t)) == 0 })
}

// TestQueueDKIMSigned: mail from a domain with a key arrives signed, and
// go-msgauth's verifier accepts the signature — also on a peer without
// 8BITMIME, where the message was converted before it was signed.
func TestQueueDKIMSigned(t *testing.T) {
	w := newQueueEnv(t, "",
		"example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2",
		"old.example. MX 10 mx.old.example.", "mx.old.example. A 127.0.0.3",
	)
	rec, err := dkim.Keygen(filepath.Join(w.dir, "dkim"), "example.test", "s1", dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	w.dns.Add(t, fmt.Sprintf("s1._domainkey.example.test. TXT %q", rec))
	modern := w.mx(t, "127.0.0.2", smtptest.Options{})
	old := w.mx(t, "127.0.0.3", smtptest.Options{No8BitMIME: true})
	sp, _ := spool.Open(filepath.Join(w.dir, "queue"), spool.Options{UID: -1, GID: -1})
	msg := "From: Alice <alice@example.test>\nTo: bob@example.net\nSubject: signed\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\nGrüße, signed.\n"
	_, err = sp.Enqueue(context.Background(), spool.Envelope{From: addr.MustParse("alice@example.test"), EightBit: true, Origin: "submitd",
		Recipients: []spool.Recipient{{Address: addr.MustParse("bob@example.net")}, {Address: addr.MustParse("carol@old.example")}}},
		strings.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	w.runOnce(t)
	res, err := resolver.New(resolver.Options{Servers: []string{w.dns.Addr}})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(name string) ([]string, error) { return res.LookupTXT(context.Background(), name) }
	for name, mx := range map[string]*smtptest.Server{"8BITMIME peer": modern, "7-bit peer": old} {
		got := mx.Messages()
		if len(got) != 1 {
			t.Fatalf("%s got %d messages", name, len(got))
		}
		vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(got[0].Data), &msgdkim.VerifyOptions{LookupTXT: lookup})
		if err != nil || len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.test" {
			t.Errorf("%s: verification %v %+v\n%s", name, err, vs, got[0].Data)
		}
	}
}

// TestQueueDaemonAndOnce: the daemon delivers what arrives while it runs;
// "queue run --once" meanwhile exits 0 and leaves the work to it.
func TestQueueDaemonAndOnce(t *testing.T) {
	w := newQueueEnv(t, "", exampleNet...)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{})
	w.startDaemon(t, w.bin, "queue", "run")
	w.enqueue(t, "alice@example.test", "while running", "bob@example.net")
	mx.WaitMessages(t, 1)
	_, errs, code := w.run("", "queue", "run", "--once")
	if code != 0 || !strings.Contains(errs, "another queue runner is at work") {
		t.Errorf("--once beside the daemon: exit %d\n%s", code, errs)
	}
	w.expect(75, "", "queue", "run") // a second daemon
	waitFor(t, "an empty queue", func() bool { return len(w.spoolEntries(t)) == 0 })
}
