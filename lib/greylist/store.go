package greylist

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"mailctl/lib/safeio"
)

const (
	magic   = "mailctl-greylist 1"
	buckets = 64
	// refresh is how stale a pass may be recorded before a new pass is
	// written down: most passes then need no write.
	refresh = time.Hour
)

type entry struct {
	first, lastPass time.Time
	passes          int
}

// bucket is one parsed bucket file.
type bucket struct {
	path    string
	entries map[string]*entry
}

// bucket is the file holding key.
func (g *Greylist) bucket(key string) string {
	n, _ := strconv.ParseUint(key[:2], 16, 8)
	return filepath.Join(g.opts.Dir, fmt.Sprintf("%02x.db", n%buckets))
}

// readBucket parses the file at path; a missing file is empty.
func readBucket(path string) (*bucket, error) {
	b := &bucket{path: path, entries: map[string]*entry{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return b, nil
	}
	if err != nil {
		return nil, fmt.Errorf("greylist: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			if line != magic {
				return nil, fmt.Errorf("greylist: %s: not a greylist file", path)
			}
			continue
		}
		key, e, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("greylist: %s: line %d: %w", path, n, err)
		}
		b.entries[key] = e
	}
	return b, nil
}

// lookup finds key in the bucket at path without parsing the rest: the
// read-only path of every RCPT from a known sender. Nil when absent.
func lookup(path, key string) (*entry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("greylist: %w", err)
	}
	i := bytes.Index(data, []byte("\n"+key+" "))
	if i < 0 {
		return nil, nil
	}
	line, _, _ := bytes.Cut(data[i+1:], []byte("\n"))
	_, e, err := parseLine(string(line))
	if err != nil {
		return nil, fmt.Errorf("greylist: %s: %w", path, err)
	}
	return e, nil
}

// parseLine reads "KEY FIRST LASTPASS PASSES".
func parseLine(line string) (string, *entry, error) {
	f := strings.Fields(line)
	if len(f) != 4 || len(f[0]) != 32 {
		return "", nil, errors.New("want KEY FIRST LASTPASS PASSES")
	}
	var v [3]int64
	for i := range v {
		var err error
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return "", nil, err
		}
	}
	e := &entry{first: time.Unix(v[0], 0), passes: int(v[2])}
	if e.passes > 0 {
		e.lastPass = time.Unix(v[1], 0)
	}
	return f[0], e, nil
}

// update changes the bucket at path under its lock: it re-reads the file,
// applies fn, drops what expired and what exceeds the bound, and writes
// the file back.
func (g *Greylist) update(ctx context.Context, path string, now time.Time, fn func(*bucket)) error {
	if err := g.mkdir(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.LockTimeout)
	defer cancel()
	return safeio.WithLock(ctx, strings.TrimSuffix(path, ".db")+".lock", func() error {
		b, err := readBucket(path)
		if err != nil {
			return err
		}
		fn(b)
		g.prune(b, now)
		if err := safeio.WriteFile(path, b.encode(), 0o640); err != nil {
			return fmt.Errorf("greylist: %w", err)
		}
		return nil
	})
}

// prune drops triplets that never passed and are past the retry window,
// passed ones past expiry, and above the bound the least recently used.
func (g *Greylist) prune(b *bucket, now time.Time) {
	for k, e := range b.entries {
		if e.passes == 0 && now.Sub(e.first) > g.opts.RetryWindow || e.passes > 0 && now.Sub(e.lastPass) > g.opts.Expiry {
			delete(b.entries, k)
		}
	}
	limit := max(g.opts.MaxEntries/buckets, 1)
	if len(b.entries) <= limit {
		return
	}
	keys := make([]string, 0, len(b.entries))
	for k := range b.entries {
		keys = append(keys, k)
	}
	used := func(e *entry) time.Time {
		if e.passes > 0 {
			return e.lastPass
		}
		return e.first
	}
	slices.SortFunc(keys, func(x, y string) int { return used(b.entries[y]).Compare(used(b.entries[x])) })
	for _, k := range keys[limit:] {
		delete(b.entries, k)
	}
}

// encode renders the bucket, sorted by key so files compare.
func (b *bucket) encode() []byte {
	keys := make([]string, 0, len(b.entries))
	for k := range b.entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out bytes.Buffer
	out.WriteString(magic + "\n")
	for _, k := range keys {
		e := b.entries[k]
		var last int64
		if e.passes > 0 {
			last = e.lastPass.Unix()
		}
		fmt.Fprintf(&out, "%s %d %d %d\n", k, e.first.Unix(), last, e.passes)
	}
	return out.Bytes()
}
