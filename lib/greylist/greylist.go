package greylist

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/safeio"
)

// Defaults for zero Options fields.
const (
	DefaultDelay       = 5 * time.Minute
	DefaultRetryWindow = 24 * time.Hour
	DefaultExpiry      = 36 * 24 * time.Hour
	DefaultMaxEntries  = 200000
)

// Options configure a Greylist.
type Options struct {
	// Dir holds the state; it is made on first use.
	Dir string
	// Delay is how long a new triplet must wait before a retry passes;
	// RetryWindow how long after the first attempt a retry still counts;
	// Expiry how long a triplet that passed is remembered after its last
	// pass (and a DKIM domain after its last signature).
	Delay, RetryWindow, Expiry time.Duration
	// MaxEntries bounds the triplets kept, over all buckets.
	MaxEntries int
	// SPFPass, when set, is asked about a triplet that would be delayed:
	// true lets it through at once (the sender's SPF passes for the
	// client). An SPF error counts as no pass.
	SPFPass func(ctx context.Context, ip netip.Addr, helo string, sender addr.Address) bool
	// Now is the clock (time.Now when nil); tests move it.
	Now         func() time.Time
	LockTimeout time.Duration
	Logger      *slog.Logger
}

// Greylist decides at RCPT time. It is safe for concurrent use, also by
// several processes on the same Dir.
type Greylist struct {
	opts Options
}

// New checks opts and returns a Greylist.
func New(opts Options) (*Greylist, error) {
	if opts.Dir == "" {
		return nil, errors.New("greylist: no state directory")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&opts.Delay, DefaultDelay)
	def(&opts.RetryWindow, DefaultRetryWindow)
	def(&opts.Expiry, DefaultExpiry)
	def(&opts.LockTimeout, safeio.LockTimeout)
	if opts.RetryWindow <= opts.Delay {
		return nil, fmt.Errorf("greylist: retry window %s not longer than the delay %s", opts.RetryWindow, opts.Delay)
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Greylist{opts: opts}, nil
}

// Decision is the answer for one recipient.
type Decision struct {
	// Pass lets the recipient through; otherwise answer 451 4.7.1.
	Pass bool
	// Why: "passed" (a known triplet), "retried" (its first pass after the
	// delay), "spf", "dkim", or "new" and "early" when delayed.
	Why string
	// RetryIn is how long a delayed sender still has to wait.
	RetryIn time.Duration
}

// Check decides whether mail from client ip (greeted as helo) from sender
// to rcpt passes now, and records the attempt.
func (g *Greylist) Check(ctx context.Context, ip netip.Addr, helo string, sender, rcpt addr.Address) (Decision, error) {
	key := tripletKey(ip, sender, rcpt)
	now := g.opts.Now()
	b := g.bucket(key)
	// The common case, a known sender, needs no lock and no write.
	e, err := lookup(b, key)
	if err != nil {
		return Decision{}, err
	}
	if e != nil && e.passes > 0 && now.Sub(e.lastPass) <= g.opts.Expiry && now.Sub(e.lastPass) < refresh {
		return Decision{Pass: true, Why: "passed"}, nil
	}
	var d Decision
	ask := false // a triplet that would be delayed: try SPF and DKIM first
	err = g.update(ctx, b, now, func(tab *bucket) {
		e, ok := tab.entries[key]
		switch {
		case ok && e.passes > 0 && now.Sub(e.lastPass) <= g.opts.Expiry:
			e.lastPass, e.passes = now, e.passes+1
			d = Decision{Pass: true, Why: "passed"}
		case ok && now.Sub(e.first) <= g.opts.RetryWindow && now.Sub(e.first) >= g.opts.Delay:
			e.lastPass, e.passes = now, 1
			d = Decision{Pass: true, Why: "retried"}
		case ok && now.Sub(e.first) <= g.opts.RetryWindow && now.Sub(e.first) >= 0:
			d = Decision{Why: "early", RetryIn: g.opts.Delay - now.Sub(e.first)}
			return
		default: // new, or the retry window (or expiry) has passed
			e = &entry{first: now}
			tab.entries[key] = e
			d, ask = Decision{Why: "new", RetryIn: g.opts.Delay}, true
			return
		}
		tab.entries[key] = e
	})
	if err != nil {
		return Decision{}, err
	}
	if !d.Pass && ask {
		if why := g.bypass(ctx, ip, helo, sender); why != "" {
			// Remembered as passed: the next message needs no DNS.
			d = Decision{Pass: true, Why: why}
			err = g.update(ctx, b, now, func(tab *bucket) { tab.entries[key] = &entry{first: now, lastPass: now, passes: 1} })
		}
	}
	return d, err
}

// bypass says why a new triplet need not wait: "spf" when the sender's
// SPF passes for the client now, "dkim" when its domain signed earlier
// mail; "" when neither.
func (g *Greylist) bypass(ctx context.Context, ip netip.Addr, helo string, sender addr.Address) string {
	if sender.Domain != "" {
		ok, err := g.dkimKnown(sender.Domain)
		if err != nil {
			g.opts.Logger.Warn("greylist: dkim domains", "err", err)
		}
		if ok {
			return "dkim"
		}
	}
	if g.opts.SPFPass != nil && g.opts.SPFPass(ctx, ip, helo, sender) {
		return "spf"
	}
	return ""
}

// Network is the part of ip a triplet names: the IPv4 /24 or IPv6 /64.
func Network(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, err := ip.Prefix(bits)
	if err != nil { // the zero Addr
		return netip.Prefix{}
	}
	return p
}

func tripletKey(ip netip.Addr, sender, rcpt addr.Address) string {
	s := ""
	if !sender.IsZero() {
		s = sender.String()
	}
	sum := sha256.Sum256([]byte(Network(ip).String() + "\x00" + strings.ToLower(s) + "\x00" + rcpt.String()))
	return hex.EncodeToString(sum[:16])
}

// mkdir makes Dir on first use.
func (g *Greylist) mkdir() error {
	if err := os.MkdirAll(g.opts.Dir, 0o750); err != nil {
		return fmt.Errorf("greylist: %w", err)
	}
	return nil
}
