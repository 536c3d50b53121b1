package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"mailctl/lib/addr"
)

// tlsMode is how a session uses TLS.
type tlsMode int

const (
	tlsOpportunistic tlsMode = iota // STARTTLS when offered, unverified (port 25)
	tlsNone                         // plain text: after a failed handshake
	tlsStartTLS                     // STARTTLS required and verified (relay)
	tlsImplicit                     // TLS from the first byte, verified (relay)
)

// sessionSpec is one connection to make.
type sessionSpec struct {
	host       string
	addr       netip.AddrPort
	tls        tlsMode
	tlsConfig  *tls.Config
	user, pass string
}

// session connects, greets, secures, authenticates and runs transactions
// for rcpts. It returns the recipients decided on this connection, those
// left undecided (the whole list when the session failed before a
// transaction) and, when some are left, why.
func (c *Client) session(ctx context.Context, s sessionSpec, p *payload, rcpts []addr.Address) ([]RcptResult, []addr.Address, *failure) {
	fail := func(r *Reply) *failure { return &failure{reply: r, host: s.host, addr: s.addr} }
	remote := fmt.Sprintf("%s[%s]:%d", s.host, s.addr.Addr(), s.addr.Port())

	d := net.Dialer{Timeout: c.opts.ConnectTimeout}
	nc, err := d.DialContext(ctx, "tcp", s.addr.String())
	if err != nil {
		f := fail(localReply(451, [3]int{4, 4, 1}, "cannot connect to %s: %s", remote, dialReason(ctx, err)))
		f.dial = true
		return nil, rcpts, f
	}
	cn := newConn(ctx, nc, s.host, c.opts.CommandTimeout)
	log := c.log.With("remote", remote)
	ioFail := func(err error) *failure {
		cn.close()
		var te *tlsError
		if errors.As(err, &te) {
			f := fail(localReply(454, [3]int{4, 7, 0}, "TLS handshake with %s failed: %v", remote, te.err))
			f.tls = true
			return f
		}
		if ctx.Err() != nil {
			return fail(localReply(451, [3]int{4, 4, 2}, "delivery to %s interrupted", remote))
		}
		return fail(localReply(451, [3]int{4, 4, 2}, "connection with %s lost: %v", remote, err))
	}
	refused := func(r *Reply, policy bool) ([]RcptResult, []addr.Address, *failure) {
		cn.quit()
		f := fail(r)
		f.policy = policy && r.Permanent()
		return nil, rcpts, f
	}

	if s.tls == tlsImplicit {
		if err := cn.handshake(s.tlsConfig); err != nil {
			return nil, rcpts, ioFail(err)
		}
	}
	r, err := cn.greet()
	if err != nil {
		return nil, rcpts, ioFail(err)
	}
	if r.Code != 220 {
		return refused(r, true) // a 5xx greeting turns our host away
	}
	if r, err = cn.hello(c.opts.Hostname); err != nil {
		return nil, rcpts, ioFail(err)
	} else if r.Code != 250 {
		return refused(r, true)
	}

	switch s.tls {
	case tlsOpportunistic:
		if cn.has("STARTTLS") {
			r, err := cn.startTLS(s.tlsConfig)
			if err != nil {
				return nil, rcpts, ioFail(err)
			}
			if r.Code == 220 {
				if r, err = cn.hello(c.opts.Hostname); err != nil {
					return nil, rcpts, ioFail(err)
				} else if r.Code != 250 {
					return refused(r, true)
				}
			} else {
				log.Debug("STARTTLS refused: going on in plain text", "reply", r.String())
			}
		}
	case tlsStartTLS:
		if !cn.has("STARTTLS") {
			return refused(localReply(454, [3]int{4, 7, 0}, "%s does not offer STARTTLS, which the relay requires", remote), false)
		}
		r, err := cn.startTLS(s.tlsConfig)
		if err != nil {
			return nil, rcpts, ioFail(err)
		}
		if r.Code != 220 {
			return refused(localReply(454, [3]int{4, 7, 0}, "%s refused STARTTLS: %s", remote, r), false)
		}
		if r, err = cn.hello(c.opts.Hostname); err != nil {
			return nil, rcpts, ioFail(err)
		} else if r.Code != 250 {
			return refused(r, false)
		}
	}

	if s.user != "" {
		if !cn.tls { // never reached: the relay modes require TLS above
			return refused(localReply(454, [3]int{4, 7, 0}, "no TLS with %s: AUTH is never sent in the clear", remote), false)
		}
		if err := cn.auth(s.user, s.pass); err != nil {
			var ae *authError
			if errors.As(err, &ae) {
				// Our configuration is wrong, not the message: retry later.
				return refused(localReply(454, [3]int{4, 7, 0}, "authentication at %s failed: %s", remote, ae.reply), false)
			}
			return nil, rcpts, ioFail(err)
		}
	}
	log.Debug("session ready", "tls", cn.tls, "ext", len(cn.ext))

	done, left, why := cn.transact(p, rcpts, c.opts.DataTimeout)
	for i := range done {
		done[i].Host, done[i].Addr, done[i].TLS = s.host, s.addr, cn.tls
	}
	if cn.broken {
		cn.close()
	} else {
		cn.quit()
	}
	if len(left) == 0 {
		return done, nil, nil
	}
	f := fail(why)
	f.policy = why.Policy()
	return done, left, f
}

