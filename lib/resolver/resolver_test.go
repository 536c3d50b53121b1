package resolver

import (
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func newResolver(t *testing.T, opts Options) *Resolver {
	t.Helper()
	if opts.Timeout == 0 {
		opts.Timeout = 2 * time.Second
	}
	r, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestNewServers(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"127.0.0.1:53", "127.0.0.1:53"},
		{"127.0.0.1", "127.0.0.1:53"},
		{"127.0.0.2:5353", "127.0.0.2:5353"},
		{"::1", "[::1]:53"},
		{"[::1]", "[::1]:53"},
		{"[::1]:5353", "[::1]:5353"},
		{"localhost:53", ""},
		{"dns.example", ""},
		{"127.0.0.1:0", ""},
		{"127.0.0.1:99999", ""},
		{"", ""},
	} {
		r, err := New(Options{Servers: []string{tc.in}})
		if tc.want == "" {
			if err == nil {
				t.Errorf("New(%q) = %v, want an error", tc.in, r.Servers())
			}
			continue
		}
		if err != nil || r.Servers()[0] != tc.want {
			t.Errorf("New(%q): servers %v, %v; want %s", tc.in, r.Servers(), err, tc.want)
		}
	}
	if _, err := New(Options{}); err == nil {
		t.Error("New with no servers: no error")
	}
	r, _ := New(Options{Servers: []string{"127.0.0.1"}})
	if r.timeout != DefaultTimeout || r.attempts != DefaultAttempts {
		t.Errorf("defaults: timeout %v attempts %d", r.timeout, r.attempts)
	}
}

func TestLookupMX(t *testing.T) {
	s := startServer(t)
	r := newResolver(t, Options{Servers: []string{s.addr}})
	for _, name := range []string{"mx.test", "mx.test.", "MX.Test", "mxalias.test"} {
		mxs, err := r.LookupMX(ctxT(t), name)
		if err != nil {
			t.Fatalf("LookupMX(%s): %v", name, err)
		}
		var hosts []string
		for i, mx := range mxs {
			hosts = append(hosts, mx.Host)
			if i > 0 && mxs[i-1].Pref > mx.Pref {
				t.Errorf("LookupMX(%s): not sorted: %v before %v", name, mxs[i-1], mx)
			}
		}
		slices.Sort(hosts)
		want := []string{"a.mx.test.", "a2.mx.test.", "b.mx.test.", "b2.mx.test.", "c.mx.test."}
		if !slices.Equal(hosts, want) {
			t.Errorf("LookupMX(%s) hosts = %v, want %v", name, hosts, want)
		}
		if IsNullMX(mxs) {
			t.Errorf("IsNullMX(%s) = true", name)
		}
	}

	mxs, err := r.LookupMX(ctxT(t), "nullmx.test")
	if err != nil || len(mxs) != 1 || mxs[0].Host != "." || mxs[0].Pref != 0 || !IsNullMX(mxs) {
		t.Errorf("LookupMX(nullmx.test) = %v, %v; want the null MX", mxs, err)
	}
	if _, err := r.LookupMX(ctxT(t), "a.test"); !IsNotFound(err) || IsTemporary(err) {
		t.Errorf("LookupMX(a.test) without MX: %v; want not found", err)
	}
}

func TestLookupTXT(t *testing.T) {
	s := startServer(t)
	r := newResolver(t, Options{Servers: []string{s.addr}})
	txt, err := r.LookupTXT(ctxT(t), "txt.test")
	want := []string{"v=spf1 ip4:192.0.2.0/24 -all", "second"}
	slices.Sort(txt)
	slices.Sort(want)
	if err != nil || !slices.Equal(txt, want) {
		t.Errorf("LookupTXT(txt.test) = %q, %v; want %q", txt, err, want)
	}
	txt, err = r.LookupTXT(ctxT(t), "esc.test")
	if err != nil || len(txt) != 1 || txt[0] != `quote"back\slashcafé` {
		t.Errorf("LookupTXT(esc.test) = %q, %v; want the raw bytes", txt, err)
	}
}

