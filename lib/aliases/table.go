package aliases

import (
	"io"
	"slices"

	"mailctl/lib/addr"
	"mailctl/lib/corefile"
)

// Table answers lookups from the aliases file, parsing it again only when
// it has changed (see lib/corefile.Cache). A missing file is an empty
// table. It is safe for concurrent use.
type Table struct {
	cache *corefile.Cache[*index]
}

type index struct {
	aliases []Alias
	byAddr  map[addr.Address]int
}

func parseIndex(r io.Reader, name string) (*index, error) {
	as, err := Parse(r, name)
	if err != nil {
		return nil, err
	}
	ix := &index{aliases: as, byAddr: make(map[addr.Address]int, len(as))}
	for i, a := range as {
		ix.byAddr[a.Address] = i
	}
	return ix, nil
}

func (ix *index) targets(a addr.Address) ([]addr.Address, bool) {
	i, ok := ix.byAddr[a]
	if !ok {
		return nil, false
	}
	return ix.aliases[i].Targets, true
}

// Open returns a Table reading the aliases file at path. Nothing is read yet.
func Open(path string) *Table {
	return &Table{cache: corefile.NewCache(path, parseIndex, true)}
}

// Lookup returns the targets of exactly a (no subaddress stripping, no
// catch-all; pass addr.Address{Domain: d} to look up d's catch-all).
func (t *Table) Lookup(a addr.Address) ([]addr.Address, bool, error) {
	ix, err := t.cache.Get()
	if err != nil {
		return nil, false, err
	}
	ts, ok := ix.targets(a)
	return slices.Clone(ts), ok, nil
}

// All returns every alias in file order. The slice is the caller's; the
// Targets and Comments inside are shared and must not be modified.
func (t *Table) All() ([]Alias, error) {
	ix, err := t.cache.Get()
	if err != nil {
		return nil, err
	}
	return slices.Clone(ix.aliases), nil
}
