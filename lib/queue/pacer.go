package queue

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailctl/lib/safeio"
)

// pacer keeps the relay within messages per hour and per day, counting
// in a file that every process shares (format in the package comment).
type pacer struct {
	path            string
	perHour, perDay int
}

const paceMagic = "mailctl-relay-sends 1"

// limits describes the caps for messages.
func (p *pacer) limits() string {
	var parts []string
	if p.perHour > 0 {
		parts = append(parts, fmt.Sprintf("%d messages per hour", p.perHour))
	}
	if p.perDay > 0 {
		parts = append(parts, fmt.Sprintf("%d per day", p.perDay))
	}
	return strings.Join(parts, ", ")
}

// reserve counts one message at now if the caps allow. Otherwise it
// returns when a slot frees up; slot identifies the count for release.
func (p *pacer) reserve(ctx context.Context, now time.Time) (slot int64, until time.Time, err error) {
	if p.perHour <= 0 && p.perDay <= 0 {
		return 0, time.Time{}, nil
	}
	slot = now.Unix()
	err = p.update(ctx, func(sends []int64) []int64 {
		sends = prune(sends, now)
		if t := wait(sends, now, p.perHour, time.Hour); t.After(until) {
			until = t
		}
		if t := wait(sends, now, p.perDay, 24*time.Hour); t.After(until) {
			until = t
		}
		if !until.IsZero() {
			return nil // unchanged
		}
		return append(sends, slot)
	})
	return slot, until, err
}

// release gives back a count made by reserve.
func (p *pacer) release(ctx context.Context, slot int64) {
	if p.perHour <= 0 && p.perDay <= 0 {
		return
	}
	p.update(ctx, func(sends []int64) []int64 {
		if i := slices.Index(sends, slot); i >= 0 {
			return slices.Delete(sends, i, i+1)
		}
		return nil
	})
}

// update rewrites the file with what change returns (nil: no change),
// under the lock.
func (p *pacer) update(ctx context.Context, change func([]int64) []int64) error {
	lctx, cancel := context.WithTimeout(ctx, safeio.LockTimeout)
	defer cancel()
	return safeio.WithLock(lctx, p.path+".lock", func() error {
		data, err := os.ReadFile(p.path)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("queue: %w", err)
		}
		sends := parseSends(data)
		out := change(sends)
		if out == nil {
			return nil
		}
		return safeio.WriteFile(p.path, formatSends(out), 0o600)
	})
}

// prune drops sends older than a day (and any from the future beyond a
// minute: a clock set back must not block the relay for long).
func prune(sends []int64, now time.Time) []int64 {
	from, to := now.Add(-24*time.Hour).Unix(), now.Add(time.Minute).Unix()
	out := sends[:0]
	for _, s := range sends {
		if s > from && s <= to {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// wait returns when the window allows one more send, or zero if it does
// now. sends is sorted.
func wait(sends []int64, now time.Time, limit int, window time.Duration) time.Time {
	if limit <= 0 {
		return time.Time{}
	}
	from := now.Add(-window).Unix()
	i, _ := slices.BinarySearch(sends, from+1)
	in := sends[i:]
	if len(in) < limit {
		return time.Time{}
	}
	return time.Unix(in[len(in)-limit], 0).Add(window)
}

// parseSends reads the file; lines that aren't numbers are skipped (a
// damaged file costs at most some pacing, never the queue).
func parseSends(data []byte) []int64 {
	lines := strings.Split(string(data), "\n")
	if len(lines) == 0 || lines[0] != paceMagic {
		return nil
	}
	var out []int64
	for _, l := range lines[1:] {
		if n, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func formatSends(sends []int64) []byte {
	var b strings.Builder
	b.WriteString(paceMagic + "\n")
	for _, s := range sends {
		b.WriteString(strconv.FormatInt(s, 10))
		b.WriteByte('\n')
	}
	return []byte(b.String())
}