func TestLookupIP(t *testing.T) {
	s := startServer(t)
	r := newResolver(t, Options{Servers: []string{s.addr}})
	for _, tc := range []struct {
		network, host string
		want          []string // nil: not found
	}{
		{"ip4", "a.test", []string{"192.0.2.1", "192.0.2.2"}},
		{"ip", "a.test", []string{"192.0.2.1", "192.0.2.2"}},
		{"ip6", "a.test", nil},
		{"ip6", "v6.test", []string{"2001:db8::1"}},
		{"ip", "v6.test", []string{"2001:db8::1"}},
		{"ip", "dual.test", []string{"192.0.2.3", "2001:db8::3"}},
		{"ip4", "alias.test", []string{"192.0.2.3"}},               // two CNAMEs in one answer
		{"ip", "nochase.test", []string{"192.0.2.1", "192.0.2.2"}}, // server stops at the CNAME
		{"ip", "nx.test", nil},
		{"ip", "dangling.test", nil},
		{"ip", "192.0.2.77", []string{"192.0.2.77"}},
		{"ip4", "2001:db8::9", nil},
		{"ip6", "2001:db8::9", []string{"2001:db8::9"}},
	} {
		ips, err := r.LookupIP(ctxT(t), tc.network, tc.host)
		if tc.want == nil {
			if !IsNotFound(err) || IsTemporary(err) {
				t.Errorf("LookupIP(%s, %s) = %v, %v; want not found", tc.network, tc.host, ips, err)
			}
			continue
		}
		var got []string
		for _, ip := range ips {
			got = append(got, ip.String())
		}
		slices.Sort(got)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("LookupIP(%s, %s) = %v, %v; want %v", tc.network, tc.host, got, err, tc.want)
		}
	}
	if _, err := r.LookupIP(ctxT(t), "tcp", "a.test"); err == nil {
		t.Error("LookupIP with network tcp: no error")
	}

	hosts, err := r.LookupHost(ctxT(t), "dual.test")
	if err != nil || !slices.Equal(hosts, []string{"192.0.2.3", "2001:db8::3"}) {
		t.Errorf("LookupHost(dual.test) = %v, %v", hosts, err)
	}
}

func TestCNAMEChase(t *testing.T) {
	s := startServer(t)
	r := newResolver(t, Options{Servers: []string{s.addr}})
	// The whole chain is in one answer: one query.
	ips, err := r.LookupIP(ctxT(t), "ip4", "alias.test")
	if err != nil || len(ips) != 1 || ips[0].String() != "192.0.2.3" {
		t.Errorf("LookupIP(alias.test) = %v, %v", ips, err)
	}
	if a, b, c := s.count("udp", "alias.test."), s.count("udp", "alias2.test."), s.count("udp", "dual.test."); a != 1 || b+c != 0 {
		t.Errorf("queries alias/alias2/dual = %d/%d/%d; want 1/0/0", a, b, c)
	}
	// The answer stops at the CNAME: the target is asked for.
	ips, err = r.LookupIP(ctxT(t), "ip4", "nochase.test")
	if err != nil || len(ips) != 2 {
		t.Errorf("LookupIP(nochase.test) = %v, %v", ips, err)
	}
	if a, b := s.count("udp", "nochase.test."), s.count("udp", "a.test."); a != 1 || b != 1 {
		t.Errorf("queries nochase/a = %d/%d; want 1/1", a, b)
	}
}

func TestLookupAddr(t *testing.T) {
	s := startServer(t)
	r := newResolver(t, Options{Servers: []string{s.addr}})
	for _, tc := range []struct{ ip, want string }{
		{"192.0.2.1", "a.test."},
		{"2001:db8::1", "v6.test."},
		{"192.0.2.200", ""},
	} {
		names, err := r.LookupAddr(ctxT(t), tc.ip)
		if tc.want == "" {
			var de *net.DNSError
			if !IsNotFound(err) || !errors.As(err, &de) || de.Name != tc.ip {
				t.Errorf("LookupAddr(%s) = %v, %v; want not found naming the IP", tc.ip, names, err)
			}
			continue
		}
		if err != nil || !slices.Equal(names, []string{tc.want}) {
			t.Errorf("LookupAddr(%s) = %v, %v; want %s", tc.ip, names, err, tc.want)
		}
	}
	if _, err := r.LookupAddr(ctxT(t), "not-an-ip"); err == nil {
		t.Error("LookupAddr(not-an-ip): no error")
	}
}

