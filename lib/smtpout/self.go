package smtpout

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// LocalEndpoints returns a Self function for Options: whether an address
// and port is one where our own SMTP server listens, given its listen
// addresses ("HOST:PORT", ":PORT"; "systemd" counts as ":25", what
// systemd passes smtpd; "unix:" entries are skipped) and the machine's
// interface addresses. Both the address and
// the port must match: another server on another port of this machine
// (or a test playing a remote MX on loopback) is not ourselves.
func LocalEndpoints(listen []string, ifaceAddrs []netip.Addr) func(netip.AddrPort) bool {
	type endpoint struct {
		addr netip.Addr // invalid: every address of the machine
		port uint16
	}
	var eps []endpoint
	for _, l := range listen {
		if l == "systemd" {
			l = ":25"
		}
		if strings.HasPrefix(l, "unix:") {
			continue
		}
		host, ps, err := net.SplitHostPort(l)
		if err != nil {
			continue
		}
		port, err := strconv.ParseUint(ps, 10, 16)
		if err != nil {
			continue
		}
		ep := endpoint{port: uint16(port)}
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			ep.addr = a.Unmap()
		}
		eps = append(eps, ep)
	}
	mine := map[netip.Addr]bool{}
	for _, a := range ifaceAddrs {
		mine[a.Unmap()] = true
	}
	return func(ap netip.AddrPort) bool {
		a := ap.Addr().Unmap()
		for _, ep := range eps {
			if ep.port != ap.Port() {
				continue
			}
			if ep.addr.IsValid() && ep.addr == a || !ep.addr.IsValid() && (mine[a] || a.IsLoopback()) {
				return true
			}
		}
		return false
	}
}

// InterfaceAddrs lists the machine's own addresses, for LocalEndpoints.
func InterfaceAddrs() []netip.Addr {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range as {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr().Unmap())
		}
	}
	return out
}
