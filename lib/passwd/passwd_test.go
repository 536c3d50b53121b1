package passwd

import (
	"context"
	"errors"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"mailctl/lib/testenv"
)

var phc = regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)

func TestHashRoundTrip(t *testing.T) {
	for _, pw := range []string{"correct horse", "", "pässword €", strings.Repeat("x", 200)} {
		h, err := Hash(pw)
		if err != nil {
			t.Fatalf("Hash(%q): %v", pw, err)
		}
		if !phc.MatchString(h) {
			t.Errorf("Hash(%q) = %q, not the expected PHC form", pw, h)
		}
		if ok, err := Verify(h, pw); !ok || err != nil {
			t.Errorf("Verify(Hash(%q), same) = %v, %v; want true, nil", pw, ok, err)
		}
		if ok, err := Verify(h, pw+"!"); ok || err != nil {
			t.Errorf("Verify(Hash(%q), wrong) = %v, %v; want false, nil", pw, ok, err)
		}
		if NeedsRehash(h) {
			t.Errorf("NeedsRehash(fresh hash) = true")
		}
		if !NeedsRehash("{ARGON2I}" + h) {
			t.Errorf("NeedsRehash with a mismatched {ARGON2I} prefix = false")
		}
		if ok, err := Verify("{ARGON2ID}"+h, pw); !ok || err != nil {
			t.Errorf("Verify({ARGON2ID}+hash) = %v, %v", ok, err)
		}
	}
	a, _ := Hash("same")
	b, _ := Hash("same")
	if a == b {
		t.Errorf("two hashes of one password are equal: salt is not random")
	}
	if _, err := Hash(strings.Repeat("x", MaxPasswordLen+1)); err == nil {
		t.Errorf("Hash of an over-long password: no error")
	}
}

func TestFixedVectors(t *testing.T) {
	for _, v := range fixedVectors {
		ok, err := Verify(v.hash, v.password)
		if !ok || err != nil {
			t.Errorf("Verify(%q, %q) = %v, %v; want true, nil", v.hash, v.password, ok, err)
		}
		ok, err = Verify(v.hash, v.password+"x")
		if ok || err != nil {
			t.Errorf("Verify(%q, wrong) = %v, %v; want false, nil", v.hash, ok, err)
		}
		if !NeedsRehash(v.hash) {
			t.Errorf("NeedsRehash(%q) = false; none of these has the current parameters", v.hash)
		}
	}
}

// TestDoveadm checks every scheme against hashes Dovecot makes right now.
func TestDoveadm(t *testing.T) {
	doveadm := testenv.NeedCommand(t, "doveadm", "dovecot-core")
	passwords := []string{"correct horse", "pässword ünïcode €", `p@$$w0rd{}\'"` + "\t;x"}
	schemes := []struct {
		scheme string
		args   []string
	}{
		{"ARGON2ID", nil}, {"ARGON2I", nil},
		{"BLF-CRYPT", []string{"-r", "4"}}, {"CRYPT", nil},
		{"SHA512-CRYPT", nil}, {"SHA512-CRYPT", []string{"-r", "7000"}},
		{"SHA256-CRYPT", nil}, {"SHA256-CRYPT", []string{"-r", "7000"}},
		{"SSHA512", nil}, {"SSHA256", nil}, {"SSHA", nil},
		{"SHA512", nil}, {"SHA256", nil}, {"SHA", nil}, {"SHA1", nil},
		{"SHA256.HEX", nil}, {"SSHA512.HEX", nil},
		{"PLAIN", nil}, {"CLEARTEXT", nil},
	}
	for _, s := range schemes {
		for _, pw := range passwords {
			h := doveadmPW(t, doveadm, s.scheme, pw, s.args...)
			if !strings.HasPrefix(h, "{"+s.scheme+"}") {
				t.Fatalf("doveadm -s %s gave %q", s.scheme, h)
			}
			if ok, err := Verify(h, pw); !ok || err != nil {
				t.Errorf("Verify(%q, %q) = %v, %v; want true, nil", h, pw, ok, err)
			}
			if ok, err := Verify(h, pw[1:]); ok || err != nil {
				t.Errorf("Verify(%q, wrong) = %v, %v; want false, nil", h, ok, err)
			}
			if !NeedsRehash(h) {
				t.Errorf("NeedsRehash(%q) = false", h)
			}
			// crypt-style hashes also work bare, as other servers store them.
			if _, rest, _ := dovecotScheme(h); strings.HasPrefix(rest, "$") {
				if ok, err := Verify(rest, pw); !ok || err != nil {
					t.Errorf("Verify(%q, %q) = %v, %v; want true, nil", rest, pw, ok, err)
				}
			}
		}
	}
	// Dovecot's bcrypt looks at the first 72 bytes only; we refuse longer.
	long := strings.Repeat("0123456789", 8)
	h72 := doveadmPW(t, doveadm, "BLF-CRYPT", long, "-r", "4")
	if ok, err := Verify(h72, long); ok || err != nil {
		t.Errorf("Verify(bcrypt of 80 bytes, same 80) = %v, %v; want false, nil", ok, err)
	}
	if ok, err := Verify(h72, long[:72]); !ok || err != nil {
		t.Errorf("Verify(bcrypt of 80 bytes, first 72) = %v, %v; want true, nil (Dovecot truncates)", ok, err)
	}

	// {CRYPT} in front of a SHA512-crypt string.
	h := doveadmPW(t, doveadm, "SHA512-CRYPT", "correct horse")
	_, rest, _ := dovecotScheme(h)
	if ok, err := Verify("{CRYPT}"+rest, "correct horse"); !ok || err != nil {
		t.Errorf("Verify({CRYPT}%s) = %v, %v", rest, ok, err)
	}
}

