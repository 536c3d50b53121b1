package srs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailctl/lib/addr"
)

var secret = []byte("0123456789abcdef0123456789abcdef")

// at returns a rewriter for domain whose clock says t.
func at(domain string, t time.Time) *SRS {
	s := New(secret, domain)
	s.now = func() time.Time { return t }
	return s
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func TestRoundTrip(t *testing.T) {
	s := at("fwd.example.org", t0)
	for _, in := range []string{
		"alice@example.net",
		"first.last+tag@sub.example.com",
		"a=b@example.net",
		`"john doe"@example.net`,
		"jörg@bücher.example",
		"x@xn--bcher-kva.example",
	} {
		a := addr.MustParse(in)
		f, err := s.Forward(a)
		if err != nil {
			t.Errorf("Forward(%s): %v", in, err)
			continue
		}
		if f.Domain != "fwd.example.org" || !strings.HasPrefix(f.Local, "srs0=") || !IsSRS(f) {
			t.Errorf("Forward(%s) = %s", in, f)
		}
		// What goes out must come back in through the address parser.
		if p, err := addr.Parse(f.String()); err != nil || p != f {
			t.Errorf("Forward(%s) = %s does not parse back: %v", in, f, err)
		}
		r, err := s.Reverse(f)
		if err != nil || r != a {
			t.Errorf("Reverse(%s) = %s, %v; want %s", f, r, err, a)
		}
	}
}

func TestForwardForm(t *testing.T) {
	s := at("fwd.example.org", t0)
	f, err := s.Forward(addr.MustParse("alice@example.net"))
	if err != nil {
		t.Fatal(err)
	}
	// srs0=HHHH=TT=example.net=alice; TT is the day number in base32.
	p := strings.Split(f.Local, "=")
	if len(p) != 5 || len(p[1]) != 4 || p[2] != timestamp(t0) || p[3] != "example.net" || p[4] != "alice" {
		t.Fatalf("form: %q", f.Local)
	}
	d := t0.Unix() / 86400 % 1024
	if want := string([]byte{b32[d/32], b32[d%32]}); p[2] != want {
		t.Errorf("timestamp %q, want %q", p[2], want)
	}
	// Deterministic for one day and one secret; another secret differs.
	g, _ := s.Forward(addr.MustParse("alice@example.net"))
	o, _ := New([]byte("another secret, also long enough"), "fwd.example.org").Forward(addr.MustParse("alice@example.net"))
	if g != f || o.Local[5:9] == f.Local[5:9] && o.Local[10:12] == f.Local[10:12] {
		t.Errorf("hash not a function of the secret: %s %s %s", f, g, o)
	}
}

func TestForwardUnchanged(t *testing.T) {
	s := at("Fwd.Example.ORG.", t0)
	for _, a := range []addr.Address{{}, addr.MustParse("bob@fwd.example.org")} {
		f, err := s.Forward(a)
		if err != nil || f != a {
			t.Errorf("Forward(%q) = %q, %v; want unchanged", a, f, err)
		}
	}
}

func TestTooLong(t *testing.T) {
	s := at("fwd.example.org", t0)
	// 14 bytes of SRS0 framing: local+domain up to 50 bytes fit.
	fits := addr.MustParse(strings.Repeat("a", 30) + "@" + strings.Repeat("b", 12) + ".example")
	if f, err := s.Forward(fits); err != nil || len(f.Local) != 64 {
		t.Errorf("Forward(%s) = %s (%d bytes), %v", fits, f, len(f.Local), err)
	}
	long := addr.MustParse(strings.Repeat("a", 31) + "@" + strings.Repeat("b", 12) + ".example")
	if f, err := s.Forward(long); !errors.Is(err, ErrTooLong) {
		t.Errorf("Forward(%s) = %s, %v; want ErrTooLong", long, f, err)
	}
}

func TestTampered(t *testing.T) {
	s := at("fwd.example.org", t0)
	f, _ := s.Forward(addr.MustParse("alice@example.net"))
	hash := f.Local[5:9]
	other := "aaaa"
	if hash == other {
		other = "bbbb"
	}
	tests := []struct {
		name  string
		local string
		want  error
	}{
		{"hash", strings.Replace(f.Local, hash, other, 1), ErrBadHash},
		{"user", f.Local + "x", ErrBadHash},
		{"domain", strings.Replace(f.Local, "example.net", "example.com", 1), ErrBadHash},
		{"boundary moved", strings.Replace(f.Local, "example.net=alice", "example.neta=lice", 1), ErrBadHash},
		{"stamp", f.Local[:10] + "zz" + f.Local[12:], ErrBadHash},
		{"short hash", "srs0=" + hash[:3] + f.Local[9:], ErrBadHash},
		{"missing field", "srs0=" + hash + "=example.net=alice", ErrMalformed},
		{"empty user", f.Local[:strings.LastIndex(f.Local, "=")+1], ErrMalformed},
		{"srs1 without hop", "srs1=abcd", ErrMalformed},
		{"not srs", "alice", ErrNotSRS},
		{"srs2", "srs2=" + f.Local[5:], ErrNotSRS},
		{"no separator", "srs0" + f.Local[5:], ErrNotSRS},
	}
	for _, tt := range tests {
		a := addr.Address{Local: tt.local, Domain: f.Domain}
		if r, err := s.Reverse(a); !errors.Is(err, tt.want) {
			t.Errorf("%s: Reverse(%s) = %s, %v; want %v", tt.name, a, r, err, tt.want)
		}
	}
}

func TestExpiry(t *testing.T) {
	f, _ := at("fwd.example.org", t0).Forward(addr.MustParse("alice@example.net"))
	tests := []struct {
		later time.Duration
		want  error
	}{
		{0, nil},
		{20 * 24 * time.Hour, nil},
		{21*24*time.Hour + 11*time.Hour, nil}, // the 21st day after issue still counts
		{22 * 24 * time.Hour, ErrExpired},
		{200 * 24 * time.Hour, ErrExpired},
		{1024 * 24 * time.Hour, nil},  // the stamp wraps after 1024 days, as in the spec
		{-24 * time.Hour, ErrExpired}, // from the future
	}
	for _, tt := range tests {
		_, err := at("fwd.example.org", t0.Add(tt.later)).Reverse(f)
		if !errors.Is(err, tt.want) {
			t.Errorf("after %v: %v, want %v", tt.later, err, tt.want)
		}
	}
}

func TestCaseInsensitive(t *testing.T) {
	s := at("fwd.example.org", t0)
	f, _ := s.Forward(addr.MustParse("alice@example.net"))
	// Another host may upper-case the whole address, or just the prefix.
	for _, l := range []string{strings.ToUpper(f.Local), "SRS0" + f.Local[4:], strings.ToUpper(f.Local[:12]) + f.Local[12:]} {
		r, err := s.Reverse(addr.Address{Local: l, Domain: "FWD.example.org"})
		if err != nil || r.String() != "alice@example.net" {
			t.Errorf("Reverse(%s) = %s, %v", l, r, err)
		}
	}
	if !IsSRS(addr.Address{Local: "SrS1+x", Domain: "a.example"}) || IsSRS(addr.Address{Local: "srs", Domain: "a.example"}) {
		t.Error("IsSRS")
	}
}

func TestSRS1Chain(t *testing.T) {
	hop1 := at("hop1.example", t0)
	hop2 := New([]byte("hop two has its own secret......"), "hop2.example")
	hop2.now = hop1.now
	hop3 := New([]byte("and hop three has yet another one"), "hop3.example")
	hop3.now = hop1.now

	orig := addr.MustParse("alice@example.net")
	s0, err := hop1.Forward(orig)
	if err != nil {
		t.Fatal(err)
	}
	s1, err := hop2.Forward(s0)
	if err != nil {
		t.Fatal(err)
	}
	// SRS1=HHHH=hop1.example==HHH=TT=example.net=alice@hop2.example
	if want := "=hop1.example=" + s0.Local[4:]; !strings.HasPrefix(s1.Local, "srs1=") || s1.Local[9:] != want || s1.Domain != "hop2.example" {
		t.Fatalf("hop2 made %s", s1)
	}
	s1b, err := hop3.Forward(s1)
	if err != nil {
		t.Fatal(err)
	}
	// Still SRS1 pointing at hop1, only the outer hash is hop3's.
	if s1b.Local[9:] != s1.Local[9:] || s1b.Domain != "hop3.example" || s1b.Local[5:9] == s1.Local[5:9] {
		t.Fatalf("hop3 made %s from %s", s1b, s1)
	}
	// Bounces walk back: hop3 and hop2 both reverse to hop1's SRS0.
	for _, tt := range []struct {
		s  *SRS
		in addr.Address
	}{{hop3, s1b}, {hop2, s1}} {
		r, err := tt.s.Reverse(tt.in)
		if err != nil || r != s0 {
			t.Fatalf("%s: Reverse(%s) = %s, %v; want %s", tt.s.domain, tt.in, r, err, s0)
		}
	}
	if r, err := hop1.Reverse(s0); err != nil || r != orig {
		t.Fatalf("hop1: Reverse(%s) = %s, %v", s0, r, err)
	}
	// A hop cannot reverse another's SRS1.
	if _, err := hop2.Reverse(s1b); !errors.Is(err, ErrBadHash) {
		t.Errorf("hop2 reversed hop3's address: %v", err)
	}
	// SRS0 from a libsrs2 host using "+" as separator: wrapped as is.
	plus := addr.MustParse("SRS0+xyzw=AB=example.net=bob@hop1.example")
	w, err := hop2.Forward(plus)
	if err != nil || !strings.HasSuffix(w.Local, "=hop1.example=+xyzw=ab=example.net=bob") {
		t.Fatalf("Forward(%s) = %s, %v", plus, w, err)
	}
	if r, err := hop2.Reverse(w); err != nil || r.Local != "srs0+xyzw=ab=example.net=bob" || r.Domain != "hop1.example" {
		t.Fatalf("Reverse(%s) = %s, %v", w, r, err)
	}
	// A real address that merely starts like SRS1 is rewritten as SRS0.
	odd := addr.MustParse("srs1-list@example.net")
	if f, err := hop2.Forward(odd); err != nil || !strings.HasPrefix(f.Local, "srs0=") {
		t.Fatalf("Forward(%s) = %s, %v", odd, f, err)
	} else if r, _ := hop2.Reverse(f); r != odd {
		t.Fatalf("Reverse(%s) = %s", f, r)
	}
}

func TestNoSecret(t *testing.T) {
	s := New(nil, "fwd.example.org")
	if _, err := s.Forward(addr.MustParse("a@example.net")); !errors.Is(err, ErrNoSecret) {
		t.Errorf("Forward without a secret: %v", err)
	}
}

func TestLoadOrCreateSecret(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "srs.secret")
	var wg sync.WaitGroup
	got := make([][]byte, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := LoadOrCreateSecret(p)
			if err != nil {
				t.Error(err)
			}
			got[i] = b
		}()
	}
	wg.Wait()
	for _, b := range got[1:] {
		if string(b) != string(got[0]) || len(b) != SecretSize {
			t.Fatalf("concurrent creators disagree: %x vs %x", b, got[0])
		}
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode().Perm())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("left behind: %v", ents)
	}
	again, err := LoadOrCreateSecret(p)
	if err != nil || string(again) != string(got[0]) {
		t.Fatalf("reread: %v", err)
	}

	os.Chmod(p, 0o644)
	if _, err := LoadOrCreateSecret(p); err == nil {
		t.Error("world-readable secret accepted")
	}
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("tiny"), 0o600)
	if _, err := LoadOrCreateSecret(short); err == nil {
		t.Error("4-byte secret accepted")
	}
	if _, err := LoadOrCreateSecret(filepath.Join(dir, "no", "such", "dir")); err == nil {
		t.Error("secret in a missing directory")
	}
}

