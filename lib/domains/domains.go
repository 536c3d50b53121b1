package domains

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"

	"mailctl/lib/addr"
	"mailctl/lib/corefile"
)

// Set is the content of a domains file: each canonical domain, mapped to
// the comment lines kept above it (nil for none). Add a domain with
// s[d] = nil after canonicalising it.
type Set map[string][]string

// Contains reports whether domain, in any form ParseDomain accepts, is in s.
func (s Set) Contains(domain string) bool {
	if _, ok := s[domain]; ok {
		return true
	}
	d, err := addr.ParseDomain(domain)
	if err != nil {
		return false
	}
	_, ok := s[d]
	return ok
}

// Sorted returns the domains in s in sorted order.
func (s Set) Sorted() []string { return slices.Sorted(maps.Keys(s)) }

var header = []string{
	"mailctl local domains: one domain a line (besides the config's `domains`).",
	"Change with `mailctl domain add/remove` or by hand. A comment directly",
	"above a domain is kept when the tools rewrite this file.",
}

// Parse reads a domains file; name is used in errors ("name:line: ...").
// A domain listed twice is an error naming both lines.
func Parse(r io.Reader, name string) (Set, error) {
	s := Set{}
	line := map[string]int{}
	err := corefile.Scan(r, name, func(l corefile.Line) error {
		d, err := addr.ParseDomain(l.Text)
		if err != nil {
			return fmt.Errorf("domain %q: %w", l.Text, err)
		}
		if first, dup := line[d]; dup {
			return fmt.Errorf("domain %s already listed at line %d", d, first)
		}
		line[d] = l.N
		s[d] = l.Comments
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Load reads and parses the domains file at path.
func Load(path string) (Set, error) { return corefile.Load(path, Parse) }

// Write writes s sorted, after the explanatory header. It refuses a domain
// that is not canonical, so whatever it writes parses back to s.
func Write(w io.Writer, s Set) error {
	for d := range s {
		if c, err := addr.ParseDomain(d); err != nil || c != d {
			return fmt.Errorf("domain %q is not canonical", d)
		}
	}
	bw := bufio.NewWriter(w)
	if err := corefile.WriteHeader(bw, header...); err != nil {
		return err
	}
	for _, d := range s.Sorted() {
		if err := corefile.WriteComments(bw, s[d]); err != nil {
			return err
		}
		bw.WriteString(d)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// File answers lookups from the domains file, parsing it again only when it
// has changed (see lib/corefile.Cache). A missing file is an empty set. It
// is safe for concurrent use.
type File struct {
	cache *corefile.Cache[Set]
}

// Open returns a File reading the domains file at path. Nothing is read yet.
func Open(path string) *File {
	return &File{cache: corefile.NewCache(path, Parse, true)}
}

// Contains reports whether domain is listed in the file.
func (f *File) Contains(domain string) (bool, error) {
	s, err := f.cache.Get()
	if err != nil {
		return false, err
	}
	return s.Contains(domain), nil
}

// IsLocalDomain is Contains; with it a File serves as the domain half of an
// aliases.Resolver.
func (f *File) IsLocalDomain(domain string) (bool, error) { return f.Contains(domain) }

// All returns the listed domains, sorted.
func (f *File) All() ([]string, error) {
	s, err := f.cache.Get()
	if err != nil {
		return nil, err
	}
	return s.Sorted(), nil
}

var (
	ErrExists   = errors.New("domain already listed")
	ErrNotFound = errors.New("domain not listed")
)

// FileMode is the mode of a domains file that Update creates.
const FileMode os.FileMode = 0o644

var codec = corefile.Codec[Set]{Parse: Parse, Write: Write}

// Update changes the domains file under its lock: fn gets the current set
// (empty when the file is missing; fn may change and return it). The file
// is replaced atomically, keeping its owner and mode.
func Update(ctx context.Context, path string, fn func(Set) (Set, error)) error {
	return corefile.Update(ctx, path, codec, corefile.Options{Perm: FileMode}, fn)
}

// Add lists domain (any form ParseDomain accepts); ErrExists if it is.
func Add(ctx context.Context, path, domain string) error {
	d, err := addr.ParseDomain(domain)
	if err != nil {
		return fmt.Errorf("domain %q: %w", domain, err)
	}
	return Update(ctx, path, func(s Set) (Set, error) {
		if _, ok := s[d]; ok {
			return nil, fmt.Errorf("%w: %s", ErrExists, d)
		}
		s[d] = nil
		return s, nil
	})
}

// Remove unlists domain; ErrNotFound if it is not listed.
func Remove(ctx context.Context, path, domain string) error {
	d, err := addr.ParseDomain(domain)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrNotFound, domain, err)
	}
	return Update(ctx, path, func(s Set) (Set, error) {
		if _, ok := s[d]; !ok {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, d)
		}
		delete(s, d)
		return s, nil
	})
}
