package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Relay is the provider's smarthost and how the queue uses it.
type Relay struct {
	// Mode is "direct" (MX delivery only), "smarthost" (everything through
	// the relay) or "direct-then-smarthost" (MX delivery; what it can't
	// deliver for want of a connection or by a policy refusal goes
	// through the relay at once).
	Mode string `mapstructure:"mode"`
	Host string `mapstructure:"host"`
	// Port 0 is 587 with TLS "starttls" and 465 with "implicit".
	Port   int    `mapstructure:"port"`
	TLS    string `mapstructure:"tls"`     // "starttls" or "implicit"; both verified
	CAFile string `mapstructure:"ca_file"` // "" trusts the system roots
	// Username for AUTH, with Password or (better) PasswordFile, whose
	// first line is the password.
	Username     string `mapstructure:"username"`
	Password     string `mapstructure:"password"`
	PasswordFile string `mapstructure:"password_file"`
	// The provider's limits (0: none). Over a cap the queue waits.
	MessagesPerHour int  `mapstructure:"messages_per_hour"`
	MessagesPerDay  int  `mapstructure:"messages_per_day"`
	MaxSize         Size `mapstructure:"max_size"`
}

// The relay modes.
const (
	RelayDirect       = "direct"
	RelaySmarthost    = "smarthost"
	RelayDirectFirst  = "direct-then-smarthost"
	RelayTLSStartTLS  = "starttls"
	RelayTLSImplicit  = "implicit"
	defaultRelayPort  = 587
	defaultRelayPortI = 465
)

// EffectivePort is the relay port, with 0 meaning the usual one for the
// TLS mode.
func (r Relay) EffectivePort() int {
	switch {
	case r.Port != 0:
		return r.Port
	case r.TLS == RelayTLSImplicit:
		return defaultRelayPortI
	}
	return defaultRelayPort
}

// Queue tunes the outbound queue runner.
type Queue struct {
	// Port is where direct delivery connects on each MX (25; tests play
	// remote MXes on other loopback ports).
	Port         int           `mapstructure:"port"`
	RetryInitial time.Duration `mapstructure:"retry_initial"` // first retry after this, doubling …
	RetryMax     time.Duration `mapstructure:"retry_max"`     // … up to this
	MaxAge       time.Duration `mapstructure:"max_age"`       // then bounce
	DelayWarning time.Duration `mapstructure:"delay_warning"` // warn the sender once (0: never)
	Concurrency  int           `mapstructure:"concurrency"`   // messages delivered at once
}

func defaultRelay() Relay { return Relay{Mode: RelayDirect, TLS: RelayTLSStartTLS} }

func defaultQueue() Queue {
	return Queue{
		Port:         25,
		RetryInitial: 5 * time.Minute,
		RetryMax:     4 * time.Hour,
		MaxAge:       5 * 24 * time.Hour,
		DelayWarning: 4 * time.Hour,
		Concurrency:  8,
	}
}

// validateOutbound checks [relay] and [queue].
func (c *Config) validateOutbound(bad func(key, format string, a ...any)) {
	r := c.Relay
	switch r.Mode {
	case RelayDirect, RelaySmarthost, RelayDirectFirst:
	default:
		bad("relay.mode", "must be %q, %q or %q, not %q", RelayDirect, RelaySmarthost, RelayDirectFirst, r.Mode)
	}
	if r.Mode != RelayDirect && r.Host == "" {
		bad("relay.host", "must be set when relay.mode is %q", r.Mode)
	}
	switch r.TLS {
	case RelayTLSStartTLS, RelayTLSImplicit:
	default:
		bad("relay.tls", "must be %q or %q, not %q (the relay is never used without TLS)", RelayTLSStartTLS, RelayTLSImplicit, r.TLS)
	}
	if r.Port < 0 || r.Port > 65535 {
		bad("relay.port", "must be a port number (or 0 for the usual one)")
	}
	if r.Password != "" && r.PasswordFile != "" {
		bad("relay.password", "set password or password_file, not both")
	}
	if r.Username != "" && r.Password == "" && r.PasswordFile == "" {
		bad("relay.username", "needs password_file (or password)")
	}
	if r.Username == "" && (r.Password != "" || r.PasswordFile != "") {
		bad("relay.username", "must be set with a password")
	}
	for key, n := range map[string]int{"relay.messages_per_hour": r.MessagesPerHour, "relay.messages_per_day": r.MessagesPerDay} {
		if n < 0 {
			bad(key, "must be 0 (no limit) or more")
		}
	}
	if r.MaxSize < 0 {
		bad("relay.max_size", "must be 0 (no limit) or more")
	}
	q := c.Queue
	if q.Port < 1 || q.Port > 65535 {
		bad("queue.port", "must be a port number")
	}
	if q.RetryInitial <= 0 {
		bad("queue.retry_initial", "must be positive")
	}
	if q.RetryMax < q.RetryInitial {
		bad("queue.retry_max", "must be at least retry_initial")
	}
	if q.MaxAge <= 0 {
		bad("queue.max_age", "must be positive")
	}
	if q.DelayWarning < 0 {
		bad("queue.delay_warning", "must be 0 (never) or positive")
	}
	if q.Concurrency < 1 || q.Concurrency > 1000 {
		bad("queue.concurrency", "must be between 1 and 1000")
	}
}

// ParseDuration is time.ParseDuration that also takes whole days:
// "5d", "1d12h".
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	days, rest, ok := strings.Cut(t, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseUint(days, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		d += r
	}
	if neg {
		d = -d
	}
	return d, nil
}

// durationHook lets mapstructure decode "90s", "4h" or "5d".
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	if s, ok := data.(string); ok {
		return ParseDuration(s)
	}
	return data, nil
}
