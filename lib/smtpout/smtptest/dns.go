// Package smtptest plays the internet on loopback for tests of the
// outbound path: an in-process DNS server answering from a small zone,
// SMTP servers (go-smtp) playing remote MXes and the provider's relay,
// and a throwaway certificate authority for their TLS.
package smtptest

import (
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// DNS is an authoritative-looking server on 127.0.0.1 (UDP and TCP on one
// port) answering from a zone that tests may change while it runs.
type DNS struct {
	Addr string // "127.0.0.1:port", for dns.resolver

	mu       sync.Mutex
	zone     []dns.RR
	servfail map[string]bool
	queries  int
}

// NewDNS starts a server with the given records in zone file syntax, such
// as "example.net. MX 10 mx.example.net." or "mx.example.net. A 127.0.0.2".
func NewDNS(t testing.TB, records ...string) *DNS {
	t.Helper()
	d := &DNS{servfail: map[string]bool{}}
	d.Add(t, records...)
	// UDP and TCP on one port: a port free for UDP may be taken for TCP.
	var (
		pc  net.PacketConn
		ln  net.Listener
		err error
	)
	for range 20 {
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	d.Addr = pc.LocalAddr().String()
	udp := &dns.Server{PacketConn: pc, Handler: d}
	tcp := &dns.Server{Listener: ln, Handler: d}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
	return d
}

// Add adds records to the zone.
func (d *DNS) Add(t testing.TB, records ...string) {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, line := range records {
		rr, err := dns.NewRR("$TTL 60\n" + line)
		if err != nil || rr == nil {
			t.Fatalf("zone line %q: %v", line, err)
		}
		d.zone = append(d.zone, rr)
	}
}

// ServFail makes every question for name fail with SERVFAIL.
func (d *DNS) ServFail(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servfail[dns.CanonicalName(name)] = true
}

// Queries counts the questions answered so far.
func (d *DNS) Queries() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries
}

// ServeDNS answers one question: the records of that name and type, no
// data when the name has other records, NXDOMAIN otherwise.
func (d *DNS) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	d.mu.Lock()
	d.queries++
	if len(req.Question) == 1 {
		q := req.Question[0]
		name := dns.CanonicalName(q.Name)
		exists := false
		for _, rr := range d.zone {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			exists = true
			if h.Rrtype == q.Qtype {
				m.Answer = append(m.Answer, dns.Copy(rr))
			}
		}
		switch {
		case d.servfail[name]:
			m.Answer = nil
			m.Rcode = dns.RcodeServerFailure
		case !exists:
			m.Rcode = dns.RcodeNameError
		}
	}
	d.mu.Unlock()
	w.WriteMsg(m)
}
