// Package config reads mailctl.toml into a typed Config with defaults and
// validation.
//
// Every key may also come from the environment: MAILCTL_ followed by the key
// in upper case with dots as underscores (MAILCTL_HOSTNAME,
// MAILCTL_TLS_CERT, MAILCTL_LIMITS_MESSAGE_SIZE). Lists from the
// environment are comma-separated. An unknown key, or a value of the wrong
// type, is an error that names the key. See examples/mailctl.toml for every
// key with its meaning.
package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// DefaultPath is where the config is read from when neither --config nor
// MAILCTL_CONFIG names a file.
const DefaultPath = "/etc/mailctl/mailctl.toml"

// Config is the whole server configuration.
type Config struct {
	Hostname            string   `mapstructure:"hostname"`
	Domains             []string `mapstructure:"domains"`
	Postmaster          string   `mapstructure:"postmaster"`
	DataDir             string   `mapstructure:"data_dir"`
	UsersFile           string   `mapstructure:"users_file"`
	AliasesFile         string   `mapstructure:"aliases_file"`
	DomainsFile         string   `mapstructure:"domains_file"`
	User                string   `mapstructure:"user"`
	SubaddressSeparator string   `mapstructure:"subaddress_separator"`

	TLS     TLS             `mapstructure:"tls"`
	DNS     DNS             `mapstructure:"dns"`
	Limits  Limits          `mapstructure:"limits"`
	Deliver Deliver         `mapstructure:"deliver"`
	Auth    Auth            `mapstructure:"auth"`
	Relay   Relay           `mapstructure:"relay"`
	Queue   Queue           `mapstructure:"queue"`
	Scan    Scan            `mapstructure:"scan"`
	Modules map[string]bool `mapstructure:"modules"`

	SMTPD    Listeners `mapstructure:"smtpd"`
	Submitd  Listeners `mapstructure:"submitd"`
	IMAPD    Listeners `mapstructure:"imapd"`
	POP3D    Listeners `mapstructure:"pop3d"`
	LMTP     Listeners `mapstructure:"lmtp"`
	Webmaild Webmaild  `mapstructure:"webmaild"`
	Pickup   Pickup    `mapstructure:"pickup"`
}

// TLS names the server certificate; Extra adds more, chosen by SNI.
type TLS struct {
	Cert  string     `mapstructure:"cert"`
	Key   string     `mapstructure:"key"`
	Extra []CertPair `mapstructure:"extra"`
}

// CertPair is one certificate and its key.
type CertPair struct {
	Cert string `mapstructure:"cert"`
	Key  string `mapstructure:"key"`
}

// DNS configures the one resolver every lookup goes through.
type DNS struct {
	Resolver []string      `mapstructure:"resolver"`
	Timeout  time.Duration `mapstructure:"timeout"`
}

// Limits protect every protocol from floods and runaway clients.
type Limits struct {
	MessageSize           Size          `mapstructure:"message_size"`
	Recipients            int           `mapstructure:"recipients"`
	LineLength            int           `mapstructure:"line_length"`
	MessagesPerConnection int           `mapstructure:"messages_per_connection"`
	CommandTimeout        time.Duration `mapstructure:"command_timeout"`
	SessionTimeout        time.Duration `mapstructure:"session_timeout"`
	LockTimeout           time.Duration `mapstructure:"lock_timeout"`
	// What one submission user may send per hour (0: no limit).
	SendMessagesPerHour   int `mapstructure:"send_messages_per_hour"`
	SendRecipientsPerHour int `mapstructure:"send_recipients_per_hour"`
}

// Deliver holds the MDA's policy.
type Deliver struct {
	// OverQuota is "tempfail" (EX_TEMPFAIL / 452: the sender retries) or
	// "reject" (a permanent failure).
	OverQuota string `mapstructure:"over_quota"`
}

// Auth holds the login policy shared by imapd, pop3d and submitd.
type Auth struct {
	// PlaintextLoopback accepts passwords without TLS from loopback
	// clients (127.0.0.0/8, ::1, unix sockets); elsewhere a password is
	// only taken over TLS.
	PlaintextLoopback bool `mapstructure:"plaintext_loopback"`
}

