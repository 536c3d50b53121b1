package scan

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// refused is where lists answer when they refuse a query (e.g. from a
// public resolver): 127.255.255.0/24 is an error, never a listing.
var refused = netip.MustParsePrefix("127.255.255.0/24")

// dnsbl queries every zone with the client IP.
func (s *Scanner) dnsbl(ctx context.Context, ip netip.Addr) []Result {
	if !ip.IsValid() || len(s.opts.Zones) == 0 {
		return nil
	}
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() {
		return nil
	}
	rev := reverse(ip)
	var out []Result
	for _, z := range s.opts.Zones {
		r := Result{Check: "dnsbl:" + z.Zone, Result: "none"}
		ips, err := s.opts.DNS.LookupIP(ctx, "ip4", rev+"."+z.Zone)
		switch {
		case err != nil && isNotFound(err):
		case err != nil:
			r.Result, r.Detail = "error", err.Error()
		default:
			for _, a := range ips {
				na, _ := netip.AddrFromSlice(a)
				if refused.Contains(na.Unmap()) {
					r.Result, r.Detail = "error", "query refused ("+na.Unmap().String()+")"
					break
				}
				r.Result, r.Detail, r.Score = "listed", na.Unmap().String(), z.Weight
			}
		}
		out = append(out, r)
	}
	return out
}

func isNotFound(err error) bool {
	de, ok := err.(*net.DNSError)
	return ok && de.IsNotFound
}

// reverse is the DNSBL query label: 1.2.0.192 for 192.0.2.1, nibbles for IPv6.
func reverse(ip netip.Addr) string {
	b := ip.AsSlice()
	var parts []string
	if ip.Is4() {
		for i := len(b) - 1; i >= 0; i-- {
			parts = append(parts, fmt.Sprint(b[i]))
		}
	} else {
		for i := len(b) - 1; i >= 0; i-- {
			parts = append(parts, fmt.Sprintf("%x", b[i]&0xf), fmt.Sprintf("%x", b[i]>>4))
		}
	}
	return strings.Join(parts, ".")
}
