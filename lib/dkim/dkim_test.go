package dkim

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
)

const testMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.net\r\n" +
	"Subject: hello\r\n" +
	"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
	"Message-ID: <1@example.org>\r\n" +
	"X-Unsigned: yes\r\n" +
	"\r\n" +
	"Hello Bob,\r\n\r\nsee you.\r\n"

// dns is a fake DNS zone for the verifier: name → TXT strings.
type dns map[string][]string

func (z dns) lookup(name string) ([]string, error) {
	strs, ok := z[name]
	if !ok {
		return nil, fmt.Errorf("no TXT record for %s", name)
	}
	return []string{strings.Join(strs, "")}, nil // as a resolver joins a record's strings
}

func verify(t *testing.T, z dns, msg []byte) []*msgdkim.Verification {
	t.Helper()
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{LookupTXT: z.lookup})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return vs
}

func TestSignVerifies(t *testing.T) {
	for _, algo := range []string{Ed25519, RSA} {
		t.Run(algo, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "dkim")
			rec, err := Keygen(dir, "Example.ORG", "s1", algo)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(rec, "v=DKIM1; k="+algo+"; p=") {
				t.Errorf("record %q", rec)
			}
			st, err := os.Stat(KeyPath(dir, "example.org", "s1"))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v %v", st, err)
			}
			ks, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := ks.Sign([]byte(testMsg), "example.org")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasSuffix(signed, []byte(testMsg)) || !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) {
				t.Fatalf("signed message is not the signature + the message:\n%s", signed)
			}
			z := dns{"s1._domainkey.example.org": TXTStrings(rec)}
			vs := verify(t, z, signed)
			if len(vs) != 1 || vs[0].Err != nil || vs[0].Domain != "example.org" {
				t.Fatalf("verifications %+v (err %v)", vs, vs[0].Err)
			}
			h := vs[0].HeaderKeys
			if !slices.Equal(h, []string{"From", "To", "Subject", "Date", "Message-ID", "From"}) {
				t.Errorf("h= %v: want the present fields of the list and From oversigned", h)
			}

			// Oversigning: a second From: added afterwards breaks it, and
			// so does a changed body; an unsigned field may be added.
			for _, tc := range []struct {
				name string
				msg  []byte
				ok   bool
			}{
				{"added From", append([]byte("From: mallory@example.com\r\n"), signed...), false},
				{"changed body", bytes.Replace(signed, []byte("see you"), []byte("pay me"), 1), false},
				{"added unsigned field", append([]byte("X-Spam: no\r\n"), signed...), true},
			} {
				vs := verify(t, z, tc.msg)
				if got := vs[0].Err == nil; got != tc.ok {
					t.Errorf("%s: verified %v, want %v (%v)", tc.name, got, tc.ok, vs[0].Err)
				}
			}
			// Without the record, or with another key's, it fails.
			if vs := verify(t, dns{}, signed); vs[0].Err == nil {
				t.Error("verified without a published key")
			}
		})
	}
}

func TestSignBareLFAndUnknownDomain(t *testing.T) {
	dir := t.TempDir()
	rec, err := Keygen(dir, "example.org", "s1", Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	lf := []byte(strings.ReplaceAll(testMsg, "\r\n", "\n"))
	signed, err := ks.Sign(lf, "EXAMPLE.org")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(bytes.ReplaceAll(signed, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("signed message still has bare LF")
	}
	if vs := verify(t, dns{"s1._domainkey.example.org": TXTStrings(rec)}, signed); vs[0].Err != nil {
		t.Errorf("LF message: %v", vs[0].Err)
	}
	for _, d := range []string{"example.net", ""} {
		out, err := ks.Sign(lf, d)
		if err != nil || !bytes.Equal(out, lf) {
			t.Errorf("domain %q without key: message changed or error %v", d, err)
		}
	}
}

func TestSeveralKeysAllSign(t *testing.T) {
	dir := t.TempDir()
	z := dns{}
	for _, k := range []struct{ sel, algo string }{{"ed", Ed25519}, {"rsa", RSA}} {
		rec, err := Keygen(dir, "example.org", k.sel, k.algo)
		if err != nil {
			t.Fatal(err)
		}
		z[k.sel+"._domainkey.example.org"] = TXTStrings(rec)
	}
	ks, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ks.Sign([]byte(testMsg), "example.org")
	if err != nil {
		t.Fatal(err)
	}
	vs := verify(t, z, signed)
	if len(vs) != 2 {
		t.Fatalf("%d signatures, want 2", len(vs))
	}
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("signature: %v", v.Err)
		}
	}
	keys, err := ks.For("example.org")
	if err != nil || len(keys) != 2 || keys[0].Selector != "ed" || keys[1].Algorithm != RSA || keys[1].Name() != "rsa._domainkey.example.org" {
		t.Errorf("For: %+v %v", keys, err)
	}
}

