package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"

	msgdkim "github.com/emersion/go-msgauth/dkim"

	"mailctl/lib/dkim"
)

// parseZone reads mailctl's zone-file output with a real zone parser.
func parseZone(t *testing.T, text string) []dns.RR {
	t.Helper()
	zp := dns.NewZoneParser(strings.NewReader(text), "", "")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		t.Fatalf("not valid zone-file syntax: %v\n%s", err, text)
	}
	return rrs
}

// txtRecords maps TXT owner names to their joined strings, checking that
// no string is longer than DNS allows.
func txtRecords(t *testing.T, rrs []dns.RR) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, rr := range rrs {
		if txt, ok := rr.(*dns.TXT); ok {
			for _, s := range txt.Txt {
				if len(s) > 255 {
					t.Errorf("%s: a string of %d bytes", txt.Hdr.Name, len(s))
				}
			}
			out[txt.Hdr.Name] = strings.Join(txt.Txt, "")
		}
	}
	return out
}

const dkimTestMsg = "From: Admin <admin@example.test>\r\nTo: someone@example.net\r\nSubject: signed\r\nDate: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <x@example.test>\r\n\r\nbody\r\n"

func TestDKIMKeygenAndDNS(t *testing.T) {
	e := newTestEnv(t, "")
	published := map[string]string{}
	for _, algo := range []string{"ed25519", "rsa"} {
		out := e.must("", "dkim", "keygen", "Example.TEST", "--algorithm", algo, "--selector", "s-"+algo)
		for name, rec := range txtRecords(t, parseZone(t, out)) {
			published[name] = rec
		}
		name := "s-" + algo + "._domainkey.example.test."
		if !strings.HasPrefix(published[name], "v=DKIM1; k="+algo+"; p=") {
			t.Fatalf("keygen printed no record for %s:\n%s", name, out)
		}
		st, err := os.Stat(filepath.Join(e.dir, "dkim", "example.test.s-"+algo+".key"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", st, err)
		}
	}

	// What keygen printed verifies what the queue runner's signer makes.
	ks, err := dkim.Open(filepath.Join(e.dir, "dkim"))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ks.Sign([]byte(dkimTestMsg), "example.test")
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(name string) ([]string, error) {
		if rec, ok := published[name+"."]; ok {
			return []string{rec}, nil
		}
		return nil, fmt.Errorf("no TXT for %s", name)
	}
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(signed), &msgdkim.VerifyOptions{LookupTXT: lookup})
	if err != nil || len(vs) != 2 {
		t.Fatalf("verify: %d verifications, %v", len(vs), err)
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("signature by %s: %v", v.Domain, v.Err)
		}
	}

	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{73, []string{"dkim", "keygen", "example.test", "--selector", "s-rsa"}, "key exists"},
		{68, []string{"dkim", "keygen", "elsewhere.example"}, "not a local domain"},
		{65, []string{"dkim", "keygen", "example.test", "--algorithm", "dsa"}, "rsa or ed25519"},
		{65, []string{"dkim", "keygen", "example.test", "--selector", "S.1"}, "selector"},
		{64, []string{"dkim", "keygen"}, "accepts 1 arg"},
		{68, []string{"dns", "elsewhere.example"}, "not a local domain"},
	} {
		if errs := e.expect(tc.code, "", tc.args...); !strings.Contains(errs, tc.want) {
			t.Errorf("mailctl %v: %q lacks %q", tc.args, errs, tc.want)
		}
	}

	// mailctl dns: every record, in zone-file syntax a parser accepts.
	out := e.must("", "dns", "example.test")
	rrs := parseZone(t, out)
	types := map[string]int{}
	for _, rr := range rrs {
		types[dns.TypeToString[rr.Header().Rrtype]]++
		if mx, ok := rr.(*dns.MX); ok && (mx.Hdr.Name != "example.test." || mx.Mx != "mx.example.test." || mx.Preference != 10) {
			t.Errorf("MX %v", mx)
		}
	}
	if types["MX"] != 1 || types["TXT"] != 4 {
		t.Errorf("record types %v, want 1 MX and 4 TXT (SPF, 2 DKIM, DMARC)", types)
	}
	txts := txtRecords(t, rrs)
	for name, want := range map[string]string{
		"example.test.":                      "v=spf1 mx -all",
		"_dmarc.example.test.":               "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.test",
		"s-rsa._domainkey.example.test.":     published["s-rsa._domainkey.example.test."],
		"s-ed25519._domainkey.example.test.": published["s-ed25519._domainkey.example.test."],
	} {
		if txts[name] != want {
			t.Errorf("TXT %s = %q, want %q", name, txts[name], want)
		}
	}
	if !strings.Contains(out, "PTR") || !strings.Contains(out, "reverse") {
		t.Errorf("no PTR note:\n%s", out)
	}

	var rep dnsReport
	if err := json.Unmarshal([]byte(e.must("", "dns", "example.test", "--json")), &rep); err != nil {
		t.Fatal(err)
	}
	purposes := map[string]int{}
	for _, r := range rep.Records {
		purposes[r.Purpose]++
		if r.Type == "TXT" && strings.Join(r.Strings, "") != r.Value {
			t.Errorf("JSON %s: strings do not join to the value", r.Name)
		}
	}
	if rep.Domain != "example.test" || purposes["mx"] != 1 || purposes["spf"] != 1 || purposes["dkim"] != 2 || purposes["dmarc"] != 1 || len(rep.Notes) == 0 {
		t.Errorf("JSON report: %+v", rep)
	}
}

func TestDNSWithSmarthost(t *testing.T) {
	e := newTestEnv(t, "[relay]\nmode = \"direct-then-smarthost\"\nhost = \"smtp.mail.provider.example.com\"\n")
	out := e.must("", "dns", "example.test")
	if spf := txtRecords(t, parseZone(t, out))["example.test."]; spf != "v=spf1 mx include:example.com ~all" {
		t.Errorf("guessed SPF %q", spf)
	}
	if !strings.Contains(out, "--spf-include") || !strings.Contains(out, "dkim keygen example.test") {
		t.Errorf("the guess and the missing key are not explained:\n%s", out)
	}
	out = e.must("", "dns", "example.test", "--spf-include", "_spf.provider.example.com")
	if spf := txtRecords(t, parseZone(t, out))["example.test."]; spf != "v=spf1 mx include:_spf.provider.example.com -all" {
		t.Errorf("SPF with --spf-include %q", spf)
	}
}
