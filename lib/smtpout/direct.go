package smtpout

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"strings"

	"mailctl/lib/addr"
	"mailctl/lib/resolver"
)

// maxAddrs bounds how many addresses one delivery tries for a domain.
const maxAddrs = 10

// mxHost is one host to try, with its MX preference.
type mxHost struct {
	name     string
	pref     uint16
	implicit bool // no MX records: the domain's own address (RFC 5321 §5.1)
}

// Direct delivers a message to recipients of one domain by its MX
// records: hosts in order of preference (equal ones shuffled by the
// resolver), each address in turn, until a server takes a transaction.
// A domain without MX is tried at its own addresses; a null MX (RFC 7505)
// fails at once. STARTTLS is used when offered, without verification (no
// MTA on port 25 can count on valid certificates); after a failed
// handshake the same address is tried again in plain text. Every
// recipient gets a result.
func (c *Client) Direct(ctx context.Context, domain string, m *Message, rcpts []addr.Address) []RcptResult {
	if len(rcpts) == 0 {
		return nil
	}
	hosts, f := c.mxHosts(ctx, domain)
	if f != nil {
		return resultsFor(rcpts, statusOf(f.reply), f.reply, nil)
	}
	p := newPayload(m)
	var (
		out     []RcptResult
		fails   []*failure
		pending = rcpts
		tried   = 0
		self    = false
	)
hosts:
	for _, h := range hosts {
		ips, f := c.hostAddrs(ctx, h)
		if f != nil {
			fails = append(fails, f)
			continue
		}
		for _, ip := range ips {
			ap := netip.AddrPortFrom(ip, uint16(c.opts.Port))
			if c.opts.Self(ap) {
				// RFC 5321 §5.1: we are an MX ourselves; hosts of our
				// preference or worse would only send it back to us.
				self = true
				break hosts
			}
			if tried == maxAddrs || ctx.Err() != nil {
				break hosts
			}
			tried++
			done, left, f := c.tryAddr(ctx, h.name, ap, p, pending)
			out = append(out, done...)
			pending = left
			if f != nil {
				fails = append(fails, f)
			}
			if len(pending) == 0 {
				return out
			}
		}
	}
	return append(out, undelivered(domain, pending, fails, self)...)
}

// tryAddr runs one session at one address, again in plain text when the
// TLS handshake fails.
func (c *Client) tryAddr(ctx context.Context, host string, ap netip.AddrPort, p *payload, rcpts []addr.Address) ([]RcptResult, []addr.Address, *failure) {
	spec := sessionSpec{
		host: host, addr: ap, tls: tlsOpportunistic,
		// Opportunistic: encryption against passive eavesdroppers, with
		// no way to check the certificate of an arbitrary MX.
		tlsConfig: &tls.Config{ServerName: strings.TrimSuffix(host, "."), InsecureSkipVerify: true},
	}
	done, left, f := c.session(ctx, spec, p, rcpts)
	if f != nil && f.tls && ctx.Err() == nil {
		c.log.Info("TLS handshake failed: trying again in plain text", "host", host, "addr", ap.String(), "reply", f.reply.String())
		spec.tls = tlsNone
		done, left, f = c.session(ctx, spec, p, rcpts)
	}
	return done, left, f
}

// undelivered decides for the recipients that no host took. They fail
// only when every failure was permanent; they go to the smarthost
// (Fallback) when no host could be reached at all or one refused us by
// policy.
func undelivered(domain string, rcpts []addr.Address, fails []*failure, self bool) []RcptResult {
	if len(fails) == 0 {
		r := localReply(451, [3]int{4, 4, 1}, "no usable mail server for %s", domain)
		if self {
			r = localReply(554, [3]int{5, 4, 6}, "mail for %s loops back to myself", domain)
		}
		return resultsFor(rcpts, statusOf(r), r, nil)
	}
	allDial, anyPolicy, allPerm := true, false, true
	var lastTemp, lastPerm *failure
	for _, f := range fails {
		allDial = allDial && f.dial
		anyPolicy = anyPolicy || f.policy
		if f.reply.Permanent() {
			lastPerm = f
		} else {
			allPerm, lastTemp = false, f
		}
	}
	f := lastTemp
	if allPerm {
		f = lastPerm
	}
	out := resultsFor(rcpts, statusOf(f.reply), f.reply, f)
	for i := range out {
		out[i].Fallback = allDial || anyPolicy
	}
	return out
}

// mxHosts finds the hosts to try for a domain.
func (c *Client) mxHosts(ctx context.Context, domain string) ([]mxHost, *failure) {
	mxs, err := c.opts.Resolver.LookupMX(ctx, domain)
	switch {
	case err == nil && resolver.IsNullMX(mxs):
		return nil, &failure{reply: localReply(556, [3]int{5, 1, 10}, "domain %s accepts no mail (null MX)", domain)}
	case err == nil:
		var hosts []mxHost
		for _, mx := range mxs {
			if name := strings.TrimSuffix(mx.Host, "."); name != "" {
				hosts = append(hosts, mxHost{name: name, pref: mx.Pref})
			}
		}
		if len(hosts) > 0 {
			return hosts, nil
		}
		return nil, &failure{reply: localReply(556, [3]int{5, 1, 10}, "domain %s accepts no mail (null MX)", domain)}
	case resolver.IsNotFound(err):
		return []mxHost{{name: domain, implicit: true}}, nil
	}
	return nil, &failure{reply: localReply(451, [3]int{4, 4, 3}, "cannot look up the mail servers of %s: %v", domain, err)}
}

// hostAddrs resolves one MX host.
func (c *Client) hostAddrs(ctx context.Context, h mxHost) ([]netip.Addr, *failure) {
	ips, err := c.opts.Resolver.LookupIP(ctx, "ip", h.name)
	switch {
	case err == nil:
	case resolver.IsNotFound(err) && h.implicit:
		return nil, &failure{reply: localReply(550, [3]int{5, 1, 2}, "domain %s not found", h.name)}
	case resolver.IsNotFound(err):
		return nil, &failure{reply: localReply(550, [3]int{5, 4, 4}, "mail server %s not found", h.name)}
	default:
		return nil, &failure{reply: localReply(451, [3]int{4, 4, 3}, "cannot look up mail server %s: %v", h.name, err)}
	}
	return toAddrs(ips), nil
}

func toAddrs(ips []net.IP) []netip.Addr {
	out := make([]netip.Addr, 0, len(ips))
	for _, ip := range ips {
		if a, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, a.Unmap())
		}
	}
	return out
}