// Pickup is the local submission daemon "mailctl sendmail" hands mail to.
type Pickup struct {
	Listen []string `mapstructure:"listen"`
	// Domain qualifies addresses without one ("root", the sending user's
	// login); empty means the hostname.
	Domain string `mapstructure:"domain"`
}

// QualifyDomain is the domain given to unqualified local addresses.
func (c *Config) QualifyDomain() string {
	if c.Pickup.Domain != "" {
		return c.Pickup.Domain
	}
	return c.Hostname
}

// Listeners are one module's addresses: Listen is plain (STARTTLS where the
// protocol has it), ListenTLS is implicit TLS. WebmailListen (imapd and
// submitd only) is where webmaild connects: each connection starts with a
// PROXY protocol header naming the browser's address, which is trusted, so
// it must be a Unix socket or an address only webmaild can reach.
type Listeners struct {
	Listen        []string `mapstructure:"listen"`
	ListenTLS     []string `mapstructure:"listen_tls"`
	WebmailListen []string `mapstructure:"webmail_listen"`
}

// Webmaild is the webmail server: its HTTP listeners (listen is plain HTTP,
// allowed only on loopback or behind trusted_proxies; listen_tls is HTTPS),
// and where it reaches imapd and submitd (their webmail_listen addresses:
// unix:/path or IP:PORT).
type Webmaild struct {
	Listen      []string      `mapstructure:"listen"`
	ListenTLS   []string      `mapstructure:"listen_tls"`
	IMAP        string        `mapstructure:"imap"`
	Submission  string        `mapstructure:"submission"`
	SessionIdle time.Duration `mapstructure:"session_idle"`
	MaxSessions int           `mapstructure:"max_sessions"`
	PageSize    int           `mapstructure:"page_size"`
	// TrustedProxies are reverse proxies (IP or CIDR) whose X-Forwarded-For
	// and X-Forwarded-Proto are believed.
	TrustedProxies []string `mapstructure:"trusted_proxies"`
}

// Listeners returns webmaild's HTTP addresses.
func (w Webmaild) Listeners() Listeners {
	return Listeners{Listen: w.Listen, ListenTLS: w.ListenTLS}
}

// Modules known to serve and to the modules table.
var Modules = []string{"smtpd", "submitd", "imapd", "pop3d", "lmtp", "queue", "webmaild", "pickup"}

// Default returns the built-in defaults: a production layout under /etc and
// /var/lib with the standard ports.
func Default() *Config {
	host, _ := os.Hostname()
	return &Config{
		Hostname:            host,
		DataDir:             "/var/lib/mailctl",
		UsersFile:           "/etc/mailctl/users",
		AliasesFile:         "/etc/mailctl/aliases",
		DomainsFile:         "/etc/mailctl/domains",
		User:                "mailctl",
		SubaddressSeparator: "+",
		TLS:                 TLS{Cert: "/etc/mailctl/tls/cert.pem", Key: "/etc/mailctl/tls/key.pem"},
		DNS:                 DNS{Resolver: []string{"127.0.0.1:53"}, Timeout: 5 * time.Second},
		Limits: Limits{
			MessageSize:           50 << 20,
			Recipients:            100,
			LineLength:            4096,
			MessagesPerConnection: 100,
			CommandTimeout:        5 * time.Minute,
			SessionTimeout:        30 * time.Minute,
			LockTimeout:           30 * time.Second,
			SendMessagesPerHour:   200,
			SendRecipientsPerHour: 1000,
		},
		Deliver: Deliver{OverQuota: "tempfail"},
		Relay:   defaultRelay(),
		Queue:   defaultQueue(),
		Scan:    defaultScan(),
		Modules: map[string]bool{
			"smtpd": true, "submitd": true, "imapd": true, "pop3d": true,
			"lmtp": true, "queue": true, "webmaild": false, "pickup": true,
		},
		SMTPD: Listeners{Listen: []string{":25"}},
		Submitd: Listeners{Listen: []string{":587"}, ListenTLS: []string{":465"},
			WebmailListen: []string{"unix:/run/mailctl/submission-webmail.sock"}},
		IMAPD: Listeners{Listen: []string{":143"}, ListenTLS: []string{":993"},
			WebmailListen: []string{"unix:/run/mailctl/imap-webmail.sock"}},
		POP3D: Listeners{Listen: []string{":110"}, ListenTLS: []string{":995"}},
		LMTP:  Listeners{Listen: []string{"unix:/run/mailctl/lmtp.sock"}},
		Webmaild: Webmaild{Listen: []string{"127.0.0.1:8080"},
			IMAP: "unix:/run/mailctl/imap-webmail.sock", Submission: "unix:/run/mailctl/submission-webmail.sock",
			SessionIdle: 30 * time.Minute, MaxSessions: 1000, PageSize: 50, TrustedProxies: []string{}},
		Pickup: Pickup{Listen: []string{"unix:/run/mailctl/sendmail.sock"}},
	}
}

