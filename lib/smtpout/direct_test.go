package smtpout

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"mailctl/lib/addr"
	"mailctl/lib/resolver"
	"mailctl/lib/smtpout/smtptest"
)

// world is the internet on loopback: a DNS server and MXes on one port.
type world struct {
	t    *testing.T
	dns  *smtptest.DNS
	port int
	ca   *smtptest.CA
}

func newWorld(t *testing.T, records ...string) *world {
	t.Helper()
	return &world{t: t, dns: smtptest.NewDNS(t, records...), port: smtptest.Port(t), ca: smtptest.NewCA(t)}
}

// mx starts a remote MX on ip at the world's port.
func (w *world) mx(ip string, o smtptest.Options) *smtptest.Server {
	o.Addr = fmt.Sprintf("%s:%d", ip, w.port)
	return smtptest.NewServer(w.t, o)
}

func (w *world) client(mod func(*Options)) *Client {
	w.t.Helper()
	res, err := resolver.New(resolver.Options{Servers: []string{w.dns.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		w.t.Fatal(err)
	}
	o := Options{Hostname: "out.example.org", Resolver: res, Port: w.port, ConnectTimeout: 2 * time.Second, CommandTimeout: 5 * time.Second}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func addrs(t *testing.T, ss ...string) []addr.Address {
	t.Helper()
	var out []addr.Address
	for _, s := range ss {
		out = append(out, addr.MustParse(s))
	}
	return out
}

func msg(body string) *Message {
	return &Message{From: addr.MustParse("alice@example.org"), Data: []byte("From: alice@example.org\nSubject: test\n\n" + body)}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func expectAll(t *testing.T, res []RcptResult, n int, st Status, status string, fallback bool) {
	t.Helper()
	if len(res) != n {
		t.Fatalf("%d results, want %d: %+v", len(res), n, res)
	}
	for _, r := range res {
		if r.Status != st || status != "" && r.Reply.Status() != status || r.Fallback != fallback {
			t.Errorf("%s: %v %v fallback %v; want %v %s fallback %v", r.Rcpt, r.Status, r.Reply, r.Fallback, st, status, fallback)
		}
	}
}

func TestDirectDelivers(t *testing.T) {
	w := newWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	mx := w.mx("127.0.0.2", smtptest.Options{TLS: w.ca.ServerTLS(t, "mx.example.net")})
	res := w.client(nil).Direct(ctx(t), "example.net", msg("hello\n.dot line\n"), addrs(t, "bob@example.net", "carol@example.net"))
	expectAll(t, res, 2, Sent, "", false)
	if res[0].Host != "mx.example.net" || !res[0].TLS || res[0].Addr.Port() != uint16(w.port) {
		t.Errorf("result %+v", res[0])
	}
	got := mx.Messages()
	if len(got) != 1 || len(got[0].To) != 2 {
		t.Fatalf("MX got %+v", got)
	}
	m := got[0]
	if m.From != "alice@example.org" || m.Helo != "out.example.org" || !m.TLS {
		t.Errorf("from %q helo %q tls %v", m.From, m.Helo, m.TLS)
	}
	if !strings.HasSuffix(string(m.Data), "\r\n\r\nhello\r\n.dot line\r\n") {
		t.Errorf("data %q", m.Data)
	}
}

func TestDirectDNS(t *testing.T) {
	w := newWorld(t,
		"nullmx.example. MX 0 .",
		"implicit.example. A 127.0.0.2",
		"badmx.example. MX 10 missing.example.",
		"other.example. A 127.0.0.9",
	)
	w.dns.ServFail("broken.example")
	mx := w.mx("127.0.0.2", smtptest.Options{})
	c := w.client(nil)
	tests := []struct {
		domain string
		st     Status
		status string
	}{
		{"nullmx.example", Failed, "5.1.10"},
		{"nx.example", Failed, "5.1.2"},
		{"badmx.example", Failed, "5.4.4"},
		{"broken.example", Deferred, "4.4.3"},
		{"implicit.example", Sent, ""},
	}
	for _, tt := range tests {
		res := c.Direct(ctx(t), tt.domain, msg("x\n"), addrs(t, "u@"+tt.domain))
		expectAll(t, res, 1, tt.st, tt.status, false)
	}
	if n := len(mx.Messages()); n != 1 {
		t.Errorf("MX took %d messages, want 1 (the implicit MX)", n)
	}
}

func TestDirectNextMX(t *testing.T) {
	w := newWorld(t,
		"example.net. MX 10 mx1.example.net.",
		"example.net. MX 20 mx2.example.net.",
		"example.net. MX 30 mx3.example.net.",
		"mx1.example.net. A 127.0.0.3", // nothing listens: refused
		"mx2.example.net. A 127.0.0.4",
		"mx3.example.net. A 127.0.0.2",
	)
	mx2 := w.mx("127.0.0.4", smtptest.Options{Mail: func(string, *smtp.MailOptions) error {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "busy"}
	}})
	mx3 := w.mx("127.0.0.2", smtptest.Options{})
	res := w.client(nil).Direct(ctx(t), "example.net", msg("x\n"), addrs(t, "bob@example.net"))
	expectAll(t, res, 1, Sent, "", false)
	if res[0].Host != "mx3.example.net" || mx2.Connections() != 1 || len(mx3.Messages()) != 1 {
		t.Errorf("host %s, mx2 %d connections, mx3 %d messages", res[0].Host, mx2.Connections(), len(mx3.Messages()))
	}
}

func TestDirectFallbackCases(t *testing.T) {
	w := newWorld(t,
		"refused.example. MX 10 mx1.refused.example.",
		"refused.example. MX 20 mx2.refused.example.",
		"mx1.refused.example. A 127.0.0.3",
		"mx2.refused.example. A 127.0.0.4",
		"blocked.example. MX 10 mx.blocked.example.",
		"mx.blocked.example. A 127.0.0.2",
		"mixed.example. MX 10 mx.mixed.example.",
		"mx.mixed.example. A 127.0.0.5",
	)
	w.mx("127.0.0.2", smtptest.Options{Mail: func(string, *smtp.MailOptions) error {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "your IP is on a blocklist"}
	}})
	w.mx("127.0.0.5", smtptest.Options{Rcpt: func(to string) error {
		switch {
		case strings.HasPrefix(to, "gone"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		case strings.HasPrefix(to, "policy"):
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected by policy"}
		case strings.HasPrefix(to, "grey"):
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 1}, Message: "greylisted"}
		}
		return nil
	}})
	c := w.client(nil)
	expectAll(t, c.Direct(ctx(t), "refused.example", msg("x\n"), addrs(t, "a@refused.example")), 1, Deferred, "4.4.1", true)
	expectAll(t, c.Direct(ctx(t), "blocked.example", msg("x\n"), addrs(t, "a@blocked.example")), 1, Failed, "5.7.1", true)

	res := c.Direct(ctx(t), "mixed.example", msg("x\n"), addrs(t, "ok@mixed.example", "gone@mixed.example", "policy@mixed.example", "grey@mixed.example"))
	want := map[string]struct {
		st       Status
		status   string
		fallback bool
	}{
		"ok@mixed.example":     {Sent, "2.0.0", false},
		"gone@mixed.example":   {Failed, "5.1.1", false},
		"policy@mixed.example": {Failed, "5.7.1", true},
		"grey@mixed.example":   {Deferred, "4.7.1", false},
	}
	if len(res) != len(want) {
		t.Fatalf("results %+v", res)
	}
	for _, r := range res {
		wt := want[r.Rcpt.String()]
		if r.Status != wt.st || r.Reply.Status() != wt.status || r.Fallback != wt.fallback {
			t.Errorf("%s: %v %v fallback %v; want %+v", r.Rcpt, r.Status, r.Reply, r.Fallback, wt)
		}
	}
}

func TestDirectTLSFallsBackToPlain(t *testing.T) {
	w := newWorld(t,
		"broken.example. MX 10 mx.broken.example.", "mx.broken.example. A 127.0.0.2",
		"plain.example. MX 10 mx.plain.example.", "mx.plain.example. A 127.0.0.3",
	)
	broken := w.mx("127.0.0.2", smtptest.Options{TLS: smtptest.BrokenTLS()})
	plain := w.mx("127.0.0.3", smtptest.Options{})
	c := w.client(nil)
	expectAll(t, c.Direct(ctx(t), "broken.example", msg("x\n"), addrs(t, "a@broken.example")), 1, Sent, "", false)
	if m := broken.Messages(); len(m) != 1 || m[0].TLS || broken.Connections() != 2 {
		t.Errorf("broken TLS MX: %d messages (%+v), %d connections; want one plain message over a second connection", len(m), m, broken.Connections())
	}
	res := c.Direct(ctx(t), "plain.example", msg("x\n"), addrs(t, "a@plain.example"))
	expectAll(t, res, 1, Sent, "", false)
	if m := plain.Messages(); len(m) != 1 || m[0].TLS || res[0].TLS || plain.Connections() != 1 {
		t.Errorf("no-STARTTLS MX: %+v, %d connections", m, plain.Connections())
	}
}

func TestDirectSplitsAfter452(t *testing.T) {
	w := newWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	mx := w.mx("127.0.0.2", smtptest.Options{MaxRecipients: 2})
	rcpts := addrs(t, "a@example.net", "b@example.net", "c@example.net", "d@example.net", "e@example.net")
	expectAll(t, w.client(nil).Direct(ctx(t), "example.net", msg("x\n"), rcpts), 5, Sent, "", false)
	got := mx.Messages()
	if len(got) != 3 || len(got[0].To) != 2 || len(got[1].To) != 2 || len(got[2].To) != 1 || mx.Connections() != 1 {
		t.Errorf("transactions %+v over %d connections; want 2+2+1 over one", got, mx.Connections())
	}
}

func TestDirect8BitAndUTF8(t *testing.T) {
	w := newWorld(t,
		"old.example. MX 10 mx.old.example.", "mx.old.example. A 127.0.0.2",
		"new.example. MX 10 mx.new.example.", "mx.new.example. A 127.0.0.3",
	)
	old := w.mx("127.0.0.2", smtptest.Options{No8BitMIME: true})
	modern := w.mx("127.0.0.3", smtptest.Options{SMTPUTF8: true})
	c := w.client(nil)
	eight := &Message{From: addr.MustParse("alice@example.org"), Data: []byte("Subject: x\nContent-Type: text/plain; charset=utf-8\n\nGrüße\n")}

	expectAll(t, c.Direct(ctx(t), "old.example", eight, addrs(t, "a@old.example")), 1, Sent, "", false)
	m := old.Messages()[0]
	if has8bit(m.Data) || !strings.Contains(string(m.Data), "Gr=C3=BC=C3=9Fe") || m.Opts.Body == smtp.Body8BitMIME {
		t.Errorf("not converted to 7 bit (body %q):\n%s", m.Opts.Body, m.Data)
	}
	expectAll(t, c.Direct(ctx(t), "new.example", eight, addrs(t, "a@new.example")), 1, Sent, "", false)
	if m := modern.Messages()[0]; !strings.Contains(string(m.Data), "Grüße") || m.Opts.Body != smtp.Body8BitMIME {
		t.Errorf("8BITMIME peer: body %q data %q", m.Opts.Body, m.Data)
	}

	utf := &Message{From: addr.MustParse("alice@example.org"), SMTPUTF8: true, Data: []byte("Subject: Grüße\n\nhi\n")}
	expectAll(t, c.Direct(ctx(t), "old.example", utf, addrs(t, "a@old.example")), 1, Failed, "5.6.7", false)
	res := c.Direct(ctx(t), "old.example", msg("x\n"), addrs(t, "jörg@old.example", "b@old.example"))
	if res[0].Status != Failed || res[0].Reply.Status() != "5.6.7" || res[1].Status != Sent {
		t.Errorf("UTF-8 recipient at a peer without SMTPUTF8: %+v", res)
	}
	expectAll(t, c.Direct(ctx(t), "new.example", utf, addrs(t, "jörg@new.example")), 1, Sent, "", false)
	if m := modern.Messages()[1]; !m.Opts.UTF8 || m.To[0] != "jörg@new.example" {
		t.Errorf("SMTPUTF8 peer: %+v", m)
	}
}

func TestDirectNeverToSelf(t *testing.T) {
	w := newWorld(t,
		"loop.example. MX 10 mx.loop.example.", "mx.loop.example. A 127.0.0.2",
		"backup.example. MX 5 mx.other.example.", "backup.example. MX 10 mx.loop.example.",
		"mx.other.example. A 127.0.0.3",
	)
	mx := w.mx("127.0.0.2", smtptest.Options{})
	other := w.mx("127.0.0.3", smtptest.Options{})
	self := LocalEndpoints([]string{fmt.Sprintf("127.0.0.2:%d", w.port), "unix:/run/x.sock"}, nil)
	c := w.client(func(o *Options) { o.Self = self })
	expectAll(t, c.Direct(ctx(t), "loop.example", msg("x\n"), addrs(t, "a@loop.example")), 1, Failed, "5.4.6", false)
	if mx.Connections() != 0 {
		t.Error("connected to ourselves")
	}
	// A better MX than ourselves is still used.
	expectAll(t, c.Direct(ctx(t), "backup.example", msg("x\n"), addrs(t, "a@backup.example")), 1, Sent, "", false)
	if len(other.Messages()) != 1 {
		t.Error("the better MX got nothing")
	}
}

func TestLocalEndpoints(t *testing.T) {
	self := LocalEndpoints([]string{":25", "127.0.0.1:2525", "[::1]:587", "unix:/x"}, []netip.Addr{netip.MustParseAddr("192.0.2.7")})
	tests := map[string]bool{
		"127.0.0.1:25":   true,
		"192.0.2.7:25":   true,
		"192.0.2.8:25":   false,
		"127.0.0.1:2525": true,
		"127.0.0.2:2525": false,
		"127.0.0.1:26":   false,
		"[::1]:587":      true,
		"[::1]:25":       true,
	}
	for s, want := range tests {
		if got := self(netip.MustParseAddrPort(s)); got != want {
			t.Errorf("self(%s) = %v, want %v", s, got, want)
		}
	}
	sd := LocalEndpoints([]string{"systemd"}, []netip.Addr{netip.MustParseAddr("192.0.2.7")})
	if !sd(netip.MustParseAddrPort("192.0.2.7:25")) || sd(netip.MustParseAddrPort("192.0.2.7:2525")) {
		t.Error("systemd sockets are not taken for port 25")
	}
}

func TestDirectInterrupted(t *testing.T) {
	w := newWorld(t, "example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.2")
	started := make(chan struct{}, 1)
	w.mx("127.0.0.2", smtptest.Options{Data: func(*smtptest.Message) error {
		started <- struct{}{}
		time.Sleep(5 * time.Second)
		return nil
	}})
	c, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	t0 := time.Now()
	res := w.client(nil).Direct(c, "example.net", msg("x\n"), addrs(t, "a@example.net"))
	expectAll(t, res, 1, Deferred, "4.4.2", false)
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

func TestRelay(t *testing.T) {
	w := newWorld(t, "relay.example.com. A 127.0.0.6")
	users := map[string]string{"me@example.org": "s3cret"}
	starttls := smtptest.NewServer(t, smtptest.Options{Addr: "127.0.0.6:0", TLS: w.ca.ServerTLS(t, "relay.example.com"), Users: users})
	implicit := smtptest.NewServer(t, smtptest.Options{Addr: "127.0.0.6:0", TLS: w.ca.ServerTLS(t, "relay.example.com"), Implicit: true, Users: users})
	noTLS := smtptest.NewServer(t, smtptest.Options{Addr: "127.0.0.6:0", Users: users})
	port := func(s *smtptest.Server) int { return int(netip.MustParseAddrPort(s.Addr).Port()) }

	tests := []struct {
		name     string
		srv      *smtptest.Server
		implicit bool
		pool     bool
		pass     string
		st       Status
		status   string
	}{
		{"starttls", starttls, false, true, "s3cret", Sent, ""},
		{"implicit", implicit, true, true, "s3cret", Sent, ""},
		{"unverified certificate", starttls, false, false, "s3cret", Deferred, "4.7.0"},
		{"wrong password", starttls, false, true, "wrong", Deferred, "4.7.0"},
		{"no STARTTLS", noTLS, false, true, "s3cret", Deferred, "4.7.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.srv.Messages())
			fails := tt.srv.AuthFailures()
			cfg := &tls.Config{}
			if tt.pool {
				cfg.RootCAs = w.ca.Pool()
			}
			c := w.client(func(o *Options) {
				o.Relay = &Relay{Host: "relay.example.com", Port: port(tt.srv), ImplicitTLS: tt.implicit, TLS: cfg, Username: "me@example.org", Password: tt.pass}
			})
			res := c.Relay(ctx(t), msg("x\n"), addrs(t, "a@one.example", "b@two.example"))
			expectAll(t, res, 2, tt.st, tt.status, false)
			got := tt.srv.Messages()[before:]
			if tt.st == Sent && (len(got) != 1 || got[0].AuthUser != "me@example.org" || !got[0].TLS || len(got[0].To) != 2) {
				t.Errorf("relay got %+v", got)
			}
			if tt.st != Sent && len(got) != 0 {
				t.Errorf("relay took a message: %+v", got)
			}
			if !tt.pool && tt.srv.AuthFailures() != fails {
				t.Error("AUTH attempted over an unverified connection")
			}
		})
	}
}

func TestRelayQuotaIsNoBounce(t *testing.T) {
	w := newWorld(t)
	srv := smtptest.NewServer(t, smtptest.Options{Addr: "127.0.0.6:0", TLS: w.ca.ServerTLS(t, "127.0.0.6"), Mail: func(string, *smtp.MailOptions) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 4, 5}, Message: "Daily sending quota exceeded"}
	}})
	c := w.client(func(o *Options) {
		o.Relay = &Relay{Host: "127.0.0.6", Port: int(netip.MustParseAddrPort(srv.Addr).Port()), TLS: &tls.Config{RootCAs: w.ca.Pool()}}
	})
	expectAll(t, c.Relay(ctx(t), msg("x\n"), addrs(t, "a@one.example")), 1, Deferred, "5.4.5", false)
}
