package scan

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/dkim"
	"mailctl/lib/resolver"
	"mailctl/lib/smtpd"
	"mailctl/lib/smtpout/smtptest"
)

var clientIP = netip.MustParseAddr("192.0.2.1")

// zone is the little internet the tests see.
func newZone(t *testing.T) *smtptest.DNS {
	d := smtptest.NewDNS(t,
		`pass.test. TXT "v=spf1 ip4:192.0.2.1 -all"`,
		`_dmarc.pass.test. TXT "v=DMARC1; p=reject"`,
		`fail.test. TXT "v=spf1 -all"`,
		`_dmarc.fail.test. TXT "v=DMARC1; p=reject"`,
		`quar.test. TXT "v=spf1 -all"`,
		`_dmarc.quar.test. TXT "v=DMARC1; p=quarantine"`,
		`soft.test. TXT "v=spf1 ~all"`,
		`none.test. A 192.0.2.9`,
		`perm.test. TXT "v=spf1 bogus:thing -all"`,
		`temp.test. TXT "v=spf1 -all"`,
		`signed.test. TXT "v=spf1 -all"`,
		`_dmarc.signed.test. TXT "v=DMARC1; p=reject"`,
		`_dmarc.org.test. TXT "v=DMARC1; p=none; sp=reject"`,
		`sub.org.test. TXT "v=spf1 -all"`,
		`1.2.0.192.bl.test. A 127.0.0.2`,
		`1.2.0.192.refuse.test. A 127.255.255.254`,
		`1.2.0.192.wl.test. A 127.0.0.5`,
	)
	d.ServFail("temp.test.")
	d.ServFail("_dmarc.temp.test.")
	d.ServFail("1.2.0.192.broken.test.")
	return d
}