// MailDir is the root of the users' Maildirs.
func (c *Config) MailDir() string { return filepath.Join(c.DataDir, "mail") }

// QueueDir is the outbound spool.
func (c *Config) QueueDir() string { return filepath.Join(c.DataDir, "queue") }

// StateDir holds shared runtime state (login failure counters and the like).
func (c *Config) StateDir() string { return filepath.Join(c.DataDir, "state") }

// ModuleEnabled reports whether a module is switched on.
func (c *Config) ModuleEnabled(name string) bool { return c.Modules[name] }

// Load reads the config at path over the defaults, applies MAILCTL_*
// environment variables and validates the result. An empty path reads
// DefaultPath if it exists and uses the defaults otherwise.
func Load(path string) (*Config, error) {
	explicit := path != ""
	if !explicit {
		path = DefaultPath
	}
	v := viper.New()
	v.SetConfigType("toml")
	v.SetEnvPrefix("MAILCTL")
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()

	def := Default()
	known := map[string]bool{}
	for k, val := range flatten(reflect.ValueOf(def).Elem(), "") {
		v.SetDefault(k, val)
		known[k] = true
	}

	f, err := os.Open(path)
	switch {
	case err == nil:
		defer f.Close()
		if err := v.ReadConfig(f); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	case errors.Is(err, os.ErrNotExist) && !explicit:
		path = ""
	default:
		return nil, fmt.Errorf("config: %w", err)
	}

	var unknown []string
	for _, k := range v.AllKeys() {
		if !known[k] && !isMapKey(k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config %s: unknown key %q", displayPath(path), unknown[0])
	}

	cfg := &Config{}
	err = v.Unmarshal(cfg, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		sizeHook,
		durationHook, // "5d" too
		mapstructure.StringToSliceHookFunc(","),
	)))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", displayPath(path), err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", displayPath(path), err)
	}
	return cfg, nil
}

func displayPath(p string) string {
	if p == "" {
		return "(defaults)"
	}
	return p
}

// isMapKey reports whether k lives under a table whose keys are free-form.
func isMapKey(k string) bool {
	// scan.weights names are checked by validateScan.
	return strings.HasPrefix(k, "modules.") || strings.HasPrefix(k, "scan.weights.")
}

// flatten turns a config struct into dotted keys and their default values.
// Maps are flattened one level (modules.smtpd); slices are values.
func flatten(v reflect.Value, prefix string) map[string]any {
	out := map[string]any{}
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Struct:
			for k, x := range flatten(fv, key+".") {
				out[k] = x
			}
		case reflect.Map:
			for _, mk := range fv.MapKeys() {
				out[key+"."+mk.String()] = fv.MapIndex(mk).Interface()
			}
		default:
			if fv.Type() == reflect.TypeFor[time.Duration]() {
				out[key] = fv.Interface().(time.Duration).String()
			} else if fv.Type() == reflect.TypeFor[Size]() {
				out[key] = int64(fv.Interface().(Size))
			} else {
				out[key] = fv.Interface()
			}
		}
	}
	return out
}