func TestErrors(t *testing.T) {
	s := startServer(t)
	r := newResolver(t, Options{Servers: []string{s.addr}})

	_, err := r.LookupTXT(ctxT(t), "nx.test")
	var de *net.DNSError
	if !IsNotFound(err) || IsTemporary(err) || !errors.As(err, &de) || !de.IsNotFound || de.Name != "nx.test" {
		t.Errorf("NXDOMAIN: %#v; want a not-found *net.DNSError", err)
	}
	_, err = r.LookupTXT(ctxT(t), "a.test") // exists, no TXT
	if !IsNotFound(err) || IsTemporary(err) {
		t.Errorf("NODATA: %v; want not found", err)
	}
	_, err = r.LookupTXT(ctxT(t), "servfail.test")
	if !IsTemporary(err) || IsNotFound(err) || !errors.As(err, &de) || !de.Temporary() {
		t.Errorf("SERVFAIL: %v; want temporary", err)
	}
	if n := s.count("udp", nameServFail); n != DefaultAttempts {
		t.Errorf("SERVFAIL asked %d times, want %d (Attempts)", n, DefaultAttempts)
	}
	_, err = r.LookupIP(ctxT(t), "ip4", "loop1.test")
	if err == nil || IsTemporary(err) {
		t.Errorf("CNAME loop: %v; want a permanent error", err)
	}
	_, err = r.LookupIP(ctxT(t), "ip4", "garbage.test")
	if !IsTemporary(err) {
		t.Errorf("reply to another question: %v; want temporary", err)
	}
	_, err = r.LookupIP(ctxT(t), "ip4", "bad name with spaces\x00")
	if err == nil || IsTemporary(err) {
		t.Errorf("invalid name: %v; want a permanent error", err)
	}
}

func TestTruncatedRetriedOverTCP(t *testing.T) {
	s := startServer(t)
	r := newResolver(t, Options{Servers: []string{s.addr}})
	ips, err := r.LookupIP(ctxT(t), "ip4", "big.test")
	if err != nil || len(ips) != 40 {
		t.Fatalf("LookupIP(big.test) = %d addresses, %v; want 40", len(ips), err)
	}
	if u, c := s.count("udp", nameTruncated), s.count("tcp", nameTruncated); u != 1 || c != 1 {
		t.Errorf("big.test asked %d times over UDP and %d over TCP; want 1 and 1", u, c)
	}
	if _, err := r.LookupIP(ctxT(t), "ip4", "a.test"); err != nil || s.count("tcp", "a.test.") != 0 {
		t.Errorf("an untruncated answer went over TCP (%v)", err)
	}
}

