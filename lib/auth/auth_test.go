package auth

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/passwd"
	"mailctl/lib/userdb"
)

var (
	client  = netip.MustParseAddr("192.0.2.7")
	client2 = netip.MustParseAddr("192.0.2.8")
)

// newUsers writes a users file with bob (imap+submit), carol (pop3 only)
// and dave (disabled), all with password "secret-password".
func newUsers(t *testing.T) (*userdb.DB, string) {
	t.Helper()
	hash, err := passwd.Hash("secret-password")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "users")
	users := []userdb.User{
		{Address: addr.MustParse("bob@example.test"), Hash: hash, Services: userdb.Services(0).With(userdb.IMAP).With(userdb.Submit)},
		{Address: addr.MustParse("carol@example.test"), Hash: hash, Services: userdb.Services(0).With(userdb.POP3)},
		{Address: addr.MustParse("dave@example.test"), Hash: hash, Services: userdb.Services(0).With(userdb.IMAP), Disabled: true},
	}
	for _, u := range users {
		if err := userdb.Add(context.Background(), p, u); err != nil {
			t.Fatal(err)
		}
	}
	return userdb.Open(p), p
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newAuth(t *testing.T, db *userdb.DB, stateDir string, c *clock) *Authenticator {
	t.Helper()
	a, err := New(Options{Users: db, StateDir: stateDir, MaxFailures: 3, MaxUserDelay: 2 * time.Millisecond, now: c.now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestCheck(t *testing.T) {
	db, _ := newUsers(t)
	a := newAuth(t, db, "", &clock{time.Now()})
	ctx := context.Background()
	tests := []struct {
		user, pw string
		svc      userdb.Service
		want     error
	}{
		{"bob@example.test", "secret-password", userdb.IMAP, nil},
		{"Bob@Example.TEST", "secret-password", userdb.Submit, nil},
		{"bob@example.test", "wrong", userdb.IMAP, ErrInvalid},
		{"nobody@example.test", "secret-password", userdb.IMAP, ErrInvalid},
		{"not an address", "secret-password", userdb.IMAP, ErrInvalid},
		{"carol@example.test", "secret-password", userdb.IMAP, ErrServiceDenied},
		{"carol@example.test", "wrong", userdb.IMAP, ErrInvalid}, // no hint without the password
		{"dave@example.test", "secret-password", userdb.IMAP, ErrDisabled},
		{"dave@example.test", "wrong", userdb.IMAP, ErrInvalid},
	}
	for _, tt := range tests {
		// Each from its own address, so lockout doesn't interfere.
		ip := netip.AddrFrom4([4]byte{198, 51, 100, byte(len(tt.user) + len(tt.pw))})
		a.failures = newMemStore()
		u, err := a.Check(ctx, ip, tt.user, tt.pw, tt.svc)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s/%s/%s: err %v, want %v", tt.user, tt.pw, tt.svc, err, tt.want)
		}
		if err == nil && u.Address.String() != "bob@example.test" {
			t.Errorf("user %v", u.Address)
		}
	}
}

func TestLockoutPerAddress(t *testing.T) {
	db, _ := newUsers(t)
	c := &clock{time.Now()}
	a := newAuth(t, db, "", c)
	ctx := context.Background()
	for range 3 {
		if _, err := a.Check(ctx, client, "bob@example.test", "wrong", userdb.IMAP); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err %v", err)
		}
	}
	// Locked: even the right password is refused, and it is temporary.
	_, err := a.Check(ctx, client, "bob@example.test", "secret-password", userdb.IMAP)
	if !errors.Is(err, ErrLockedOut) || !IsTemporary(err) {
		t.Fatalf("after 3 failures: %v, want lockout", err)
	}
	// Another address is not affected.
	if _, err := a.Check(ctx, client2, "bob@example.test", "secret-password", userdb.IMAP); err != nil {
		t.Fatalf("other address: %v", err)
	}
	// The lockout ends.
	c.t = c.t.Add(DefaultLockout + time.Second)
	if _, err := a.Check(ctx, client, "bob@example.test", "secret-password", userdb.IMAP); err != nil {
		t.Fatalf("after the lockout: %v", err)
	}
}

func TestIPv6CountsBy64(t *testing.T) {
	if clientKey(netip.MustParseAddr("2001:db8:1:2::1")) != clientKey(netip.MustParseAddr("2001:db8:1:2:ffff::9")) {
		t.Error("addresses in one /64 counted apart")
	}
	if clientKey(netip.MustParseAddr("2001:db8:1:2::1")) == clientKey(netip.MustParseAddr("2001:db8:1:3::1")) {
		t.Error("different /64s counted together")
	}
	if clientKey(netip.MustParseAddr("::ffff:192.0.2.1")) != "192.0.2.1" {
		t.Error("mapped IPv4 not unmapped")
	}
}

func TestUserDelayIsCapped(t *testing.T) {
	a := &Authenticator{opts: Options{Window: time.Hour, MaxUserDelay: 5 * time.Second}}
	now := time.Now()
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for n, w := range want {
		if got := a.userDelay(record{Count: n, First: now, Last: now}, now); got != w {
			t.Errorf("%d failures: delay %v, want %v", n, got, w)
		}
	}
	if got := a.userDelay(record{Count: 5, First: now, Last: now}, now.Add(2*time.Hour)); got != 0 {
		t.Errorf("stale failures still delay: %v", got)
	}
}

// TestSharedAcrossProcesses: two Authenticators on one state directory
// (as two inetd processes are) see each other's failures.
func TestSharedAcrossProcesses(t *testing.T) {
	db, _ := newUsers(t)
	dir := filepath.Join(t.TempDir(), "auth")
	c := &clock{time.Now()}
	a1, a2 := newAuth(t, db, dir, c), newAuth(t, db, dir, c)
	ctx := context.Background()
	a1.Check(ctx, client, "bob@example.test", "wrong", userdb.IMAP)
	a2.Check(ctx, client, "bob@example.test", "wrong", userdb.IMAP)
	a1.Check(ctx, client, "bob@example.test", "wrong", userdb.IMAP)
	if _, err := a2.Check(ctx, client, "bob@example.test", "secret-password", userdb.IMAP); !errors.Is(err, ErrLockedOut) {
		t.Fatalf("second process after 3 shared failures: %v, want lockout", err)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if filepath.Base(e.Name()) == "bob@example.test" || len(e.Name()) < 20 {
			t.Errorf("state file name reveals its key: %s", e.Name())
		}
	}
}

func TestCacheFollowsPasswordChange(t *testing.T) {
	db, path := newUsers(t)
	a, err := New(Options{Users: db, CacheTTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.Check(ctx, client, "bob@example.test", "secret-password", userdb.IMAP); err != nil {
		t.Fatal(err)
	}
	if len(a.cache) != 1 {
		t.Fatalf("cache has %d entries after a login", len(a.cache))
	}
	start := time.Now()
	if _, err := a.Check(ctx, client, "bob@example.test", "secret-password", userdb.IMAP); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 15*time.Millisecond {
		t.Logf("cached login took %v", d) // informative only: no timing assertions
	}
	newHash, _ := passwd.Hash("another-password")
	time.Sleep(1100 * time.Millisecond) // let the users file's mtime move past the re-read window
	if err := userdb.Modify(ctx, path, addr.MustParse("bob@example.test"), func(u *userdb.User) error { u.Hash = newHash; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Check(ctx, client, "bob@example.test", "secret-password", userdb.IMAP); !errors.Is(err, ErrInvalid) {
		t.Fatalf("old password after a change: %v, want ErrInvalid", err)
	}
	if _, err := a.Check(ctx, client, "bob@example.test", "another-password", userdb.IMAP); err != nil {
		t.Fatalf("new password: %v", err)
	}
}

func TestSASL(t *testing.T) {
	db, _ := newUsers(t)
	a := newAuth(t, db, "", &clock{time.Now()})
	ctx := context.Background()
	var got userdb.User
	done := func(u userdb.User) { got = u }

	s, err := a.SASLServer(ctx, "PLAIN", client, userdb.Submit, done)
	if err != nil {
		t.Fatal(err)
	}
	if _, fin, err := s.Next([]byte("\x00bob@example.test\x00secret-password")); err != nil || !fin {
		t.Fatalf("PLAIN: %v %v", fin, err)
	}
	if got.Address.String() != "bob@example.test" {
		t.Fatalf("done not called: %+v", got)
	}
	s, _ = a.SASLServer(ctx, "PLAIN", client2, userdb.Submit, done)
	if _, _, err := s.Next([]byte("alice@example.test\x00bob@example.test\x00secret-password")); !errors.Is(err, ErrInvalid) {
		t.Fatalf("PLAIN with another authorization identity: %v", err)
	}

	s, _ = a.SASLServer(ctx, "LOGIN", client2, userdb.Submit, done)
	ch, fin, err := s.Next(nil)
	if string(ch) != "Username:" || fin || err != nil {
		t.Fatalf("LOGIN step 1: %q %v %v", ch, fin, err)
	}
	ch, fin, err = s.Next([]byte("bob@example.test"))
	if string(ch) != "Password:" || fin || err != nil {
		t.Fatalf("LOGIN step 2: %q %v %v", ch, fin, err)
	}
	if _, fin, err = s.Next([]byte("wrong")); !fin || !errors.Is(err, ErrInvalid) {
		t.Fatalf("LOGIN wrong password: %v %v", fin, err)
	}
	s, _ = a.SASLServer(ctx, "LOGIN", client2, userdb.Submit, done)
	s.Next([]byte("bob@example.test")) // initial response carries the user
	if _, fin, err = s.Next([]byte("secret-password")); !fin || err != nil {
		t.Fatalf("LOGIN with initial response: %v %v", fin, err)
	}
	if _, err := a.SASLServer(ctx, "CRAM-MD5", client, userdb.Submit, done); !errors.Is(err, ErrMechanism) {
		t.Fatalf("CRAM-MD5: %v", err)
	}
}

func TestParseRecordTolerant(t *testing.T) {
	for _, s := range []string{"", "garbage", "1 2", "-1 2 3", "x 2 3", "1 2 3 4"} {
		if r := parseRecord(s); r.Count != 0 {
			t.Errorf("parseRecord(%q) = %+v", s, r)
		}
	}
	r := record{Count: 4, First: time.Unix(100, 0), Last: time.Unix(200, 0)}
	if got := parseRecord(formatRecord(r)); got != r {
		t.Errorf("round trip %+v → %+v", r, got)
	}
}
