package resolver

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"
)

// exchange asks the servers in turn until one gives a usable answer:
// NOERROR or NXDOMAIN. dnssec sets the DO and AD bits.
func (r *Resolver) exchange(ctx context.Context, name string, qtype uint16, dnssec bool) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.SetEdns0(ednsSize, dnssec)
	q.AuthenticatedData = dnssec // RFC 6840 §5.7: ask for AD without needing DO

	n := uint32(len(r.servers))
	first := r.next.Load() % n
	var lastErr error
	for range r.attempts {
		for i := range n {
			if err := ctx.Err(); err != nil {
				return nil, transportError(name, "", err)
			}
			idx := (first + i) % n
			server := r.servers[idx]
			resp, err := r.exchangeOne(ctx, q, server)
			if err != nil {
				lastErr = transportError(name, server, err)
				continue
			}
			switch resp.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError:
				r.next.Store(idx)
				return resp, nil
			}
			// SERVFAIL, REFUSED, …: another server may do better, and a
			// mail server would rather retry later than bounce.
			text := errServFail
			if resp.Rcode != dns.RcodeServerFailure {
				text = fmt.Sprintf("server answered %s", dns.RcodeToString[resp.Rcode])
			}
			lastErr = temporary(name, server, text, nil)
		}
	}
	return nil, lastErr
}

// exchangeOne sends q to server over UDP, and again over TCP if the answer
// was truncated, within r.timeout.
func (r *Resolver) exchangeOne(ctx context.Context, q *dns.Msg, server string) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	resp, err := r.send(ctx, q, server, "udp")
	if err == nil && resp.Truncated {
		resp, err = r.send(ctx, q, server, "tcp")
	}
	return resp, err
}

// send does one exchange over network with a fresh ID. The connection is
// closed when ctx ends, so a cancelled lookup returns at once rather than at
// the read deadline.
func (r *Resolver) send(ctx context.Context, q *dns.Msg, server, network string) (*dns.Msg, error) {
	q = q.Copy()
	q.Id = dns.Id()
	c := &dns.Client{Net: network, Timeout: r.timeout}
	conn, err := c.DialContext(ctx, server)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	resp, _, err := c.ExchangeWithConnContext(ctx, q, conn)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err() // the real cause, not "use of closed connection"
		}
		return nil, err
	}
	if err := checkReply(q, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

// checkReply refuses a reply that doesn't answer q.
func checkReply(q, resp *dns.Msg) error {
	if !resp.Response {
		return fmt.Errorf("reply without the QR bit")
	}
	if resp.Truncated && len(resp.Question) == 0 {
		return nil // some servers drop the question from truncated replies
	}
	if len(resp.Question) != 1 {
		return fmt.Errorf("reply has %d questions", len(resp.Question))
	}
	got, want := resp.Question[0], q.Question[0]
	if got.Qtype != want.Qtype || got.Qclass != want.Qclass || !strings.EqualFold(got.Name, want.Name) {
		return fmt.Errorf("reply answers %s, not %s", got.String(), want.String())
	}
	return nil
}
