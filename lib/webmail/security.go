package webmail

import (
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// appCSP is the policy of every app page: nothing but our own files.
const appCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// frameCSP is the message frame's policy: a sandbox without scripts, even
// when its URL is opened directly; images only as data: URIs unless the user
// asked for remote ones.
func frameCSP(remoteImages bool) string {
	img := "data:"
	if remoteImages {
		img = "data: https: http:"
	}
	return "sandbox allow-popups allow-popups-to-escape-sandbox; default-src 'none'; img-src " + img + "; style-src 'unsafe-inline'; font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
}

// crossSite reports a POST a browser marked as coming from another site.
func crossSite(r *http.Request) bool {
	if v := r.Header.Get("Sec-Fetch-Site"); v == "cross-site" || v == "same-site" {
		return true
	}
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		host := strings.TrimPrefix(strings.TrimPrefix(o, "https://"), "http://")
		return !strings.EqualFold(host, r.Host)
	}
	return false
}

// validCSRF compares the form's token with the session's in constant time.
func validCSRF(r *http.Request, want string) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// peer is the address of the TCP peer, invalid for unix sockets.
func peer(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if a.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
}

// clientIP is the browser's address: the peer, or when the peer is a
// trusted proxy, the right-most X-Forwarded-For entry it did not add itself.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	a := peer(r)
	if !s.trusted(a) {
		return a
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return a
		}
		h = h.Unmap()
		if !s.trusted(h) {
			return h
		}
	}
	return a
}

// secure reports whether the browser reached us over HTTPS (so the cookie
// must be Secure); plain HTTP is only acceptable on loopback.
func (s *Server) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	p := peer(r)
	if s.trusted(p) {
		return strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") || !p.IsLoopback()
	}
	return !p.IsLoopback()
}

// CheckPlainListener refuses plain HTTP on a listener that is neither on
// loopback (or a unix socket) nor behind trusted proxies.
func CheckPlainListener(a net.Addr, trustedProxies []netip.Prefix) error {
	if len(trustedProxies) > 0 {
		return nil
	}
	if a.Network() == "unix" {
		return nil
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err == nil && ap.Addr().Unmap().IsLoopback() {
		return nil
	}
	return fmt.Errorf("webmail: plain HTTP on %s: only on loopback or with trusted_proxies; use listen_tls", a)
}

// ParsePrefixes reads trusted_proxies: IP addresses or CIDR prefixes.
func ParsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("webmail: trusted proxy %q: %w", s, err)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}
