package greylist

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mailctl/lib/addr"
)

// clock is a test clock the Greylist reads.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTest(t *testing.T, dir string, opts Options) (*Greylist, *clock) {
	t.Helper()
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	opts.Dir, opts.Now = dir, c.now
	g, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g, c
}

var (
	ctx    = context.Background()
	sender = addr.MustParse("alice@remote.test")
	bob    = addr.MustParse("bob@example.test")
	ip1    = netip.MustParseAddr("192.0.2.10")
)

func check(t *testing.T, g *Greylist, ip netip.Addr, from, to addr.Address) Decision {
	t.Helper()
	d, err := g.Check(ctx, ip, "mx.remote.test", from, to)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestLifecycle walks one triplet through its states.
func TestLifecycle(t *testing.T) {
	g, c := newTest(t, t.TempDir(), Options{Delay: 5 * time.Minute, RetryWindow: time.Hour, Expiry: 48 * time.Hour})
	steps := []struct {
		advance time.Duration
		pass    bool
		why     string
	}{
		{0, false, "new"},
		{time.Minute, false, "early"},
		{4 * time.Minute, true, "retried"},
		{time.Minute, true, "passed"},
		{47 * time.Hour, true, "passed"}, // refreshes the pass
		{47 * time.Hour, true, "passed"}, // within expiry of the refresh
		{49 * time.Hour, false, "new"},   // expired
		{2 * time.Hour, false, "new"},    // retried too late: a new first attempt
	}
	for i, s := range steps {
		c.add(s.advance)
		d := check(t, g, ip1, sender, bob)
		if d.Pass != s.pass || d.Why != s.why {
			t.Fatalf("step %d (+%s): %+v, want pass %v %q", i, s.advance, d, s.pass, s.why)
		}
		if s.why == "early" && d.RetryIn != 4*time.Minute {
			t.Errorf("RetryIn %s, want 4m", d.RetryIn)
		}
	}
}

// TestTriplets: the network, the sender and the recipient all count; a
// neighbour in the same /24 or /64 is the same client.
func TestTriplets(t *testing.T) {
	g, c := newTest(t, t.TempDir(), Options{Delay: time.Minute})
	v6 := netip.MustParseAddr("2001:db8:1:2::10")
	check(t, g, ip1, sender, bob)
	check(t, g, v6, addr.Address{}, bob)
	c.add(2 * time.Minute)
	for _, tc := range []struct {
		name string
		ip   netip.Addr
		from addr.Address
		to   addr.Address
		pass bool
	}{
		{"same /24", netip.MustParseAddr("192.0.2.200"), sender, bob, true},
		{"v4-mapped", netip.MustParseAddr("::ffff:192.0.2.7"), sender, bob, true},
		{"other /24", netip.MustParseAddr("192.0.3.10"), sender, bob, false},
		{"other sender", ip1, addr.MustParse("mallory@remote.test"), bob, false},
		{"other recipient", ip1, sender, addr.MustParse("carol@example.test"), false},
		{"same /64, null sender", netip.MustParseAddr("2001:db8:1:2::99"), addr.Address{}, bob, true},
		{"other /64", netip.MustParseAddr("2001:db8:1:3::10"), addr.Address{}, bob, false},
	} {
		if d := check(t, g, tc.ip, tc.from, tc.to); d.Pass != tc.pass {
			t.Errorf("%s: %+v, want pass %v", tc.name, d, tc.pass)
		}
	}
	if got := Network(netip.MustParseAddr("2001:db8:1:2:3:4:5:6")).String(); got != "2001:db8:1:2::/64" {
		t.Errorf("Network = %s", got)
	}
}

// TestBypass: SPF passing now, or DKIM on earlier mail from the sender's
// domain (or a parent), lets a new triplet through and remembers it.
func TestBypass(t *testing.T) {
	spfCalls := 0
	g, c := newTest(t, t.TempDir(), Options{SPFPass: func(_ context.Context, ip netip.Addr, _ string, s addr.Address) bool {
		spfCalls++
		return s.Domain == "spf.test" && ip == ip1
	}})
	if d := check(t, g, ip1, addr.MustParse("a@spf.test"), bob); !d.Pass || d.Why != "spf" {
		t.Errorf("spf pass: %+v", d)
	}
	if d := check(t, g, ip1, addr.MustParse("a@spf.test"), bob); !d.Pass || d.Why != "passed" || spfCalls != 1 {
		t.Errorf("after spf pass: %+v, %d SPF checks (want 1: remembered)", d, spfCalls)
	}
	if err := g.RecordDKIM(ctx, "Signed.TEST", "not a domain!"); err != nil {
		t.Fatal(err)
	}
	c.add(time.Hour)
	for _, tc := range []struct {
		from string
		pass bool
	}{
		{"a@signed.test", true},
		{"a@news.signed.test", true},
		{"a@unsigned.test", false},
		{"a@signed.test.evil", false},
	} {
		if d := check(t, g, ip1, addr.MustParse(tc.from), bob); d.Pass != tc.pass {
			t.Errorf("%s: %+v, want pass %v", tc.from, d, tc.pass)
		}
	}
	data, _ := os.ReadFile(filepath.Join(g.opts.Dir, "dkim.db"))
	if !strings.HasPrefix(string(data), "signed.test ") || strings.Count(string(data), "\n") != 1 {
		t.Errorf("dkim.db: %q", data)
	}
	c.add(DefaultExpiry + time.Hour)
	if d := check(t, g, ip1, addr.MustParse("b@signed.test"), bob); d.Pass {
		t.Errorf("after expiry: %+v", d)
	}
}

// TestBounded: a bucket never holds more than MaxEntries/64 triplets, and
// expired ones are pruned on the next write.
func TestBounded(t *testing.T) {
	dir := t.TempDir()
	g, c := newTest(t, dir, Options{MaxEntries: 64 * 3, RetryWindow: time.Hour, Delay: time.Minute})
	for i := range 400 {
		check(t, g, ip1, addr.MustParse(fmt.Sprintf("s%d@remote.test", i)), bob)
	}
	total := 0
	files, _ := filepath.Glob(filepath.Join(dir, "*.db"))
	for _, f := range files {
		b, err := readBucket(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.entries) > 3 {
			t.Errorf("%s holds %d triplets, bound 3", f, len(b.entries))
		}
		total += len(b.entries)
	}
	if total == 0 || total > 64*3 {
		t.Errorf("%d triplets kept", total)
	}
	// Everything is past the retry window: one write empties its bucket.
	c.add(2 * time.Hour)
	check(t, g, ip1, addr.MustParse("s0@remote.test"), bob)
	b, _ := readBucket(g.bucket(tripletKey(ip1, addr.MustParse("s0@remote.test"), bob)))
	if len(b.entries) != 1 {
		t.Errorf("bucket holds %d after pruning, want 1 (the new attempt)", len(b.entries))
	}
}

func TestBadFile(t *testing.T) {
	dir := t.TempDir()
	g, _ := newTest(t, dir, Options{})
	key := tripletKey(ip1, sender, bob)
	os.WriteFile(g.bucket(key), []byte("mailctl-greylist 1\nshort 1 2 3\n"), 0o600)
	if _, err := g.Check(ctx, ip1, "", sender, bob); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("corrupt bucket: %v", err)
	}
	if _, err := New(Options{Dir: dir, Delay: time.Hour, RetryWindow: time.Minute}); err == nil {
		t.Error("retry window shorter than the delay accepted")
	}
}