func TestKeysReloadAndBrokenKeys(t *testing.T) {
	dir := t.TempDir()
	ks, err := Open(filepath.Join(dir, "missing"))
	if err != nil {
		t.Fatalf("missing directory: %v", err)
	}
	if out, err := ks.Sign([]byte(testMsg), "example.org"); err != nil || string(out) != testMsg {
		t.Errorf("no keys: %v", err)
	}

	ks, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Keygen(dir, "example.org", "s1", Ed25519); err != nil {
		t.Fatal(err)
	}
	// Made after Open, within the same second: picked up without a restart.
	out, err := ks.Sign([]byte(testMsg), "example.org")
	if err != nil || !bytes.HasPrefix(out, []byte("DKIM-Signature:")) {
		t.Fatalf("new key not used: %v", err)
	}

	// A key others may read is refused, for its domain only.
	if _, err := Keygen(dir, "example.net", "s1", Ed25519); err != nil {
		t.Fatal(err)
	}
	bad := KeyPath(dir, "example.net", "s1")
	if err := os.Chmod(bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("Open with a 0644 key: %v, want an error naming %s", err, bad)
	}
	ks.loadedAt = time.Time{} // force the re-read
	if _, err := ks.Sign([]byte(testMsg), "example.net"); err == nil {
		t.Error("signed with a world-readable key")
	}
	if _, err := ks.Sign([]byte(testMsg), "example.org"); err != nil {
		t.Errorf("other domain affected: %v", err)
	}
	domains, err := ks.Domains()
	if err != nil || !slices.Equal(domains, []string{"example.org"}) {
		t.Errorf("Domains = %v, %v", domains, err)
	}

	// Garbage and PKCS #1 keys.
	os.Chmod(bad, 0o600)
	os.WriteFile(KeyPath(dir, "garbage.example", "s1"), []byte("not a key"), 0o600)
	rk, _ := rsa.GenerateKey(rand.Reader, 1024)
	p1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)})
	os.WriteFile(KeyPath(dir, "pkcs1.example", "s1"), p1, 0o600)
	ks.loadedAt = time.Time{}
	if _, err := ks.For("garbage.example"); err == nil {
		t.Error("garbage key accepted")
	}
	if keys, err := ks.For("pkcs1.example"); err != nil || len(keys) != 1 || keys[0].Algorithm != RSA {
		t.Errorf("PKCS #1 key: %v %v", keys, err)
	}
}

func TestKeygenRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := Keygen(dir, "example.org", "s1", Ed25519); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(KeyPath(dir, "example.org", "s1"))
	tests := []struct {
		domain, sel, algo string
		want              error
	}{
		{"example.org", "s1", RSA, ErrKeyExists},
		{"example.org", "s.1", Ed25519, nil},
		{"example.org", "S1", Ed25519, nil},
		{"example.org", "-s", Ed25519, nil},
		{"example.org", "", Ed25519, nil},
		{"bad domain", "s2", Ed25519, nil},
		{"example.org", "s2", "dsa", nil},
	}
	for _, tt := range tests {
		_, err := Keygen(dir, tt.domain, tt.sel, tt.algo)
		if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("Keygen(%q, %q, %q) = %v", tt.domain, tt.sel, tt.algo, err)
		}
	}
	after, _ := os.ReadFile(KeyPath(dir, "example.org", "s1"))
	if !bytes.Equal(before, after) {
		t.Error("existing key replaced")
	}
	if got := DefaultSelector(RSA, time.Date(2025, 3, 9, 0, 0, 0, 0, time.UTC)); got != "rsa-202503" {
		t.Errorf("DefaultSelector = %q", got)
	}
}

func TestParseKeyName(t *testing.T) {
	tests := []struct{ name, domain, sel string }{
		{"example.org.s1.key", "example.org", "s1"},
		{"mail.example.co.uk.rsa-202501.key", "mail.example.co.uk", "rsa-202501"},
		{"xn--bcher-kva.example.s.key", "xn--bcher-kva.example", "s"},
		{"example.org.key", "example", ""}, // selector "org", domain "example": valid but odd
		{"Example.org.s1.key", "", ""},     // not canonical
		{"example.org.S1.key", "", ""},
		{"example.org.s1.key.old", "", ""},
		{".s1.key", "", ""},
		{"s1.key", "", ""},
		{".example.org.s1.key.tmp123", "", ""},
	}
	for _, tt := range tests {
		d, s, ok := parseKeyName(tt.name)
		if tt.name == "example.org.key" {
			if !ok || d != "example" || s != "org" {
				t.Errorf("%q: %q %q %v", tt.name, d, s, ok)
			}
			continue
		}
		if ok != (tt.domain != "") || d != tt.domain && ok || s != tt.sel && ok {
			t.Errorf("parseKeyName(%q) = %q, %q, %v", tt.name, d, s, ok)
		}
	}
}

func TestTXTStrings(t *testing.T) {
	long := strings.Repeat("a", 600)
	parts := TXTStrings(long)
	if len(parts) != 3 || len(parts[0]) != 255 || len(parts[2]) != 90 || strings.Join(parts, "") != long {
		t.Errorf("TXTStrings: %d parts", len(parts))
	}
	if p := TXTStrings("short"); len(p) != 1 || p[0] != "short" {
		t.Errorf("short: %v", p)
	}
}

func TestFromDomain(t *testing.T) {
	tests := []struct{ msg, want string }{
		{"From: Alice <alice@Example.ORG>\r\n\r\nx", "example.org"},
		{"Subject: x\nFrom: =?utf-8?q?J=C3=B6rg?= <j@bücher.example>, b@other.example\n\nx", "xn--bcher-kva.example"},
		{"From: root (Cron Daemon)\r\n\r\nx", ""},
		{"Subject: no from\r\n\r\nx", ""},
		{"garbage", ""},
	}
	for _, tt := range tests {
		got, err := FromDomain([]byte(tt.msg))
		if got != tt.want || (err == nil) != (tt.want != "") {
			t.Errorf("FromDomain(%q) = %q, %v; want %q", tt.msg, got, err, tt.want)
		}
	}
}
