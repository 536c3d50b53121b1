package config

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLoadRelayAndQueue(t *testing.T) {
	c, err := Load(write(t, `
hostname = "mx.example.org"
[relay]
mode = "direct-then-smarthost"
host = "smtp.provider.example"
tls = "implicit"
username = "me@example.org"
password = "hunter2-secret"
messages_per_hour = 100
max_size = "20M"
[queue]
port = 2525
max_age = "2d12h"
retry_initial = "1m"
`))
	if err != nil {
		t.Fatal(err)
	}
	r, q := c.Relay, c.Queue
	if r.Mode != RelayDirectFirst || r.EffectivePort() != 465 || r.MessagesPerHour != 100 || r.MaxSize != 20<<20 {
		t.Errorf("relay = %+v (port %d)", r, r.EffectivePort())
	}
	if q.Port != 2525 || q.MaxAge != 60*time.Hour || q.RetryInitial != time.Minute || q.RetryMax != 4*time.Hour || q.DelayWarning != 4*time.Hour || q.Concurrency != 8 {
		t.Errorf("queue = %+v", q)
	}
	var b bytes.Buffer
	c.Print(&b)
	if strings.Contains(b.String(), "hunter2") || !strings.Contains(b.String(), `relay.password = "********"`) {
		t.Errorf("password shown:\n%s", b.String())
	}
	if d := Default(); d.Relay.Mode != RelayDirect || d.Relay.EffectivePort() != 587 || d.Queue.Port != 25 || d.Queue.MaxAge != 120*time.Hour {
		t.Errorf("defaults: %+v %+v", d.Relay, d.Queue)
	}
}

func TestRelayQueueErrorsNameTheKey(t *testing.T) {
	tests := []struct{ body, key string }{
		{"[relay]\nmode = \"carrier-pigeon\"", "relay.mode"},
		{"[relay]\nmode = \"smarthost\"", "relay.host"},
		{"[relay]\ntls = \"none\"", "relay.tls"},
		{"[relay]\nusername = \"u\"", "relay.username"},
		{"[relay]\nusername = \"u\"\npassword = \"p\"\npassword_file = \"/f\"", "relay.password"},
		{"[relay]\nmessages_per_day = -1", "relay.messages_per_day"},
		{"[queue]\nport = 0", "queue.port"},
		{"[queue]\nretry_max = \"1m\"", "queue.retry_max"},
		{"[queue]\nmax_age = \"5x\"", "max_age"},
		{"[queue]\nconcurrency = 0", "queue.concurrency"},
	}
	for _, tt := range tests {
		_, err := Load(write(t, tt.body))
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%q: error %v does not name %q", tt.body, err, tt.key)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"5d": 120 * time.Hour, "1d12h": 36 * time.Hour, "90s": 90 * time.Second, "-1d": -24 * time.Hour, "0d": 0} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "1.5d", "5dd", "1d-1h", "x"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}