func doveadmPW(t *testing.T, doveadm, scheme, pw string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, doveadm, append([]string{"pw", "-s", scheme, "-p", pw}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("doveadm pw -s %s: %v", scheme, err)
	}
	return strings.TrimRight(string(out), "\n")
}

func TestBcryptLongPassword(t *testing.T) {
	pw72 := strings.Repeat("a", 72)
	h, err := bcrypt.GenerateFromPassword([]byte(pw72), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{
		{pw72, true},
		{pw72 + "b", false}, // bcrypt alone would say yes
		{pw72 + strings.Repeat("b", 100), false},
		{pw72[:71], false},
	} {
		ok, err := Verify(string(h), tc.pw)
		if ok != tc.want || err != nil {
			t.Errorf("Verify(bcrypt, %d bytes) = %v, %v; want %v, nil", len(tc.pw), ok, err, tc.want)
		}
	}
}

func TestBadHashes(t *testing.T) {
	for _, tc := range []struct {
		hash    string
		unknown bool // else ErrMalformed
	}{
		{"", true},
		{"plaintext", true},
		{"{", true},
		{"{}", true},
		{"{MD5-CRYPT}$1$abcdefgh$xxxxxxxxxxxxxxxxxxxxxx", true},
		{"$1$abcdefgh$xxxxxxxxxxxxxxxxxxxxxx", true},
		{"abJnggxhB/yWI", true}, // DES crypt
		{"{CRYPT}abJnggxhB/yWI", true},
		{"{CRYPT}", true},
		{"{NOPE}x", true},
		{"$argon2d$v=19$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", true},
		{"$argon2id$", false},
		{"$argon2id$v=16$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{"$argon2id$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{"$argon2id$v=19$m=65536,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{"$argon2id$v=19$m=65536,t=1,p=0$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{"$argon2id$v=19$m=65536,t=1,p=256$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{"$argon2id$v=19$m=65536,t=1000,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{"$argon2id$v=19$t=1,m=65536,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", false},
		{"$argon2id$v=19$m=65536,t=1,p=1$!!!$aGFzaGhhc2g", false},
		{"$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHQ$", false},
		{"$argon2id$v=19$m=65536,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g$", false},
		{"{ARGON2ID}$2y$05$j0AnYJiBdc1DPs8zK2mhNeJq8h7RCWeXYHs7fqc.fVwz9XuxTzsye", false},
		{"$2y$05$short", false},
		{"$2y$99$j0AnYJiBdc1DPs8zK2mhNeJq8h7RCWeXYHs7fqc.fVwz9XuxTzsye", false},
		{"$2y$31$j0AnYJiBdc1DPs8zK2mhNeJq8h7RCWeXYHs7fqc.fVwz9XuxTzsye", false},
		{"$2y$0x$j0AnYJiBdc1DPs8zK2mhNeJq8h7RCWeXYHs7fqc.fVwz9XuxTzsye", false},
		{"$6$", false},
		{"$6$rounds=999999999$salt$hash", false},
		{"$6$rounds=x$salt$hash", false},
		{"$5$a$b$c$d", false},
		{"{SHA256}notbase64!", false},
		{"{SHA256}c2hvcnQ=", false},
		{"{SSHA256}QQTTb42iwlQ0n4WDZ5Pr4CngyVcGOjTJHC6SAxh7VjE=", false}, // no salt
		{"{SHA256.HEX}zz", false},
	} {
		ok, err := Verify(tc.hash, "pw")
		want := ErrMalformed
		if tc.unknown {
			want = ErrUnknownScheme
		}
		if ok || !errors.Is(err, want) {
			t.Errorf("Verify(%q) = %v, %v; want false, %v", tc.hash, ok, err, want)
		}
		if !NeedsRehash(tc.hash) {
			t.Errorf("NeedsRehash(%q) = false", tc.hash)
		}
	}
}

func TestNeedsRehash(t *testing.T) {
	cur, err := Hash("x")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Split(cur, "$")
	for _, tc := range []struct {
		hash string
		want bool
	}{
		{cur, false},
		{"{ARGON2ID}" + cur, false},
		{"{argon2id}" + cur, false},
		{strings.Replace(cur, "m=65536", "m=65537", 1), true},
		{strings.Replace(cur, "t=1,", "t=2,", 1), true},
		{strings.Replace(cur, "p=1$", "p=2$", 1), true},
		{strings.Replace(cur, "$argon2id$", "$argon2i$", 1), true},
		{"$argon2id$v=19$m=65536,t=1,p=1$" + f[4][:11] + "$" + f[5], true}, // 8-byte salt
		{"$argon2id$v=19$m=65536,t=1,p=1$" + f[4] + "$" + f[5][:22], true}, // 16-byte key
		{"{PLAIN}x", true},
		{"garbage", true},
	} {
		if got := NeedsRehash(tc.hash); got != tc.want {
			t.Errorf("NeedsRehash(%q) = %v, want %v", tc.hash, got, tc.want)
		}
	}
}

// TestConcurrencyBound fills the semaphore and checks that every slow path
// waits for a slot and honours its context while waiting.
func TestConcurrencyBound(t *testing.T) {
	h, err := Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	drained := false
	drain := func() {
		if !drained {
			for range cap(sem) {
				<-sem
			}
			drained = true
		}
	}
	defer drain()

	for _, hash := range []string{
		h,
		"$2y$04$55bK6dH6fLPOO.4zHjimFuhdihaGjpjXV6q7EmSeMxsdegdMzLgXy",
		"$5$rounds=6000$WpB3YQPWUfqxXjzU$sqXeM/x4vLZGkZBQwWYD8amLAs1SGbokFus5rENisB/",
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		ok, err := VerifyContext(ctx, hash, "pw")
		cancel()
		if ok || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("VerifyContext(%.10s…) with no free slot = %v, %v; want DeadlineExceeded", hash, ok, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := DummyVerifyContext(ctx, "pw"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("DummyVerifyContext with no free slot = %v; want DeadlineExceeded", err)
	}
	// Cheap schemes don't wait.
	if ok, err := Verify("{PLAIN}pw", "pw"); !ok || err != nil {
		t.Errorf("Verify({PLAIN}) while slots are full = %v, %v", ok, err)
	}

	done := make(chan bool)
	go func() {
		ok, _ := Verify(h, "pw")
		done <- ok
	}()
	select {
	case <-done:
		t.Fatal("Verify ran while every slot was taken")
	case <-time.After(100 * time.Millisecond):
	}
	drain()
	if ok := <-done; !ok {
		t.Error("Verify after slots were freed = false")
	}
	DummyVerify("pw") // must not block now
}

func FuzzVerify(f *testing.F) {
	saved := limits
	limits.argonMemoryKiB, limits.argonTime = 256, 2
	limits.bcryptCost, limits.cryptRounds = 5, 5000
	f.Cleanup(func() { limits = saved })

	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("{ARGON2I}$argon2i$v=19$m=128,t=2,p=2$c2FsdHNhbHQ$aGFzaGhhc2g", "pw")
	f.Add("$2y$04$55bK6dH6fLPOO.4zHjimFuhdihaGjpjXV6q7EmSeMxsdegdMzLgXy", "correct horse")
	f.Add("{SHA512-CRYPT}$6$Omg2AOSt7pOkhpxK$dYyXqHjbJgnvwEpQ8xphwCcsCd4HcEX1pxdheZAkPS21ZGVdtHTZL8.SOMolKjFViPMbRPmYJguMSDZh7EnJJ.", "correct horse")
	f.Add("$5$rounds=1000$WpB3YQPWUfqxXjzU$sqXeM/x4vLZGkZBQwWYD8amLAs1SGbokFus5rENisB/", "x")
	f.Add("{SSHA}jCkI1hkTQOeUWOY8w6y7L57VDKhjd9UM", "correct horse")
	f.Add("{SHA256.HEX}4104d36f8da2c254349f85836793ebe029e0c957063a34c91c2e9203187b5631", "correct horse")
	f.Add("{CRYPT}$2a$04$x", "")
	f.Add("{PLAIN}pw", "pw")
	f.Add("{", "")
	f.Fuzz(func(t *testing.T, hash, password string) {
		ok, err := Verify(hash, password)
		if ok && err != nil {
			t.Fatalf("Verify(%q) = true with error %v", hash, err)
		}
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownScheme) {
			t.Fatalf("Verify(%q): error %v is neither ErrMalformed nor ErrUnknownScheme", hash, err)
		}
		if !NeedsRehash(hash) && !strings.Contains(hash, "$argon2id$v=19$m=65536,t=1,p=1$") {
			t.Fatalf("NeedsRehash(%q) = false for a hash without the current parameters", hash)
		}
	})
}

func BenchmarkHash(b *testing.B) {
	for b.Loop() {
		if _, err := Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	h, err := Hash("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ok, err := Verify(h, "correct horse battery staple"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

func BenchmarkDummyVerify(b *testing.B) {
	for b.Loop() {
		DummyVerify("correct horse battery staple")
	}
}
