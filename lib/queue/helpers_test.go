package queue

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/deliver"
	"mailctl/lib/resolver"
	"mailctl/lib/smtpout"
	"mailctl/lib/smtpout/smtptest"
	"mailctl/lib/spool"
)

// clock is a test clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fakeLocal records local deliveries; fail makes an address fail.
type fakeLocal struct {
	mu   sync.Mutex
	fail map[string]*deliver.Error
	got  []localMsg
}

type localMsg struct {
	from addr.Address
	to   []addr.Address
	data []byte
}

func (f *fakeLocal) Deliver(_ context.Context, env deliver.Envelope, r io.Reader, _ int64) []deliver.Result {
	data, _ := io.ReadAll(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []deliver.Result
	var ok []addr.Address
	for _, rc := range env.Recipients {
		res := deliver.Result{Recipient: rc, Err: f.fail[rc.String()]}
		if res.Err == nil {
			ok = append(ok, rc)
		}
		out = append(out, res)
	}
	if len(ok) > 0 {
		f.got = append(f.got, localMsg{env.Sender, ok, data})
	}
	return out
}

func (f *fakeLocal) messages() []localMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]localMsg(nil), f.got...)
}

func (f *fakeLocal) setFail(a string, e *deliver.Error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail == nil {
		f.fail = map[string]*deliver.Error{}
	}
	if e == nil {
		delete(f.fail, a)
	} else {
		f.fail[a] = e
	}
}

// env is a queue with its world: DNS, MXes on one port, a local MDA.
type env struct {
	t     *testing.T
	dns   *smtptest.DNS
	port  int
	ca    *smtptest.CA
	sp    *spool.Spool
	state string
	local *fakeLocal
	clock *clock
	log   *bytes.Buffer
	logMu sync.Mutex
}

func newEnv(t *testing.T, records ...string) *env {
	t.Helper()
	dir := t.TempDir()
	sp, err := spool.Open(dir+"/queue", spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return &env{
		t: t, dns: smtptest.NewDNS(t, records...), port: smtptest.Port(t), ca: smtptest.NewCA(t),
		sp: sp, state: dir + "/state", local: &fakeLocal{},
		clock: &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, log: &bytes.Buffer{},
	}
}

func (e *env) mx(ip string, o smtptest.Options) *smtptest.Server {
	o.Addr = fmt.Sprintf("%s:%d", ip, e.port)
	return smtptest.NewServer(e.t, o)
}

// relay starts a smarthost on 127.0.0.6 with STARTTLS and AUTH.
func (e *env) relay(o smtptest.Options) (*smtptest.Server, *smtpout.Relay) {
	o.Addr = "127.0.0.6:0"
	o.TLS = e.ca.ServerTLS(e.t, "relay.example.com")
	o.Users = map[string]string{"me@example.org": "pw"}
	s := smtptest.NewServer(e.t, o)
	ap := netip.MustParseAddrPort(s.Addr)
	e.dns.Add(e.t, "relay.example.com. A 127.0.0.6")
	return s, &smtpout.Relay{Host: "relay.example.com", Port: int(ap.Port()), TLS: &tls.Config{RootCAs: e.ca.Pool()}, Username: "me@example.org", Password: "pw"}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (e *env) logs() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

func (e *env) runner(mod func(*Options), relay *smtpout.Relay) *Runner {
	e.t.Helper()
	res, err := resolver.New(resolver.Options{Servers: []string{e.dns.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := smtpout.New(smtpout.Options{Hostname: "mx.example.org", Resolver: res, Port: e.port, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second, Relay: relay})
	if err != nil {
		e.t.Fatal(err)
	}
	o := Options{
		Spool: e.sp, SMTP: c, Local: e.local,
		IsLocalDomain: func(d string) (bool, error) { return d == "example.org", nil },
		Hostname:      "mx.example.org", Postmaster: addr.MustParse("postmaster@example.org"),
		Mode: ModeDirect, RetryInitial: 5 * time.Minute, RetryMax: 4 * time.Hour, MaxAge: 5 * 24 * time.Hour,
		DelayWarning: 4 * time.Hour, Concurrency: 4, StateDir: e.state, Now: e.clock.now,
		Logger: slog.New(slog.NewTextHandler(lockedWriter{&e.logMu, e.log}, nil)),
	}
	if mod != nil {
		mod(&o)
	}
	r, err := New(o)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// enqueue queues a message from alice@example.org (or from) to rcpts;
// a "local:" prefix marks a local recipient.
func (e *env) enqueue(from string, body string, rcpts ...string) string {
	e.t.Helper()
	en := spool.Envelope{Origin: "submitd", Received: e.clock.now()}
	if from != "" {
		en.From = addr.MustParse(from)
	}
	for _, r := range rcpts {
		a, local := strings.CutPrefix(r, "local:")
		en.Recipients = append(en.Recipients, spool.Recipient{Address: addr.MustParse(a), Local: local})
	}
	if body == "" {
		body = "From: Alice <alice@example.org>\r\nTo: someone\r\nSubject: hello there\r\n\r\nHi!\r\n"
	}
	id, err := e.sp.Enqueue(context.Background(), en, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) runOnce(r *Runner) Stats {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := r.RunOnce(ctx)
	if err != nil {
		e.t.Fatalf("RunOnce: %v\n%s", err, e.logs())
	}
	return st
}

// entries lists the queue in the given states.
func (e *env) entries(states ...spool.State) []spool.Entry {
	e.t.Helper()
	es, err := e.sp.List(context.Background(), states...)
	if err != nil {
		e.t.Fatal(err)
	}
	return es
}

func (e *env) expectEmpty() {
	e.t.Helper()
	if es := e.entries(); len(es) != 0 {
		e.t.Fatalf("queue not empty: %+v\n%s", es, e.logs())
	}
	if ents, _ := os.ReadDir(e.sp.Dir() + "/msg"); len(ents) != 0 {
		e.t.Fatalf("content left in msg/: %d files", len(ents))
	}
}

// dsn is a parsed delivery status notification.
type dsn struct {
	header  mail.Header
	text    string
	status  string // the message/delivery-status part
	headers string // the returned header
	ctype   string
}

func parseDSN(t *testing.T, data []byte) dsn {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("DSN does not parse: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "delivery-status" {
		t.Fatalf("DSN content type %q %v (%v)", mt, params, err)
	}
	d := dsn{header: m.Header, ctype: mt}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for i := 0; ; i++ {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("DSN part %d: %v\n%s", i, err, data)
		}
		b, _ := io.ReadAll(p)
		switch p.Header.Get("Content-Type") {
		case "text/plain; charset=utf-8":
			d.text = string(b)
		case "message/delivery-status", "message/global-delivery-status":
			d.status = string(b)
		case "text/rfc822-headers", "message/global-headers":
			d.headers = string(b)
		default:
			t.Errorf("unexpected DSN part %q", p.Header.Get("Content-Type"))
		}
	}
	if d.text == "" || d.status == "" || d.headers == "" {
		t.Fatalf("DSN lacks a part:\n%s", data)
	}
	return d
}