// transact runs mail transactions for rcpts on a ready connection,
// starting a new one with the remaining recipients after "452 4.5.3 too
// many recipients". Recipients whose transaction could not start (MAIL
// refused, connection lost) are returned as left, with the reason.
func (c *conn) transact(p *payload, rcpts []addr.Address, dataTimeout time.Duration) (done []RcptResult, left []addr.Address, why *Reply) {
	from := p.m.From
	utf8ok := c.has("SMTPUTF8")
	if !utf8ok {
		if needsUTF8(from) || p.m.SMTPUTF8 && p.hdr8 {
			return resultsFor(rcpts, Failed, noUTF8(c.host), nil), nil, nil
		}
		var ok []addr.Address
		for _, rc := range rcpts {
			if needsUTF8(rc) {
				done = append(done, RcptResult{Rcpt: rc, Status: Failed, Reply: noUTF8(c.host)})
			} else {
				ok = append(ok, rc)
			}
		}
		rcpts = ok
	}
	if len(rcpts) == 0 {
		return done, nil, nil
	}
	sevenBit := p.eight && !c.has("8BITMIME")
	data, err := p.bytes(sevenBit)
	if err != nil {
		return append(done, resultsFor(rcpts, Deferred, localReply(451, [3]int{4, 3, 0}, "cannot prepare the message: %v", err), nil)...), nil, nil
	}
	size := len(data) + len(data)/40 // dot-stuffing can add a little
	if lim, err := strconv.Atoi(c.ext["SIZE"]); err == nil && lim > 0 && len(data) > lim {
		r := localReply(552, [3]int{5, 3, 4}, "message size %d exceeds the limit of %d bytes of %s", len(data), lim, c.host)
		return append(done, resultsFor(rcpts, Failed, r, nil)...), nil, nil
	}
	params := ""
	if c.has("SIZE") {
		params += " SIZE=" + strconv.Itoa(size)
	}
	if p.eight && !sevenBit {
		params += " BODY=8BITMIME"
	}
	if utf8ok && (p.m.SMTPUTF8 || needsUTF8(from) || anyUTF8(rcpts)) {
		params += " SMTPUTF8"
	}

	for len(rcpts) > 0 {
		r, err := c.cmd("MAIL FROM:<%s>%s", from, params)
		if err != nil {
			return done, rcpts, lostReply(c, err)
		}
		if !r.Positive() {
			c.cmd("RSET")
			return done, rcpts, r
		}
		var accepted, next []addr.Address
		var last *Reply
	rcptLoop:
		for i, rc := range rcpts {
			r, err := c.cmd("RCPT TO:<%s>", rc)
			if err != nil {
				return done, append(accepted, rcpts[i:]...), lostReply(c, err)
			}
			switch {
			case r.Positive():
				accepted = append(accepted, rc)
			case tooManyRecipients(r, len(accepted)):
				next, last = rcpts[i:], r
				break rcptLoop
			default:
				done = append(done, RcptResult{Rcpt: rc, Status: statusOf(r), Reply: r, Fallback: r.Policy()})
			}
		}
		if len(accepted) == 0 {
			if len(next) > 0 { // it takes no recipient at all: not a split
				done = append(done, resultsFor(next, Deferred, last, nil)...)
			}
			c.cmd("RSET")
			return done, nil, nil
		}
		r, err = c.cmd("DATA")
		if err != nil {
			return done, append(accepted, next...), lostReply(c, err)
		}
		if r.Code == 354 {
			if err := c.deadline(dataTimeout); err != nil {
				return done, append(accepted, next...), lostReply(c, err)
			}
			if err := writeData(c.bw, data); err != nil {
				return done, append(accepted, next...), lostReply(c, c.ioErr(err))
			}
			if r, err = c.readWithin(dataTimeout); err != nil {
				return done, append(accepted, next...), lostReply(c, err)
			}
		}
		for _, rc := range accepted {
			done = append(done, RcptResult{Rcpt: rc, Status: statusOf(r), Reply: r, Fallback: r.Policy()})
		}
		rcpts = next
	}
	return done, nil, nil
}

// tooManyRecipients recognises "452 4.5.3" (RFC 5321 §4.5.3.1.10), and a
// bare 452 after some recipients were taken.
func tooManyRecipients(r *Reply, accepted int) bool {
	if r.Code != 452 {
		return false
	}
	return r.Enhanced == [3]int{4, 5, 3} || r.Enhanced == [3]int{} && accepted > 0
}

func noUTF8(host string) *Reply {
	return localReply(550, [3]int{5, 6, 7}, "the message needs SMTPUTF8, which %s does not offer", host)
}

func anyUTF8(rcpts []addr.Address) bool {
	for _, rc := range rcpts {
		if needsUTF8(rc) {
			return true
		}
	}
	return false
}

// lostReply describes a connection that failed mid-session.
func lostReply(c *conn, err error) *Reply {
	if c.ctx.Err() != nil {
		return localReply(451, [3]int{4, 4, 2}, "delivery to %s interrupted", c.host)
	}
	return localReply(451, [3]int{4, 4, 2}, "connection with %s lost: %v", c.host, err)
}

// dialReason says briefly why a connection failed.
func dialReason(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "interrupted"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "connection timed out"
	case errors.Is(err, syscall.ENETUNREACH), errors.Is(err, syscall.EHOSTUNREACH):
		return "network unreachable"
	}
	return err.Error()
}
