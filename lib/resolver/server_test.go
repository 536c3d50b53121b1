package resolver

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
)

// testServer is an in-process DNS server on loopback, UDP and TCP on one
// port. It answers from a zone like a recursive server would, following
// CNAMEs inside the zone, with a few names that misbehave on purpose.
type testServer struct {
	addr string
	zone []dns.RR

	mu     sync.Mutex
	counts map[string]int // "udp big.test." → queries seen
	last   *dns.Msg       // the last query received
}

// Names with special behaviour.
const (
	nameNX        = "nx.test."       // NXDOMAIN
	nameServFail  = "servfail.test." // SERVFAIL
	nameTruncated = "big.test."      // TC over UDP, full answer over TCP
	nameSecure    = "secure.test."   // AD bit set in the reply
	nameNoChase   = "nochase.test."  // answer stops at its CNAME
	nameGarbage   = "garbage.test."  // reply to a different question
)

var testZone = []string{
	"mx.test. MX 20 b.mx.test.",
	"mx.test. MX 10 a.mx.test.",
	"mx.test. MX 30 c.mx.test.",
	"mx.test. MX 10 a2.mx.test.",
	"mx.test. MX 20 b2.mx.test.",
	"nullmx.test. MX 0 .",
	"a.test. A 192.0.2.1",
	"a.test. A 192.0.2.2",
	"v6.test. AAAA 2001:db8::1",
	"dual.test. A 192.0.2.3",
	"dual.test. AAAA 2001:db8::3",
	`txt.test. TXT "v=spf1 " "ip4:192.0.2.0/24 " "-all"`,
	`txt.test. TXT "second"`,
	`esc.test. TXT "quote\"back\\slash" "caf\195\169"`,
	"alias.test. CNAME alias2.test.",
	"alias2.test. CNAME dual.test.",
	"mxalias.test. CNAME mx.test.",
	"nochase.test. CNAME a.test.",
	"loop1.test. CNAME loop2.test.",
	"loop2.test. CNAME loop1.test.",
	"1.2.0.192.in-addr.arpa. PTR a.test.",
	"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. PTR v6.test.",
	"secure.test. A 192.0.2.9",
	"garbage.test. A 192.0.2.10",
	"noa.test. MX 10 a.test.",
	"dangling.test. CNAME missing.test.",
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	s := &testServer{counts: map[string]int{}}
	for _, line := range testZone {
		rr, err := dns.NewRR("$TTL 60\n" + line)
		if err != nil {
			t.Fatalf("zone line %q: %v", line, err)
		}
		s.zone = append(s.zone, rr)
	}
	// Big enough that it can't fit a 512-byte UDP answer anyway.
	for i := range 40 {
		rr, _ := dns.NewRR(nameTruncated + " 60 A 198.51.100." + strconv.Itoa(i+1))
		s.zone = append(s.zone, rr)
	}
	s.addr = listen(t, "127.0.0.1", dns.HandlerFunc(s.serve))
	return s
}

// listen serves h over UDP and TCP on one loopback port and returns
// "host:port".
func listen(t *testing.T, host string, h dns.Handler) string {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatalf("listen udp: %v", err)
		}
		addr := pc.LocalAddr().String()
		ln, err := net.Listen("tcp", addr)
		if err != nil { // the port is taken for TCP: try another
			pc.Close()
			continue
		}
		for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
			started := make(chan struct{})
			srv.NotifyStartedFunc = func() { close(started) }
			go srv.ActivateAndServe()
			<-started
			t.Cleanup(func() { srv.Shutdown() })
		}
		return addr
	}
	t.Fatal("no free port for UDP and TCP together")
	return ""
}

func (s *testServer) count(network, name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[network+" "+name]
}

func (s *testServer) lastQuery() *dns.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (s *testServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	network := w.RemoteAddr().Network()
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	s.counts[network+" "+name]++
	s.last = req.Copy()
	s.mu.Unlock()

	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), opt.Do())
	}
	switch name {
	case nameNX:
		m.Rcode = dns.RcodeNameError
		w.WriteMsg(m)
		return
	case nameServFail:
		m.Rcode = dns.RcodeServerFailure
		w.WriteMsg(m)
		return
	case nameTruncated:
		if network == "udp" {
			m.Truncated = true
			w.WriteMsg(m)
			return
		}
	case nameSecure:
		m.AuthenticatedData = true
	case nameGarbage:
		m.Question[0].Name = "other.test."
	}
	exists := s.answer(m, name, q.Qtype)
	if !exists {
		m.Rcode = dns.RcodeNameError
	}
	w.WriteMsg(m)
}

// answer adds name's records of qtype to m, following CNAMEs in the zone
// (except for nameNoChase). It reports whether name exists at all.
func (s *testServer) answer(m *dns.Msg, name string, qtype uint16) bool {
	exists := false
	for hop := 0; hop < 10; hop++ {
		var cname string
		for _, rr := range s.zone {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			exists = true
			if h.Rrtype == qtype {
				m.Answer = append(m.Answer, rr)
			} else if c, ok := rr.(*dns.CNAME); ok {
				m.Answer = append(m.Answer, rr)
				cname = c.Target
			}
		}
		if cname == "" || name == nameNoChase {
			return exists
		}
		name = cname
	}
	return exists
}

// silentServer reads queries on UDP and never answers. It returns its
// address and a function counting the queries it got.
func silentServer(t *testing.T) (string, func() int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var n atomic.Int64
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return pc.LocalAddr().String(), n.Load
}
