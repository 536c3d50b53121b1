package smtpout

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"mailctl/lib/addr"
)

// Resolver is what the client needs from DNS; *resolver.Resolver has it.
type Resolver interface {
	LookupMX(ctx context.Context, domain string) ([]*net.MX, error)
	LookupIP(ctx context.Context, network, host string) ([]net.IP, error)
}

// Options configure a Client.
type Options struct {
	// Hostname is the name given in EHLO; it should match our PTR record.
	Hostname string
	// Resolver answers every MX and address lookup (never the system's).
	Resolver Resolver
	// Port is where direct delivery connects; 0 means 25.
	Port int
	// ConnectTimeout bounds one TCP connection attempt (0: 30s).
	ConnectTimeout time.Duration
	// CommandTimeout bounds each command's reply, the greeting included
	// (0: 5 minutes, RFC 5321 §4.5.3.2).
	CommandTimeout time.Duration
	// DataTimeout bounds the reply after the message (0: 10 minutes).
	DataTimeout time.Duration
	// Self reports whether an address and port is one of our own SMTP
	// listeners, so that we never deliver to ourselves (see LocalEndpoints).
	// nil: nothing is ourselves.
	Self func(netip.AddrPort) bool
	// Relay is the smarthost; nil when there is none.
	Relay *Relay
	// Logger receives one debug line per connection; nil discards.
	Logger *slog.Logger
}

// Relay describes the smarthost: TLS is always required and verified, so
// AUTH never crosses the network in the clear.
type Relay struct {
	Host        string // name (resolved through Options.Resolver) or IP address
	Port        int
	ImplicitTLS bool        // TLS from the first byte (465); else STARTTLS, required
	TLS         *tls.Config // RootCAs for verification (nil: system roots); ServerName defaults to Host
	Username    string      // AUTH PLAIN or LOGIN when set
	Password    string
}

// Client delivers messages over SMTP. It is safe for concurrent use.
type Client struct {
	opts Options
	log  *slog.Logger
}

// New returns a Client.
func New(opts Options) (*Client, error) {
	if opts.Hostname == "" {
		return nil, errors.New("smtpout: no hostname for EHLO")
	}
	if opts.Resolver == nil {
		return nil, errors.New("smtpout: no resolver")
	}
	if opts.Port == 0 {
		opts.Port = 25
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 30 * time.Second
	}
	if opts.CommandTimeout <= 0 {
		opts.CommandTimeout = 5 * time.Minute
	}
	if opts.DataTimeout <= 0 {
		opts.DataTimeout = 10 * time.Minute
	}
	if opts.Self == nil {
		opts.Self = func(netip.AddrPort) bool { return false }
	}
	if r := opts.Relay; r != nil {
		if r.Host == "" || r.Port <= 0 || r.Port > 65535 {
			return nil, fmt.Errorf("smtpout: relay %q port %d: host and port needed", r.Host, r.Port)
		}
		if r.Username != "" && r.Password == "" {
			return nil, errors.New("smtpout: relay username without password")
		}
	}
	l := opts.Logger
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &Client{opts: opts, log: l}, nil
}

// HasRelay reports whether a smarthost is configured.
func (c *Client) HasRelay() bool { return c.opts.Relay != nil }

// Message is what to send: the envelope sender and the content.
type Message struct {
	From addr.Address // zero for the null sender <> (bounces)
	Data []byte       // the message; line ends are made CRLF on the way
	// SMTPUTF8 is set when the message came in with SMTPUTF8 (RFC 6531):
	// 8-bit header fields then need a peer that has it too.
	SMTPUTF8 bool
	// Sign, when set, returns the final bytes with a signature added
	// (DKIM). It runs on what is actually sent, after any conversion to
	// 7 bit, so the signature holds.
	Sign func(msg []byte) ([]byte, error)
}

// Status is the outcome for one recipient.
type Status int

const (
	Sent     Status = iota + 1 // the remote server took it (2xx after DATA)
	Deferred                   // a temporary failure: try again later
	Failed                     // a permanent failure: bounce
)

func (s Status) String() string {
	switch s {
	case Sent:
		return "sent"
	case Deferred:
		return "deferred"
	case Failed:
		return "failed"
	}
	return "unknown"
}

// RcptResult is the outcome for one recipient.
type RcptResult struct {
	Rcpt   addr.Address
	Status Status
	// Reply is what decided it: the remote's reply (to DATA when sent),
	// or one made up for a failure without a reply (Reply.Local).
	Reply *Reply
	// Host is the server that answered ("" when none was reached), and
	// Addr where it was.
	Host string
	Addr netip.AddrPort
	TLS  bool
	// Fallback marks a direct-delivery failure that the smarthost may fix
	// right away: no MX could be reached at all (refused, timed out,
	// unreachable), or a permanent policy rejection of our host (x.7.x,
	// or a 5xx to the greeting or EHLO).
	Fallback bool
}

// failure is why recipients remain undecided after one host.
type failure struct {
	reply  *Reply
	dial   bool // no TCP connection: refused, timed out, unreachable
	policy bool // a permanent rejection of our host
	tls    bool // the TLS handshake failed (try again in plain text on port 25)
	host   string
	addr   netip.AddrPort
}

// payload holds a message's bytes as sent: CRLF line ends, optionally
// converted to 7 bit, optionally signed. Each variant is made once.
type payload struct {
	m     *Message
	crlf  []byte
	eight bool // 8-bit bytes anywhere
	hdr8  bool // 8-bit bytes in the top-level header

	mu       sync.Mutex
	variants [2][]byte
	errs     [2]error
	done     [2]bool
}

func newPayload(m *Message) *payload {
	p := &payload{m: m, crlf: normalizeCRLF(m.Data)}
	p.eight = has8bit(p.crlf)
	if p.eight {
		h, _ := splitHeader(p.crlf)
		p.hdr8 = has8bit(h)
	}
	return p
}

// bytes returns the message as sent to a peer with (sevenBit false) or
// without 8BITMIME.
func (p *payload) bytes(sevenBit bool) ([]byte, error) {
	i := 0
	if sevenBit {
		i = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done[i] {
		b := p.crlf
		if sevenBit {
			b = to7bit(b)
		}
		var err error
		if p.m.Sign != nil {
			b, err = p.m.Sign(b)
		}
		p.variants[i], p.errs[i], p.done[i] = b, err, true
	}
	return p.variants[i], p.errs[i]
}

// resultsFor gives every recipient the same outcome.
func resultsFor(rcpts []addr.Address, st Status, r *Reply, f *failure) []RcptResult {
	out := make([]RcptResult, len(rcpts))
	for i, rc := range rcpts {
		out[i] = RcptResult{Rcpt: rc, Status: st, Reply: r}
		if f != nil {
			out[i].Host, out[i].Addr = f.host, f.addr
		}
	}
	return out
}

// statusOf maps a reply to a recipient status.
func statusOf(r *Reply) Status {
	switch {
	case r.Positive():
		return Sent
	case r.Permanent():
		return Failed
	}
	return Deferred
}

// needsUTF8 reports an address that only SMTPUTF8 can carry. Domains
// are kept as A-labels, so only the local part can need it.
func needsUTF8(a addr.Address) bool { return has8bit([]byte(a.Local)) }