// FuzzReverse: Reverse never panics; what it accepts is a valid address;
// and Forward of anything that parses reverses to it.
func FuzzReverse(f *testing.F) {
	s := at("fwd.example.org", t0)
	f0, _ := s.Forward(addr.MustParse("alice@example.net"))
	f1, _ := s.Forward(addr.MustParse("SRS0=abcd=ab=example.net=bob@hop.example"))
	for _, seed := range []string{f0.Local, f1.Local, strings.ToUpper(f0.Local), "srs0=====", "srs1==x==", "srs1=abcd=h.example=", "alice", "SRS0+x"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, local string) {
		a, err := addr.Parse(addr.Address{Local: local, Domain: "fwd.example.org"}.String())
		if err != nil {
			return
		}
		if r, err := s.Reverse(a); err == nil {
			if p, perr := addr.Parse(r.String()); perr != nil || p != r {
				t.Fatalf("Reverse(%s) = %q, not canonical: %v", a, r, perr)
			}
		}
		// Treat the input as a sender from elsewhere.
		in := addr.Address{Local: a.Local, Domain: "example.net"}
		fw, err := s.Forward(in)
		if err != nil {
			return
		}
		r, err := s.Reverse(fw)
		if err != nil {
			t.Fatalf("Reverse(Forward(%s) = %s): %v", in, fw, err)
		}
		want := in // an SRS0 sender is wrapped and unwrapped whole
		if kind, _ := prefix(in.Local); kind == '1' && strings.HasPrefix(fw.Local, "srs1=") {
			// An SRS1 sender reverses to the SRS0 address at its first hop.
			hop, rest, _ := splitSRS1(in.Local)
			want = addr.Address{Local: "srs0" + rest, Domain: hop}
		}
		if r != want {
			t.Fatalf("Reverse(Forward(%s) = %s) = %s, want %s", in, fw, r, want)
		}
	})
}