func newScanner(t *testing.T, d *smtptest.DNS, opts Options) *Scanner {
	t.Helper()
	res, err := resolver.New(resolver.Options{Servers: []string{d.Addr}, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	opts.DNS, opts.Hostname = res, "mx.example.org"
	if opts.LocalDomain == nil {
		opts.LocalDomain = func(d string) (bool, error) { return d == "example.org", nil }
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func msgFrom(from, subject, body string) []byte {
	return []byte("From: <" + from + ">\r\nTo: <u@example.org>\r\nSubject: " + subject +
		"\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@x>\r\n\r\n" + body + "\r\n")
}

func env(sender string) smtpd.Envelope {
	a, _ := addr.Parse(sender)
	rc, _ := addr.Parse("u@example.org")
	return smtpd.Envelope{Sender: a, Recipients: []addr.Address{rc}, RemoteIP: clientIP, Helo: "client.test"}
}

func find(rep *Report, check string) Result {
	for _, r := range rep.Results {
		if r.Check == check {
			return r
		}
	}
	return Result{Result: "(missing)"}
}

func TestSPFAndDMARC(t *testing.T) {
	d := newZone(t)
	s := newScanner(t, d, Options{})
	for _, tc := range []struct {
		domain, spf, dmarc string
	}{
		{"pass.test", "pass", "pass"},
		{"fail.test", "fail", "fail"},
		{"soft.test", "softfail", "none"},
		{"none.test", "none", "none"},
		{"perm.test", "permerror", "none"},
		{"temp.test", "temperror", "temperror"},
		{"sub.org.test", "fail", "fail"}, // the organisational domain's policy
	} {
		t.Run(tc.domain, func(t *testing.T) {
			rep, err := s.Check(context.Background(), env("a@"+tc.domain), msgFrom("a@"+tc.domain, "hello", "hi"))
			if err != nil {
				t.Fatal(err)
			}
			if got := find(rep, "spf").Result; got != tc.spf {
				t.Errorf("spf = %s, want %s", got, tc.spf)
			}
			if got := find(rep, "dmarc").Result; got != tc.dmarc {
				t.Errorf("dmarc = %s (%s), want %s", got, find(rep, "dmarc").Detail, tc.dmarc)
			}
			ar := rep.Headers[0]
			if !strings.HasPrefix(ar, "Authentication-Results: mx.example.org; spf="+tc.spf) {
				t.Errorf("header %q", ar)
			}
		})
	}
}

// TestSPFHelo: the HELO name is checked on its own too.
func TestSPFHelo(t *testing.T) {
	d := newZone(t)
	s := newScanner(t, d, Options{})
	for _, tc := range []struct{ helo, want string }{
		{"pass.test", "pass"}, {"fail.test", "fail"}, {"[192.0.2.1]", "(missing)"}, {"localhost", "(missing)"},
	} {
		e := env("a@pass.test")
		e.Helo = tc.helo
		rep, err := s.Check(context.Background(), e, msgFrom("a@pass.test", "hi", "x"))
		if err != nil {
			t.Fatal(err)
		}
		if got := find(rep, "spf_helo"); got.Result != tc.want || got.Score != s.weights["spf_helo_"+tc.want] {
			t.Errorf("HELO %s: %+v, want %s", tc.helo, got, tc.want)
		}
		if find(rep, "spf").Result != "pass" {
			t.Errorf("HELO %s: MAIL FROM spf %s", tc.helo, find(rep, "spf").Result)
		}
	}
}

func TestDMARCRejectSwitch(t *testing.T) {
	d := newZone(t)
	for _, tc := range []struct {
		domain string
		on     bool
		want   string
	}{
		{"fail.test", true, "reject"},
		{"fail.test", false, "accept"}, // 3 (SPF) + 3 (DMARC) is below the spam score
		{"quar.test", true, "accept"},
		{"sub.org.test", true, "reject"}, // sp=reject of the organisational domain
	} {
		s := newScanner(t, d, Options{DMARCReject: tc.on, SpamScore: 10, RejectScore: 20})
		rep, err := s.Check(context.Background(), env("a@"+tc.domain), msgFrom("a@"+tc.domain, "hello", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Action != tc.want {
			t.Errorf("%s DMARCReject=%v: action %s (%s), want %s", tc.domain, tc.on, rep.Action, rep.Reason, tc.want)
		}
	}
}

func TestDKIMOurSigner(t *testing.T) {
	d := newZone(t)
	dir := t.TempDir()
	rec, err := dkim.Keygen(dir, "signed.test", "s1", dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	d.Add(t, `s1._domainkey.signed.test. TXT "`+strings.Join(dkim.TXTStrings(rec), `" "`)+`"`)
	ks, err := dkim.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ks.Sign(msgFrom("a@signed.test", "hello", "signed body"), "signed.test")
	if err != nil {
		t.Fatal(err)
	}
	var heard []string
	s := newScanner(t, d, Options{DMARCReject: true, OnDKIMPass: func(_ context.Context, ds []string) { heard = append(heard, ds...) }})
	rep, err := s.Check(context.Background(), env("a@signed.test"), signed)
	if err != nil {
		t.Fatal(err)
	}
	if got := find(rep, "dkim"); got.Result != "pass" || got.Detail != "d=signed.test" {
		t.Errorf("dkim = %+v", got)
	}
	if got := find(rep, "spf").Result; got != "fail" {
		t.Errorf("spf = %s", got)
	}
	// SPF fails, but the aligned DKIM signature makes DMARC pass.
	if got := find(rep, "dmarc").Result; got != "pass" || rep.Action != "accept" {
		t.Errorf("dmarc = %s, action %s", got, rep.Action)
	}
	if !strings.Contains(rep.Headers[0], "dkim=pass header.d=signed.test") {
		t.Errorf("header %q", rep.Headers[0])
	}
	// Only the smtpd seam reports passing domains (for greylisting), and
	// only for mail it accepts.
	if len(heard) != 0 || len(rep.DKIMPass) != 1 || rep.DKIMPass[0] != "signed.test" {
		t.Errorf("Check: heard %q, DKIMPass %q", heard, rep.DKIMPass)
	}
	if _, err := s.Scan(context.Background(), env("a@signed.test"), signed); err != nil || len(heard) != 1 || heard[0] != "signed.test" {
		t.Errorf("Scan: %v, heard %q", err, heard)
	}

	// A body changed on the way fails.
	tampered := []byte(strings.Replace(string(signed), "signed body", "changed body", 1))
	rep, err = s.Check(context.Background(), env("a@signed.test"), tampered)
	if err != nil {
		t.Fatal(err)
	}
	if got := find(rep, "dkim").Result; got != "fail" {
		t.Errorf("tampered dkim = %s", got)
	}
	if got := find(rep, "dmarc").Result; got != "fail" || rep.Action != "reject" {
		t.Errorf("tampered: dmarc %s, action %s", got, rep.Action)
	}
	if s.Scan(context.Background(), env("a@signed.test"), tampered); len(heard) != 1 {
		t.Errorf("a refused message reported DKIM domains: %q", heard)
	}
	// The key's record fails to answer: temperror.
	d.ServFail("s1._domainkey.signed.test.")
	rep, _ = s.Check(context.Background(), env("a@signed.test"), signed)
	if got := find(rep, "dkim").Result; got != "temperror" {
		t.Errorf("SERVFAIL for the key: dkim = %s", got)
	}
	// A key that isn't published: permerror (no key) — not a pass.
	other := []byte(strings.Replace(string(signed), "s=s1", "s=s9", 1))
	rep, _ = s.Check(context.Background(), env("a@signed.test"), other)
	if got := find(rep, "dkim").Result; got != "permerror" {
		t.Errorf("unknown selector dkim = %s", got)
	}
}

func TestDNSBL(t *testing.T) {
	d := newZone(t)
	s := newScanner(t, d, Options{Zones: []Zone{{"bl.test", 4}, {"refuse.test", 4}, {"wl.test", -3}, {"empty.test", 2}, {"broken.test", 2}}})
	rep, err := s.Check(context.Background(), env("a@pass.test"), msgFrom("a@pass.test", "hello", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		zone, result string
		score        float64
	}{
		{"bl.test", "listed", 4}, {"refuse.test", "error", 0}, {"wl.test", "listed", -3}, {"empty.test", "none", 0}, {"broken.test", "error", 0},
	} {
		got := find(rep, "dnsbl:"+tc.zone)
		if got.Result != tc.result || got.Score != tc.score {
			t.Errorf("%s: %+v, want %s %g", tc.zone, got, tc.result, tc.score)
		}
	}
	// Loopback clients are never looked up.
	e := env("a@pass.test")
	e.RemoteIP = netip.MustParseAddr("127.0.0.1")
	rep, _ = s.Check(context.Background(), e, msgFrom("a@pass.test", "hello", "hi"))
	if got := find(rep, "dnsbl:bl.test").Result; got != "(missing)" {
		t.Errorf("loopback looked up: %s", got)
	}
}

func TestRules(t *testing.T) {
	d := newZone(t)
	s := newScanner(t, d, Options{Weights: map[string]float64{"caps_subject": 2.5}})
	html := "From: <a@pass.test>\r\nSubject: x\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n"
	urls := strings.Repeat("see http://spam.test/x ", 11)
	for _, tc := range []struct {
		name string
		env  smtpd.Envelope
		msg  string
		want []string
		not  []string
	}{
		{"clean", env("a@pass.test"), string(msgFrom("a@pass.test", "Hello there", "hi")), nil,
			[]string{"missing_date", "missing_message_id", "html_only", "caps_subject", "forged_local", "gtube"}},
		{"html only, no date", env("a@pass.test"), html, []string{"html_only", "missing_date", "missing_message_id"}, nil},
		{"caps", env("a@pass.test"), string(msgFrom("a@pass.test", "BUY CHEAP WATCHES NOW", "hi")), []string{"caps_subject"}, nil},
		{"urls", env("a@pass.test"), string(msgFrom("a@pass.test", "links", urls)), []string{"many_urls"}, nil},
		{"forged local", env("a@pass.test"), string(msgFrom("boss@example.org", "pay", "hi")), []string{"forged_local"}, nil},
		{"gtube", env("a@pass.test"), string(msgFrom("a@pass.test", "t", gtube)), []string{"gtube"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := s.Check(context.Background(), tc.env, []byte(tc.msg))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if r := find(rep, w); r.Result != "hit" || r.Score != s.weights[w] {
					t.Errorf("%s: %+v", w, r)
				}
			}
			for _, w := range tc.not {
				if r := find(rep, w); r.Result != "(missing)" {
					t.Errorf("unexpected %s: %+v", w, r)
				}
			}
		})
	}
	rep, _ := s.Check(context.Background(), env("a@pass.test"), msgFrom("a@pass.test", "BUY CHEAP WATCHES NOW", "hi"))
	if r := find(rep, "caps_subject"); r.Score != 2.5 {
		t.Errorf("weight override: %+v", r)
	}
	rep, _ = s.Check(context.Background(), env("a@pass.test"), msgFrom("a@pass.test", "t", gtube))
	if rep.Action != "reject" {
		t.Errorf("gtube: %s", rep.Action)
	}
}

func TestThresholdsAndHeaders(t *testing.T) {
	d := newZone(t)
	s := newScanner(t, d, Options{SpamScore: 1, RejectScore: 100})
	rep, err := s.Check(context.Background(), env("a@soft.test"), msgFrom("a@soft.test", "BUY CHEAP WATCHES NOW", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Action != "spam" || rep.Score != 2 {
		t.Fatalf("action %s score %g: %+v", rep.Action, rep.Score, rep.Results)
	}
	want := []string{"X-Spam-Status: Yes, score=2.0 required=1.0 tests=CAPS_SUBJECT_HIT=1,SPF_SOFTFAIL=1", "X-Spam-Score: 2.0"}
	if got := rep.Headers[1:]; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("headers %q", got)
	}
	v, err := s.Scan(context.Background(), env("a@soft.test"), msgFrom("a@soft.test", "BUY CHEAP WATCHES NOW", "hi"))
	if err != nil || v.Action != smtpd.Spam {
		t.Errorf("verdict %+v, %v", v, err)
	}
	if _, err := New(Options{DNS: s.opts.DNS, Hostname: "h", SpamScore: 5, RejectScore: 2}); err == nil {
		t.Error("reject below spam accepted")
	}
	if _, err := New(Options{DNS: s.opts.DNS, Hostname: "h", Weights: map[string]float64{"nope": 1}}); err == nil {
		t.Error("unknown weight accepted")
	}
}

func TestStripAuthResults(t *testing.T) {
	d := newZone(t)
	s := newScanner(t, d, Options{})
	msg := "Received: from x\r\nAuthentication-Results: MX.example.org;\r\n dkim=pass header.d=bank.test\r\n" +
		"Authentication-Results: other.test; spf=pass\r\n" + string(msgFrom("a@pass.test", "hi", "Authentication-Results: mx.example.org; in the body"))
	rep, err := s.Check(context.Background(), env("a@pass.test"), []byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Stripped != 1 {
		t.Fatalf("stripped %d", rep.Stripped)
	}
	got := string(rep.Message)
	if strings.Contains(got, "bank.test") || !strings.Contains(got, "other.test; spf=pass") ||
		!strings.HasPrefix(got, "Received: from x\r\nAuthentication-Results: other.test") ||
		!strings.Contains(got, "in the body") {
		t.Errorf("message:\n%s", got)
	}
	rep, _ = s.Check(context.Background(), env("a@pass.test"), msgFrom("a@pass.test", "hi", "x"))
	if rep.Stripped != 0 || rep.Message != nil {
		t.Errorf("clean message rewritten")
	}
}

func TestDeadline(t *testing.T) {
	d := newZone(t)
	s := newScanner(t, d, Options{Deadline: time.Nanosecond})
	rep, err := s.Check(context.Background(), env("a@pass.test"), msgFrom("a@pass.test", "hi", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if got := find(rep, "spf").Result; got != "temperror" {
		t.Errorf("spf after the deadline: %s", got)
	}
}

func TestReverse(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":   "1.2.0.192",
		"2001:db8::1": "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2",
	} {
		if got := reverse(netip.MustParseAddr(in)); got != want {
			t.Errorf("reverse(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestSPFPasses(t *testing.T) {
	s := newScanner(t, newZone(t), Options{})
	for _, c := range []struct {
		ip, helo, sender string
		want             bool
	}{
		{"192.0.2.1", "mx.pass.test", "a@pass.test", true},
		{"192.0.2.2", "mx.pass.test", "a@pass.test", false},
		{"192.0.2.1", "pass.test", "", true}, // null sender: the HELO name
		{"192.0.2.1", "mx.fail.test", "a@fail.test", false},
		{"192.0.2.1", "mx.temp.test", "a@temp.test", false},
	} {
		var sender addr.Address
		if c.sender != "" {
			sender = addr.MustParse(c.sender)
		}
		if got := SPFPasses(context.Background(), s.opts.DNS, netip.MustParseAddr(c.ip), c.helo, sender); got != c.want {
			t.Errorf("%+v: %v", c, got)
		}
	}
}
