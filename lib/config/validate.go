package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"mailctl/lib/addr"
)

// Validate checks every value and canonicalises domains. An error names the
// offending key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, a ...any) {
		errs = append(errs, fmt.Errorf("key %q: %s", key, fmt.Sprintf(format, a...)))
	}
	if c.Hostname == "" {
		bad("hostname", "must be set")
	} else if _, err := addr.ParseDomain(c.Hostname); err != nil {
		bad("hostname", "%v", err)
	}
	for i, d := range c.Domains {
		cd, err := addr.ParseDomain(d)
		if err != nil {
			bad("domains", "%q: %v", d, err)
			continue
		}
		c.Domains[i] = cd
	}
	if c.Pickup.Domain != "" {
		if d, err := addr.ParseDomain(c.Pickup.Domain); err != nil {
			bad("pickup.domain", "%v", err)
		} else {
			c.Pickup.Domain = d
		}
	}
	if c.Postmaster != "" {
		if _, err := addr.Parse(c.Postmaster); err != nil {
			bad("postmaster", "%v", err)
		}
	}
	for key, p := range map[string]string{"data_dir": c.DataDir, "users_file": c.UsersFile, "aliases_file": c.AliasesFile, "domains_file": c.DomainsFile} {
		if p == "" {
			bad(key, "must be set")
		}
	}
	if len(c.SubaddressSeparator) > 1 || strings.ContainsAny(c.SubaddressSeparator, "@.\"/\\ ") {
		bad("subaddress_separator", "must be one character such as \"+\" or \"-\", or empty to disable")
	}
	if (c.TLS.Cert == "") != (c.TLS.Key == "") {
		bad("tls", "cert and key must be set together")
	}
	for i, p := range c.TLS.Extra {
		if p.Cert == "" || p.Key == "" {
			bad("tls.extra", "entry %d needs both cert and key", i+1)
		}
	}
	if len(c.DNS.Resolver) == 0 {
		bad("dns.resolver", "must name at least one server")
	}
	for _, r := range c.DNS.Resolver {
		if !validHostPort(r, true) {
			bad("dns.resolver", "%q is not an IP address or IP:port", r)
		}
	}
	if c.DNS.Timeout <= 0 {
		bad("dns.timeout", "must be positive")
	}
	l := c.Limits
	if l.MessageSize < 1024 {
		bad("limits.message_size", "must be at least 1K")
	}
	if l.Recipients < 1 {
		bad("limits.recipients", "must be at least 1")
	}
	if l.LineLength < 1000 { // RFC 5321 §4.5.3.1.6: 1000 octets at least
		bad("limits.line_length", "must be at least 1000")
	}
	if l.MessagesPerConnection < 1 {
		bad("limits.messages_per_connection", "must be at least 1")
	}
	if l.SendMessagesPerHour < 0 || l.SendRecipientsPerHour < 0 {
		bad("limits.send_messages_per_hour", "send limits must be 0 (no limit) or more")
	}
	for key, d := range map[string]time.Duration{"limits.command_timeout": l.CommandTimeout, "limits.session_timeout": l.SessionTimeout, "limits.lock_timeout": l.LockTimeout} {
		if d <= 0 {
			bad(key, "must be positive")
		}
	}
	switch c.Deliver.OverQuota {
	case "tempfail", "reject":
	default:
		bad("deliver.over_quota", "must be \"tempfail\" or \"reject\", not %q", c.Deliver.OverQuota)
	}
	known := map[string]bool{}
	for _, m := range Modules {
		known[m] = true
	}
	for m := range c.Modules {
		if !known[m] {
			bad("modules."+m, "no such module (known: %s)", strings.Join(Modules, ", "))
		}
	}
	for name, ls := range c.listeners() {
		if len(ls.WebmailListen) > 0 && name != "imapd" && name != "submitd" {
			bad(name+".webmail_listen", "only imapd and submitd take webmaild's connections")
		}
		for _, a := range ls.WebmailListen {
			// The PROXY header is trusted: never every address at once.
			if !strings.HasPrefix(a, "unix:") && a != "systemd" && !validHostPort(a, true) {
				bad(name+".webmail_listen", "%q is not unix:/path or IP:PORT (an address only webmaild can reach)", a)
			}
		}
		for key, addrs := range map[string][]string{name + ".listen": ls.Listen, name + ".listen_tls": ls.ListenTLS, name + ".webmail_listen": ls.WebmailListen} {
			for _, a := range addrs {
				if !validListen(a) {
					bad(key, "%q is not HOST:PORT, :PORT, unix:/path or systemd", a)
				}
			}
		}
	}
	c.validateOutbound(bad)
	c.validateScan(bad)
	c.validateWebmaild(bad)
	return errors.Join(errs...)
}

func (c *Config) listeners() map[string]Listeners {
	return map[string]Listeners{
		"smtpd": c.SMTPD, "submitd": c.Submitd, "imapd": c.IMAPD,
		"pop3d": c.POP3D, "lmtp": c.LMTP, "webmaild": c.Webmaild.Listeners(),
		"pickup": {Listen: c.Pickup.Listen},
	}
}

// ListenersFor returns the addresses configured for a module.
func (c *Config) ListenersFor(module string) Listeners { return c.listeners()[module] }

func validListen(a string) bool {
	if p, ok := strings.CutPrefix(a, "unix:"); ok {
		return strings.HasPrefix(p, "/") || strings.HasPrefix(p, "./")
	}
	if a == "systemd" {
		return true
	}
	return validHostPort(a, false)
}

func validHostPort(a string, ipOnly bool) bool {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		if ipOnly {
			return net.ParseIP(a) != nil
		}
		return false
	}
	if port == "" {
		return false
	}
	if ipOnly {
		return net.ParseIP(host) != nil
	}
	return true
}

func (c *Config) validateWebmaild(bad func(key, format string, a ...any)) {
	w := c.Webmaild
	for key, a := range map[string]string{"webmaild.imap": w.IMAP, "webmaild.submission": w.Submission} {
		host, port, err := net.SplitHostPort(a)
		if !strings.HasPrefix(a, "unix:/") && (err != nil || port == "" || net.ParseIP(host) == nil) {
			bad(key, "%q is not unix:/path or IP:PORT (never a name)", a)
		}
	}
	if w.SessionIdle < time.Minute {
		bad("webmaild.session_idle", "must be at least 1m")
	}
	if w.MaxSessions < 1 {
		bad("webmaild.max_sessions", "must be at least 1")
	}
	if w.PageSize < 5 || w.PageSize > 500 {
		bad("webmaild.page_size", "must be between 5 and 500")
	}
	for _, p := range w.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad("webmaild.trusted_proxies", "%q is not an IP address or CIDR", p)
		}
	}
}
