package queue

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPacer(t *testing.T) {
	ctx := context.Background()
	p := &pacer{path: filepath.Join(t.TempDir(), "relay-sends"), perHour: 2, perDay: 3}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		at    time.Duration
		until time.Duration // -1: allowed
	}{
		{0, -1},
		{10 * time.Minute, -1},
		{20 * time.Minute, time.Hour}, // hourly cap: the first send must age out
		{time.Hour, -1},               // it did
		{time.Hour + time.Minute, 24 * time.Hour},                     // daily cap now
		{24*time.Hour + time.Second, -1},                              // the first send is a day old
		{24*time.Hour + 2*time.Second, 24*time.Hour + 10*time.Minute}, // daily again: 10m, 1h, 24h0m1s
	}
	for _, s := range steps {
		_, until, err := p.reserve(ctx, t0.Add(s.at))
		if err != nil {
			t.Fatal(err)
		}
		if s.until < 0 && !until.IsZero() || s.until >= 0 && !until.Equal(t0.Add(s.until)) {
			t.Errorf("at %v: until %v, want %v", s.at, until, s.until)
		}
	}
	// A release gives the slot back.
	p2 := &pacer{path: filepath.Join(t.TempDir(), "relay-sends"), perHour: 1}
	slot, _, _ := p2.reserve(ctx, t0)
	if _, until, _ := p2.reserve(ctx, t0); until.IsZero() {
		t.Fatal("second send within the hour allowed")
	}
	p2.release(ctx, slot)
	if _, until, _ := p2.reserve(ctx, t0); !until.IsZero() {
		t.Fatal("released slot not given back")
	}
	data, _ := os.ReadFile(p2.path)
	if !strings.HasPrefix(string(data), paceMagic+"\n") || strings.Count(string(data), "\n") != 2 {
		t.Errorf("file:\n%s", data)
	}
}

func TestPacerConcurrent(t *testing.T) {
	p := &pacer{path: filepath.Join(t.TempDir(), "relay-sends"), perHour: 10}
	now := time.Now()
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, until, err := p.reserve(context.Background(), now); err == nil && until.IsZero() {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != 10 {
		t.Errorf("%d sends allowed, want 10", allowed)
	}
}

func TestParseSends(t *testing.T) {
	got := parseSends([]byte(paceMagic + "\n100\nnonsense\n-5\n200\n"))
	if !slices.Equal(got, []int64{100, 200}) {
		t.Errorf("got %v", got)
	}
	if parseSends([]byte("other-format 1\n100\n")) != nil {
		t.Error("foreign file read")
	}
}

func FuzzParseSends(f *testing.F) {
	f.Add([]byte(paceMagic + "\n1735787045\n1735787101\n"))
	f.Add([]byte(paceMagic + "\n\n-1\n99999999999999999999\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sends := parseSends(data)
		for _, s := range sends {
			if s <= 0 {
				t.Fatalf("non-positive send %d", s)
			}
		}
		again := parseSends(formatSends(sends))
		if !slices.Equal(again, sends) {
			t.Fatalf("round trip: %v → %v", sends, again)
		}
		now := time.Unix(1735787045, 0)
		pr := prune(slices.Clone(sends), now)
		wait(pr, now, 3, time.Hour)
	})
}
