package greylist

import (
	"fmt"
	"testing"
	"time"

	"mailctl/lib/addr"
)

// benchGreylist has about 3000 triplets per bucket (the default bound).
func benchGreylist(b *testing.B) (*Greylist, *clock) {
	g, c := newTest(&testing.T{}, b.TempDir(), Options{Delay: time.Minute})
	for k := range buckets {
		path := fmt.Sprintf("%s/%02x.db", g.opts.Dir, k)
		g.update(ctx, path, c.now(), func(bk *bucket) {
			for j := range 3000 {
				bk.entries[fmt.Sprintf("%02x%030x", k, j)] = &entry{first: c.now(), lastPass: c.now(), passes: 1}
			}
		})
	}
	return g, c
}

// BenchmarkCheckKnown: a triplet that passed within the hour (read only).
func BenchmarkCheckKnown(b *testing.B) {
	g, c := benchGreylist(b)
	check(&testing.T{}, g, ip1, sender, bob)
	c.add(2 * time.Minute)
	check(&testing.T{}, g, ip1, sender, bob)
	b.ResetTimer()
	for b.Loop() {
		if d, _ := g.Check(ctx, ip1, "", sender, bob); !d.Pass {
			b.Fatal("not passed")
		}
	}
}

// BenchmarkCheckNew: a new triplet (a locked rewrite of its bucket, fsync
// included).
func BenchmarkCheckNew(b *testing.B) {
	g, _ := benchGreylist(b)
	i := 0
	b.ResetTimer()
	for b.Loop() {
		i++
		if d, _ := g.Check(ctx, ip1, "", addr.Address{Local: fmt.Sprintf("s%d", i), Domain: "remote.test"}, bob); d.Pass {
			b.Fatal("passed")
		}
	}
}
