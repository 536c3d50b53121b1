package config

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mailctl.toml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFile(t *testing.T) {
	p := write(t, `
hostname = "mx.example.org"
domains = ["Example.ORG", "bücher.example"]
data_dir = "/srv/mail"

[limits]
message_size = "10M"
command_timeout = "90s"

[modules]
pop3d = false

[auth]
plaintext_loopback = true

[tls]
cert = "/c.pem"
key = "/k.pem"
extra = [{ cert = "/c2.pem", key = "/k2.pem" }]

[submitd]
listen = ["127.0.0.1:587", "[::1]:2525"]
webmail_listen = ["127.0.0.1:10587"]

[pickup]
domain = "Example.ORG"

[webmaild]
imap = "127.0.0.1:10143"
session_idle = "10m"
trusted_proxies = ["10.0.0.0/8"]
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mx.example.org" || c.DataDir != "/srv/mail" {
		t.Errorf("got hostname %q data_dir %q", c.Hostname, c.DataDir)
	}
	if strings.Join(c.Domains, ",") != "example.org,xn--bcher-kva.example" {
		t.Errorf("domains = %v", c.Domains)
	}
	if c.Limits.MessageSize != 10<<20 || c.Limits.CommandTimeout != 90*time.Second {
		t.Errorf("limits = %+v", c.Limits)
	}
	if !c.Auth.PlaintextLoopback || Default().Auth.PlaintextLoopback {
		t.Errorf("auth.plaintext_loopback = %v, default %v", c.Auth.PlaintextLoopback, Default().Auth.PlaintextLoopback)
	}
	if c.ModuleEnabled("pop3d") || !c.ModuleEnabled("imapd") {
		t.Errorf("modules = %v", c.Modules)
	}
	if len(c.TLS.Extra) != 1 || c.TLS.Extra[0].Key != "/k2.pem" {
		t.Errorf("tls.extra = %+v", c.TLS.Extra)
	}
	if c.QualifyDomain() != "example.org" || c.ListenersFor("pickup").Listen[0] != "unix:/run/mailctl/sendmail.sock" || !c.ModuleEnabled("pickup") {
		t.Errorf("pickup = %+v, qualify domain %q", c.Pickup, c.QualifyDomain())
	}
	if len(c.Submitd.Listen) != 2 || c.Limits.Recipients != 100 {
		t.Errorf("submitd = %+v recipients = %d", c.Submitd, c.Limits.Recipients)
	}
	if w := c.ListenersFor("submitd").WebmailListen; len(w) != 1 || w[0] != "127.0.0.1:10587" || c.IMAPD.WebmailListen[0] != "unix:/run/mailctl/imap-webmail.sock" {
		t.Errorf("webmail_listen: submitd %v, imapd %v", w, c.IMAPD.WebmailListen)
	}
	if w := c.Webmaild; w.IMAP != "127.0.0.1:10143" || w.Submission != "unix:/run/mailctl/submission-webmail.sock" || w.SessionIdle != 10*time.Minute || w.PageSize != 50 || len(w.TrustedProxies) != 1 || c.ListenersFor("webmaild").Listen[0] != "127.0.0.1:8080" {
		t.Errorf("webmaild = %+v", w)
	}
	if c.Limits.SendMessagesPerHour != 200 || c.Limits.SendRecipientsPerHour != 1000 {
		t.Errorf("send limits = %d/%d, want the defaults 200/1000", c.Limits.SendMessagesPerHour, c.Limits.SendRecipientsPerHour)
	}
}

func TestLoadErrorsNameTheKey(t *testing.T) {
	tests := []struct{ body, key string }{
		{`hostnme = "x"`, "hostnme"},
		{"[limits]\nmessage_size = \"lots\"", "message_size"},
		{"[limits]\nrecipients = 0", "limits.recipients"},
		{`domains = ["bad domain"]`, "domains"},
		{"[modules]\nftpd = true", "modules.ftpd"},
		{"[dns]\nresolver = [\"resolver.example\"]", "dns.resolver"},
		{"[smtpd]\nlisten = [\"nonsense\"]", "smtpd.listen"},
		{"[deliver]\nover_quota = \"drop\"", "deliver.over_quota"},
		{"[limits]\ncommand_timeout = \"-1s\"", "limits.command_timeout"},
		{"[tls]\ncert = \"/only-cert\"\nkey = \"\"", "tls"},
		{"[imapd]\nlisten_tls = 5", "listen_tls"},
		{"[pop3d]\nwebmail_listen = [\"unix:/run/p.sock\"]", "pop3d.webmail_listen"},
		{"[imapd]\nwebmail_listen = [\"imap.example:1\"]", "imapd.webmail_listen"},
		{"[submitd]\nwebmail_listen = [\":10587\"]", "submitd.webmail_listen"},
		{"[pickup]\ndomain = \"bad domain\"", "pickup.domain"},
		{"[webmaild]\nimap = \"imap.example:143\"", "webmaild.imap"},
		{"[webmaild]\ntrusted_proxies = [\"proxy\"]", "webmaild.trusted_proxies"},
		{"[limits]\nsend_messages_per_hour = -1", "limits.send_messages_per_hour"},
		{"[scan]\ndnsbl = [\"zen.example\"]", "scan.dnsbl"},
		{"[scan]\nspamd_down = \"drop\"", "scan.spamd_down"},
		{"[scan]\nclamd = \"unix:/run/clamd.ctl\"\nclamd_stream_max = \"10M\"", "scan.clamd_stream_max"},
		{"[scan.weights]\nspf_fial = 2", "scan.weights.spf_fial"},
		{"[scan.greylist]\ndelay = \"2d\"", "scan.greylist.retry_window"},
		{"[scan.greylist]\nmax_entries = 1", "scan.greylist.max_entries"},
	}
	for _, tt := range tests {
		_, err := Load(write(t, tt.body))
		if err == nil {
			t.Errorf("%q: no error", tt.body)
			continue
		}
		if !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%q: error %q does not name %q", tt.body, err, tt.key)
		}
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Setenv("MAILCTL_HOSTNAME", "env.example.org")
	t.Setenv("MAILCTL_LIMITS_MESSAGE_SIZE", "1M")
	t.Setenv("MAILCTL_DOMAINS", "a.example,b.example")
	t.Setenv("MAILCTL_MODULES_IMAPD", "false")
	c, err := Load(write(t, `hostname = "file.example.org"`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "env.example.org" || c.Limits.MessageSize != 1<<20 {
		t.Errorf("env not applied: %q %v", c.Hostname, c.Limits.MessageSize)
	}
	if len(c.Domains) != 2 || c.Domains[1] != "b.example" {
		t.Errorf("domains = %v", c.Domains)
	}
	if c.ModuleEnabled("imapd") {
		t.Error("MAILCTL_MODULES_IMAPD=false not applied")
	}
}

func TestMissingExplicitFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.toml")); err == nil {
		t.Fatal("missing explicit config accepted")
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	c := Default()
	c.Hostname = "h.example"
	var b bytes.Buffer
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{`hostname = "h.example"`, `limits.message_size = 52428800`, `modules.imapd = true`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestSize(t *testing.T) {
	for in, want := range map[string]Size{"0": 0, "512": 512, "1K": 1024, "50M": 50 << 20, "2G": 2 << 30, "2GiB": 2 << 30, "1t": 1 << 40} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5G", "99999999999T"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	if Size(2<<30).String() != "2G" || Size(1000).String() != "1000" {
		t.Error("Size.String")
	}
}

// TestExampleConfig keeps the shipped, commented example valid.
func TestExampleConfig(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "examples", "mailctl.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "mail.example.org" || len(c.Submitd.Listen) != 2 || c.Limits.MessageSize != 50<<20 {
		t.Errorf("example config read back wrong: %+v", c)
	}
}

// An empty webmail_listen switches the default socket off.
func TestWebmailListenOff(t *testing.T) {
	c, err := Load(write(t, "[imapd]\nwebmail_listen = []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.IMAPD.WebmailListen) != 0 || len(c.Submitd.WebmailListen) != 1 {
		t.Errorf("imapd %v, submitd %v", c.IMAPD.WebmailListen, c.Submitd.WebmailListen)
	}
}
