// Package resolver is the one DNS stub resolver every lookup in mailctl goes
// through. It talks only to the servers named in the config (dns.resolver),
// never to /etc/resolv.conf or net.DefaultResolver, so tests can point it at
// an in-process server on loopback.
//
// Every query carries EDNS0 with a 1232-byte UDP buffer (the DNS flag day
// 2020 size that avoids IP fragmentation) and a fresh random ID; a
// truncated UDP answer is asked again over TCP; CNAME chains are followed
// through the answer section and, where a server stops at a CNAME, by asking
// again for its target. A failed server (no answer in Options.Timeout, a
// SERVFAIL, a malformed reply) is skipped for the next one, up to
// Options.Attempts passes over the list, and the one that answered is asked
// first next time. The caller's context bounds the whole lookup.
//
// Errors are *net.DNSError, so code written for the standard library (SPF
// and DKIM libraries) reads them as usual: IsNotFound for NXDOMAIN and for a
// name without records of the type asked (NODATA), IsTemporary/IsTimeout for
// SERVFAIL, timeouts and unreachable servers. IsNotFound and IsTemporary
// here check the same fields through any wrapping.
//
// Names are returned as the DNS has them: fully qualified, with the
// trailing dot (MX hosts, PTR names), as net.Resolver does.
package resolver

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// Options configure a Resolver.
type Options struct {
	// Servers are "IP:port" ("127.0.0.1:53", "[::1]:53"); a bare IP gets
	// port 53. Host names are refused: resolving them would need a resolver.
	Servers []string
	// Timeout bounds one query to one server (UDP and any TCP retry);
	// 0 means 5s.
	Timeout time.Duration
	// Attempts is how many passes over Servers a lookup makes; 0 means 2.
	Attempts int
}

// Defaults for zero Options fields.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultAttempts = 2
)

// ednsSize is the UDP payload size we advertise (RFC 9715's safe default).
const ednsSize = 1232

// Resolver sends queries to a fixed list of recursive servers. It is safe
// for concurrent use.
type Resolver struct {
	servers  []string
	timeout  time.Duration
	attempts int
	next     atomic.Uint32 // index of the server to ask first
}

// New checks opts and returns a Resolver.
func New(opts Options) (*Resolver, error) {
	if len(opts.Servers) == 0 {
		return nil, errors.New("resolver: no DNS servers configured")
	}
	r := &Resolver{timeout: opts.Timeout, attempts: opts.Attempts}
	if r.timeout <= 0 {
		r.timeout = DefaultTimeout
	}
	if r.attempts <= 0 {
		r.attempts = DefaultAttempts
	}
	for _, s := range opts.Servers {
		a, err := serverAddr(s)
		if err != nil {
			return nil, err
		}
		r.servers = append(r.servers, a)
	}
	return r, nil
}

// serverAddr normalises "IP", "[IPv6]" or "IP:port" to "IP:port".
func serverAddr(s string) (string, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return "", fmt.Errorf("resolver: server %q: port 0", s)
		}
		return ap.String(), nil
	}
	bare := s
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		bare = s[1 : len(s)-1]
	}
	ip, err := netip.ParseAddr(bare)
	if err != nil {
		return "", fmt.Errorf("resolver: server %q is not an IP address or IP:port", s)
	}
	return net.JoinHostPort(ip.String(), "53"), nil
}

// Servers returns the normalised server list, in configured order.
func (r *Resolver) Servers() []string { return append([]string(nil), r.servers...) }
