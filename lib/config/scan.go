package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
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
	return Scan{SpamScore: 5, RejectScore: 15, Deadline: 30 * time.Second, ClamdDown: "tempfail", ClamdStreamMax: 25 << 20, SpamdDown: "accept", Attachments: true}
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
	if s.Clamd != "" && c.Limits.MessageSize > s.ClamdStreamMax {
		bad("scan.clamd_stream_max", "limits.message_size (%d) exceeds clamd's StreamMaxLength (%d): large mail would go unscanned", c.Limits.MessageSize, s.ClamdStreamMax)
	}
}
