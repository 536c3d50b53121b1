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

	"mailctl/lib/addr"
	"mailctl/lib/safeio"
)

// maxDKIMDomains bounds dkim.db; the least recently seen go first.
const maxDKIMDomains = 50000

// RecordDKIM remembers domains whose DKIM signature verified on a message
// just received (scanned after DATA): their later mail is not delayed.
// A domain seen within the last hour is not written again.
func (g *Greylist) RecordDKIM(ctx context.Context, domains ...string) error {
	now := g.opts.Now()
	var todo []string
	known, err := g.readDKIM()
	if err != nil {
		return err
	}
	for _, d := range domains {
		d, err := addr.ParseDomain(d)
		if err != nil {
			continue
		}
		if t, ok := known[d]; !ok || now.Sub(t) >= refresh {
			todo = append(todo, d)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	if err := g.mkdir(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, g.opts.LockTimeout)
	defer cancel()
	return safeio.WithLock(ctx, filepath.Join(g.opts.Dir, "dkim.lock"), func() error {
		known, err := g.readDKIM()
		if err != nil {
			return err
		}
		for _, d := range todo {
			known[d] = now
		}
		var out bytes.Buffer
		names := make([]string, 0, len(known))
		for d, t := range known {
			if now.Sub(t) <= g.opts.Expiry {
				names = append(names, d)
			}
		}
		// Most recent first, to keep the newest within the bound.
		slices.SortFunc(names, func(x, y string) int { return known[y].Compare(known[x]) })
		names = names[:min(len(names), maxDKIMDomains)]
		slices.Sort(names)
		for _, d := range names {
			fmt.Fprintf(&out, "%s %d\n", d, known[d].Unix())
		}
		if err := safeio.WriteFile(filepath.Join(g.opts.Dir, "dkim.db"), out.Bytes(), 0o640); err != nil {
			return fmt.Errorf("greylist: %w", err)
		}
		return nil
	})
}

// dkimKnown reports whether domain, or a parent of it, signed mail
// within Expiry.
func (g *Greylist) dkimKnown(domain string) (bool, error) {
	known, err := g.readDKIM()
	if err != nil {
		return false, err
	}
	now := g.opts.Now()
	d := strings.ToLower(domain)
	for {
		if t, ok := known[d]; ok && now.Sub(t) <= g.opts.Expiry {
			return true, nil
		}
		_, parent, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(parent, ".") { // stop above the registered name
			return false, nil
		}
		d = parent
	}
}

func (g *Greylist) readDKIM() (map[string]time.Time, error) {
	out := map[string]time.Time{}
	path := filepath.Join(g.opts.Dir, "dkim.db")
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("greylist: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			return nil, fmt.Errorf("greylist: %s: line %d: want DOMAIN TIME", path, n)
		}
		t, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("greylist: %s: line %d: %w", path, n, err)
		}
		out[f[0]] = time.Unix(t, 0)
	}
	return out, nil
}
