package resolver

import (
	"cmp"
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// maxCNAME bounds how many times a lookup re-asks for a CNAME's target.
const maxCNAME = 8

// Query sends one query for name and qtype and returns the reply as is,
// for callers that need more than a Lookup gives (TLSA for DANE, the AD
// bit). The DO and AD bits are set, so a validating server says whether
// the answer is secure and includes RRSIGs. A NOERROR or NXDOMAIN reply is
// returned without error (check Rcode); no CNAMEs are chased.
func (r *Resolver) Query(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if !validName(name) {
		return nil, notFound(name, "", "invalid domain name")
	}
	return r.exchange(ctx, name, qtype, true)
}

// lookup returns the records of qtype for name, following CNAMEs.
func (r *Resolver) lookup(ctx context.Context, name string, qtype uint16) ([]dns.RR, error) {
	if !validName(name) {
		return nil, notFound(name, "", "invalid domain name")
	}
	target := dns.Fqdn(name)
	seen := map[string]bool{}
	for range maxCNAME + 1 {
		resp, err := r.exchange(ctx, target, qtype, false)
		if err != nil {
			return nil, err
		}
		if resp.Rcode == dns.RcodeNameError {
			return nil, notFound(name, "", errNoSuchHost)
		}
		rrs, end, loop := follow(resp.Answer, target, qtype, seen)
		switch {
		case len(rrs) > 0:
			return rrs, nil
		case loop:
			return nil, permanent(name, "CNAME loop")
		case strings.EqualFold(end, target):
			return nil, notFound(name, "", errNoSuchRecord)
		}
		target = end // the server stopped at a CNAME: ask for its target
	}
	return nil, permanent(name, "CNAME chain too long")
}

// validName accepts the names mail looks up: ASCII (A-label) labels of
// letters, digits, '-' and '_' (as in _dmarc, _domainkey), 1–63 bytes each,
// at most 253 bytes without the final dot. Anything else can't exist in
// the DNS we talk to, so it is "not found" without asking.
func validName(name string) bool {
	name = strings.TrimSuffix(name, ".")
	if name == "" || len(name) > 253 {
		return false
	}
	for label := range strings.SplitSeq(name, ".") {
		if len(label) == 0 || len(label) > 63 {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || isDigit(c) || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// follow walks the CNAME chain from name through answer and returns the
// records of qtype owned by its end, that end, and whether the chain loops.
func follow(answer []dns.RR, name string, qtype uint16, seen map[string]bool) (rrs []dns.RR, end string, loop bool) {
	for {
		var next string
		for _, rr := range answer {
			h := rr.Header()
			if h.Class != dns.ClassINET || !strings.EqualFold(h.Name, name) {
				continue
			}
			if h.Rrtype == qtype {
				rrs = append(rrs, rr)
			} else if c, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
				next = c.Target
			}
		}
		if len(rrs) > 0 || next == "" {
			return rrs, name, false
		}
		seen[strings.ToLower(name)] = true
		if seen[strings.ToLower(next)] {
			return nil, next, true
		}
		name = next
	}
}

// LookupMX returns the MX records of domain, by preference, equal ones in
// random order (RFC 5321 §5.1). A null MX (RFC 7505) comes back as one
// record with Host "." (see IsNullMX).
func (r *Resolver) LookupMX(ctx context.Context, domain string) ([]*net.MX, error) {
	rrs, err := r.lookup(ctx, domain, dns.TypeMX)
	if err != nil {
		return nil, err
	}
	mxs := make([]*net.MX, 0, len(rrs))
	for _, rr := range rrs {
		mx := rr.(*dns.MX)
		mxs = append(mxs, &net.MX{Host: mx.Mx, Pref: mx.Preference})
	}
	rand.Shuffle(len(mxs), func(i, j int) { mxs[i], mxs[j] = mxs[j], mxs[i] })
	slices.SortStableFunc(mxs, func(a, b *net.MX) int { return cmp.Compare(a.Pref, b.Pref) })
	return mxs, nil
}

// IsNullMX reports whether mxs is a null MX: the domain accepts no mail.
func IsNullMX(mxs []*net.MX) bool {
	return len(mxs) == 1 && (mxs[0].Host == "." || mxs[0].Host == "")
}

// LookupTXT returns name's TXT records, each one's strings joined.
func (r *Resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	rrs, err := r.lookup(ctx, name, dns.TypeTXT)
	if err != nil {
		return nil, err
	}
	txts := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		var b strings.Builder
		for _, s := range rr.(*dns.TXT).Txt {
			b.WriteString(unescape(s))
		}
		txts = append(txts, b.String())
	}
	return txts, nil
}

// unescape undoes miekg/dns's presentation escapes in TXT strings (\" \\
// and \DDD for bytes outside printable ASCII), giving the bytes on the wire.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b = append(b, s[i])
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n <= 255 {
				b = append(b, byte(n))
				i += 3
				continue
			}
		}
		b = append(b, s[i+1])
		i++
	}
	return string(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// LookupIP returns host's addresses: network "ip4" asks for A, "ip6" for
// AAAA, "ip" for both (IPv4 first). An IP literal is returned as is.
func (r *Resolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	var types []uint16
	switch network {
	case "ip":
		types = []uint16{dns.TypeA, dns.TypeAAAA}
	case "ip4":
		types = []uint16{dns.TypeA}
	case "ip6":
		types = []uint16{dns.TypeAAAA}
	default:
		return nil, permanent(host, "unknown network "+network)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if network == "ip4" && !ip.Unmap().Is4() || network == "ip6" && !ip.Is6() {
			return nil, notFound(host, "", "no suitable address")
		}
		return []net.IP{net.IP(ip.AsSlice())}, nil
	}

	// Ask for both families at once: a slow server then costs one timeout.
	type result struct {
		rrs []dns.RR
		err error
	}
	results := make([]chan result, len(types))
	for i, t := range types {
		results[i] = make(chan result, 1)
		go func() {
			rrs, err := r.lookup(ctx, host, t)
			results[i] <- result{rrs, err}
		}()
	}
	var ips []net.IP
	var firstErr error
	for _, ch := range results {
		res := <-ch
		if res.err != nil {
			// A temporary failure beats "not found": one family may exist.
			if firstErr == nil || IsTemporary(res.err) && !IsTemporary(firstErr) {
				firstErr = res.err
			}
			continue
		}
		for _, rr := range res.rrs {
			switch a := rr.(type) {
			case *dns.A:
				ips = append(ips, a.A)
			case *dns.AAAA:
				ips = append(ips, a.AAAA)
			}
		}
	}
	if len(ips) == 0 {
		if firstErr == nil {
			firstErr = notFound(host, "", errNoSuchHost)
		}
		return nil, firstErr
	}
	return ips, nil
}

// LookupHost returns host's addresses as strings, like LookupIP "ip".
func (r *Resolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	ips, err := r.LookupIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	addrs := make([]string, len(ips))
	for i, ip := range ips {
		addrs[i] = ip.String()
	}
	return addrs, nil
}

// LookupAddr returns the PTR names of ip (fully qualified, with the dot).
func (r *Resolver) LookupAddr(ctx context.Context, ip string) ([]string, error) {
	arpa, err := dns.ReverseAddr(ip)
	if err != nil {
		return nil, permanent(ip, "unrecognized address")
	}
	rrs, err := r.lookup(ctx, arpa, dns.TypePTR)
	if err != nil {
		if de, ok := err.(*net.DNSError); ok {
			de.Name = ip
		}
		return nil, err
	}
	names := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		names = append(names, rr.(*dns.PTR).Ptr)
	}
	return names, nil
}
