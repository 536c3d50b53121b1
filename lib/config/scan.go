package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailctl/lib/scan/weights"
)

// Scan configures lib/scan, run by smtpd after DATA and by mailctl scan.
type Scan struct {
	// Enabled runs the scanner inline in smtpd (and for viruses in submitd).
	Enabled bool `mapstructure:"enabled"`
	// Thresholds: a score at or above SpamScore goes to Junk, at or above
	// RejectScore is refused with 550 5.7.1.
	SpamScore   float64       `mapstructure:"spam_score"`
	RejectScore float64       `mapstructure:"reject_score"`
	Deadline    time.Duration `mapstructure:"deadline"`
	// DMARCReject refuses a DMARC failure whose policy is p=reject.
	DMARCReject bool `mapstructure:"dmarc_reject"`
	// DNSBL lists "zone:weight"; a negative weight is a welcome list.
	DNSBL []string `mapstructure:"dnsbl"`
	// Weights override the built-in weights of checks and rules by name.
	Weights map[string]float64 `mapstructure:"weights"`
	// Clamd is clamd's socket: "unix:/path" or "HOST:PORT"; "" is none.
	Clamd string `mapstructure:"clamd"`
	// ClamdDown is "tempfail" (451) or "accept" (with a header saying so).
	ClamdDown string `mapstructure:"clamd_down"`
	// ClamdStreamMax is clamd's StreamMaxLength: limits.message_size may
	// not exceed it, or large mail would go unscanned.
	ClamdStreamMax Size `mapstructure:"clamd_stream_max"`
	// Spamd is SpamAssassin's spamd socket ("unix:/path" or "HOST:PORT");
	// its score joins ours. SpamdDown is its down policy (default accept).
	Spamd     string `mapstructure:"spamd"`
	SpamdDown string `mapstructure:"spamd_down"`
	// Attachments refuses dangerous attachments (by name and content,
	// inside zips too); BlockedExtensions replaces the built-in list.
	Attachments       bool     `mapstructure:"attachments"`
	BlockedExtensions []string `mapstructure:"blocked_extensions"`
	// Greylist delays new senders at RCPT in smtpd ([scan.greylist]),
	// whether or not Enabled runs the content checks.
	Greylist Greylist `mapstructure:"greylist"`
}

// Greylist configures lib/greylist; its state is under state_dir/greylist.
type Greylist struct {
	Enabled bool `mapstructure:"enabled"`
	// Delay is how long a new (client network, sender, recipient) waits;
	// RetryWindow how long after the first try a retry still counts;
	// Expiry how long a triplet that passed (or a DKIM domain) is kept.
	Delay       time.Duration `mapstructure:"delay"`
	RetryWindow time.Duration `mapstructure:"retry_window"`
	Expiry      time.Duration `mapstructure:"expiry"`
	// MaxEntries bounds the triplets kept on disk.
	MaxEntries int `mapstructure:"max_entries"`
}

// Zone is one parsed DNSBL entry.
type Zone struct {
	Zone   string
	Weight float64
}

// Zones parses DNSBL (validated by Load).
func (s Scan) Zones() []Zone {
	var out []Zone
	for _, e := range s.DNSBL {
		if z, err := parseZone(e); err == nil {
			out = append(out, z)
		}
	}
	return out
}

func parseZone(e string) (Zone, error) {
	name, w, ok := strings.Cut(e, ":")
	if !ok || name == "" || strings.ContainsAny(name, " /") {
		return Zone{}, fmt.Errorf("%q is not ZONE:WEIGHT", e)
	}
	f, err := strconv.ParseFloat(w, 64)
	if err != nil {
		return Zone{}, fmt.Errorf("%q: weight: %v", e, err)
	}
	return Zone{Zone: strings.ToLower(strings.TrimSuffix(name, ".")), Weight: f}, nil
}

func defaultScan() Scan {
	return Scan{SpamScore: 5, RejectScore: 15, Deadline: 30 * time.Second, ClamdDown: "tempfail", ClamdStreamMax: 25 << 20, SpamdDown: "accept", Attachments: true,
		Greylist: Greylist{Delay: 5 * time.Minute, RetryWindow: 24 * time.Hour, Expiry: 36 * 24 * time.Hour, MaxEntries: 200000}}
}

// validateScan checks [scan].
func (c *Config) validateScan(bad func(key, format string, a ...any)) {
	s := c.Scan
	if s.SpamScore <= 0 || s.RejectScore < s.SpamScore {
		bad("scan.reject_score", "need 0 < spam_score <= reject_score (have %g and %g)", s.SpamScore, s.RejectScore)
	}
	if s.Deadline <= 0 {
		bad("scan.deadline", "must be positive")
	}
	for _, e := range s.DNSBL {
		if _, err := parseZone(e); err != nil {
			bad("scan.dnsbl", "%v", err)
		}
	}
	for key, v := range map[string]string{"scan.clamd_down": s.ClamdDown, "scan.spamd_down": s.SpamdDown} {
		if v != "tempfail" && v != "accept" {
			bad(key, "must be \"tempfail\" or \"accept\", not %q", v)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Weights)) {
		if !weights.Known(name) {
			bad("scan.weights."+name, "no check or rule of that name (known: %s)", strings.Join(weights.Names(), ", "))
		}
	}
	g := s.Greylist
	if g.Delay <= 0 || g.RetryWindow <= g.Delay {
		bad("scan.greylist.retry_window", "need 0 < delay < retry_window (have %s and %s)", g.Delay, g.RetryWindow)
	}
	if g.Expiry <= 0 {
		bad("scan.greylist.expiry", "must be positive")
	}
	if g.MaxEntries < 64 {
		bad("scan.greylist.max_entries", "must be at least 64")
	}
	if s.Clamd != "" && c.Limits.MessageSize > s.ClamdStreamMax {
		bad("scan.clamd_stream_max", "limits.message_size (%d) exceeds clamd's StreamMaxLength (%d): large mail would go unscanned", c.Limits.MessageSize, s.ClamdStreamMax)
	}
}
