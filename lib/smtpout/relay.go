package smtpout

import (
	"context"
	"crypto/tls"
	"net/netip"

	"mailctl/lib/addr"
	"mailctl/lib/resolver"
)

// Relay delivers a message for any recipients through the smarthost, in
// as many transactions as it takes. TLS is required and the certificate
// verified; AUTH follows only over TLS. Failures the smarthost did not
// decide itself (connection, TLS, a refused login) are temporary: the
// message waits, it does not bounce.
func (c *Client) Relay(ctx context.Context, m *Message, rcpts []addr.Address) []RcptResult {
	r := c.opts.Relay
	if len(rcpts) == 0 {
		return nil
	}
	if r == nil {
		return resultsFor(rcpts, Deferred, localReply(451, [3]int{4, 3, 5}, "no relay host configured"), nil)
	}
	addrs, f := c.relayAddrs(ctx)
	if f != nil {
		return resultsFor(rcpts, Deferred, f.reply, nil)
	}
	cfg := &tls.Config{ServerName: r.Host, MinVersion: tls.VersionTLS12}
	if r.TLS != nil {
		cfg = r.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName = r.Host
		}
		if cfg.MinVersion == 0 {
			cfg.MinVersion = tls.VersionTLS12
		}
	}
	spec := sessionSpec{host: r.Host, tls: tlsStartTLS, tlsConfig: cfg, user: r.Username, pass: r.Password}
	if r.ImplicitTLS {
		spec.tls = tlsImplicit
	}
	p := newPayload(m)
	var out []RcptResult
	pending := rcpts
	for _, a := range addrs {
		spec.addr = netip.AddrPortFrom(a, uint16(r.Port))
		var done []RcptResult
		done, pending, f = c.session(ctx, spec, p, pending)
		out = append(out, done...)
		if len(pending) == 0 || !f.dial || ctx.Err() != nil {
			break // another address of the same relay would say the same
		}
	}
	if len(pending) > 0 {
		st := Deferred
		if f.reply.Permanent() && !f.reply.Local {
			st = Failed // the relay itself refused (e.g. 550 at MAIL FROM)
		}
		out = append(out, resultsFor(pending, st, f.reply, f)...)
	}
	for i := range out {
		out[i].Fallback = false
		if rp := out[i].Reply; out[i].Status == Failed && rp.Enhanced[1] == 4 && rp.Enhanced[2] == 5 {
			// x.4.5 "congestion": providers say this, even as 5xx, when
			// a sending quota is used up. It passes; it is no bounce.
			out[i].Status = Deferred
		}
	}
	return out
}

// relayAddrs resolves the relay host through our resolver.
func (c *Client) relayAddrs(ctx context.Context) ([]netip.Addr, *failure) {
	host := c.opts.Relay.Host
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	ips, err := c.opts.Resolver.LookupIP(ctx, "ip", host)
	if err != nil {
		code := [3]int{4, 4, 3}
		if resolver.IsNotFound(err) {
			code = [3]int{4, 4, 4}
		}
		return nil, &failure{reply: localReply(451, code, "cannot look up relay host %s: %v", host, err)}
	}
	addrs := toAddrs(ips)
	if len(addrs) == 0 {
		return nil, &failure{reply: localReply(451, [3]int{4, 4, 4}, "relay host %s has no address", host)}
	}
	return addrs, nil
}