func TestEDNSAndQuery(t *testing.T) {
	s := startServer(t)
	r := newResolver(t, Options{Servers: []string{s.addr}})
	if _, err := r.LookupIP(ctxT(t), "ip4", "a.test"); err != nil {
		t.Fatal(err)
	}
	q := s.lastQuery()
	opt := q.IsEdns0()
	if opt == nil || opt.UDPSize() != ednsSize || opt.Do() || !q.RecursionDesired {
		t.Errorf("lookup query: EDNS0 %v, RD %v; want 1232 bytes, no DO, RD", opt, q.RecursionDesired)
	}
	firstID := q.Id

	msg, err := r.Query(ctxT(t), nameSecure, dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if !msg.AuthenticatedData || len(msg.Answer) != 1 {
		t.Errorf("Query(secure.test): AD %v, %d answers; want AD and 1", msg.AuthenticatedData, len(msg.Answer))
	}
	q = s.lastQuery()
	if opt := q.IsEdns0(); opt == nil || !opt.Do() || !q.AuthenticatedData {
		t.Errorf("Query sent EDNS0 %v AD %v; want DO and AD", opt, q.AuthenticatedData)
	}
	if q.Id == firstID {
		t.Errorf("two queries used ID %d", q.Id) // 1 in 65536 chance of a false alarm
	}

	msg, err = r.Query(ctxT(t), nameNX, dns.TypeTLSA)
	if err != nil || msg.Rcode != dns.RcodeNameError {
		t.Errorf("Query(nx) = %v, %v; want the NXDOMAIN reply without error", msg, err)
	}
	if _, err := r.Query(ctxT(t), nameServFail, dns.TypeTLSA); !IsTemporary(err) {
		t.Errorf("Query(servfail) error %v; want temporary", err)
	}
}

func TestRotateOnFailure(t *testing.T) {
	silent, silentCount := silentServer(t)
	good := startServer(t)
	r := newResolver(t, Options{Servers: []string{silent, good.addr}, Timeout: 200 * time.Millisecond, Attempts: 1})
	ips, err := r.LookupIP(ctxT(t), "ip4", "a.test")
	if err != nil || len(ips) != 2 {
		t.Fatalf("LookupIP past a silent server = %v, %v", ips, err)
	}
	// The good server is now asked first; the silent one hears nothing more.
	before := silentCount()
	if before != 1 {
		t.Errorf("silent server got %d queries, want 1", before)
	}
	if _, err := r.LookupIP(ctxT(t), "ip4", "dual.test"); err != nil {
		t.Fatal(err)
	}
	if n := silentCount(); n != before {
		t.Errorf("silent server asked again (%d queries) after the good one answered", n)
	}
	if good.count("udp", "dual.test.") != 1 {
		t.Errorf("good server saw %d queries for dual.test, want 1", good.count("udp", "dual.test."))
	}
}

func TestTimeout(t *testing.T) {
	silent, _ := silentServer(t)

	// Per-query timeout × attempts bounds a lookup.
	r := newResolver(t, Options{Servers: []string{silent}, Timeout: 100 * time.Millisecond, Attempts: 2})
	start := time.Now()
	_, err := r.LookupMX(context.Background(), "mx.test")
	d := time.Since(start)
	var de *net.DNSError
	if !IsTemporary(err) || IsNotFound(err) || !errors.As(err, &de) || !de.IsTimeout {
		t.Errorf("silent server: %v; want a temporary timeout", err)
	}
	if d < 200*time.Millisecond || d > 5*time.Second {
		t.Errorf("silent server: lookup took %v; want about 2 × 100ms", d)
	}

	// The caller's deadline wins over a long per-query timeout.
	r = newResolver(t, Options{Servers: []string{silent}, Timeout: time.Minute, Attempts: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start = time.Now()
	_, err = r.LookupTXT(ctx, "txt.test")
	if !IsTemporary(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: %v; want temporary, DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("context deadline of 150ms: lookup took %v", d)
	}

	// Cancelling (no deadline) ends the wait too.
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = r.LookupIP(ctx, "ip", "a.test")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled lookup: %v; want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("cancelled after 100ms: lookup took %v", d)
	}
}

func TestIPv6Loopback(t *testing.T) {
	pc, err := net.ListenPacket("udp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here (%v): IPv6 server addresses untested", err)
	}
	pc.Close()
	s := startServer(t)
	addr6 := listen(t, "::1", dns.HandlerFunc(s.serve))
	r := newResolver(t, Options{Servers: []string{addr6}})
	if got := r.Servers()[0]; got != addr6 {
		t.Errorf("server %q normalised to %q", addr6, got)
	}
	ips, err := r.LookupIP(ctxT(t), "ip4", "a.test")
	if err != nil || len(ips) != 2 {
		t.Errorf("LookupIP over [::1] = %v, %v", ips, err)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		``:              ``,
		`plain`:         `plain`,
		`a\"b`:          `a"b`,
		`a\\b`:          `a\b`,
		`caf\195\169`:   "café",
		`\000x`:         "\x00x",
		`\999`:          `999`,
		`trailing\`:     `trailing\`,
		`\12`:           `12`,
		`semi\;colon`:   `semi;colon`,
		`\255\032\065z`: "\xff Az",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