// TestProcesses: another process (this test binary, re-run) greylists a
// triplet; this one sees it, and after the delay both agree it passes.
// Concurrent first attempts from both lose no triplet.
func TestProcesses(t *testing.T) {
	if dir := os.Getenv("GREYLIST_CHILD_DIR"); dir != "" {
		g, err := New(Options{Dir: dir, Delay: time.Second, RetryWindow: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			if _, err := g.Check(ctx, ip1, "", addr.MustParse(fmt.Sprintf("c%d@remote.test", i)), bob); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestProcesses$")
	child.Env = append(os.Environ(), "GREYLIST_CHILD_DIR="+dir)
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	g, err := New(Options{Dir: dir, Delay: time.Second, RetryWindow: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		check(t, g, ip1, addr.MustParse(fmt.Sprintf("p%d@remote.test", i)), bob)
	}
	if err := child.Wait(); err != nil {
		t.Fatalf("child: %v\n%s", err, out.String())
	}
	time.Sleep(1100 * time.Millisecond)
	for _, who := range []string{"c", "p"} {
		for i := range 50 {
			if d := check(t, g, ip1, addr.MustParse(fmt.Sprintf("%s%d@remote.test", who, i)), bob); !d.Pass || d.Why != "retried" {
				t.Fatalf("%s%d: %+v, want retried (recorded by %s)", who, i, d, map[string]string{"c": "the child", "p": "us"}[who])
			}
		}
	}
}
