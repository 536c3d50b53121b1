package aliases

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mailctl/lib/addr"
)

// fakeResolver knows users and local domains from two lists.
type fakeResolver struct {
	users   map[addr.Address]bool
	domains map[string]bool
	fail    error
}

func newResolver(users []string, domains ...string) *fakeResolver {
	r := &fakeResolver{users: map[addr.Address]bool{}, domains: map[string]bool{}}
	for _, u := range users {
		r.users[addr.MustParse(u)] = true
	}
	for _, d := range domains {
		r.domains[d] = true
	}
	return r
}

func (r *fakeResolver) IsUser(a addr.Address) (bool, error) { return r.users[a], r.fail }
func (r *fakeResolver) IsLocalDomain(d string) (bool, error) {
	return r.domains[d], r.fail
}

const expandAliases = `
sales@a.example:      ann@a.example
info@a.example:       ann@a.example, carol@a.example
team@a.example:       info@a.example, dave@b.example, ann@a.example, sales@a.example
ann+spam@a.example:   trash@b.example
# self-reference: the user bob, and a copy elsewhere
bob@a.example:        bob@a.example, bob@b.example
# a cycle through a user: dan is delivered to
dan@a.example:        dlist@a.example
dlist@a.example:      dan@a.example, ann@a.example
# a cycle without a user
loop1@a.example:      loop2@a.example
loop2@a.example:      loop1@a.example
selfonly@a.example:   selfonly@a.example
# diamonds are no loops
dia@a.example:        p@a.example, q@a.example
p@a.example:          ann@a.example
q@a.example:          ann@a.example, p@a.example
dangling@a.example:   gone@a.example, carol@a.example
allgone@a.example:    gone@a.example, gone2@a.example
fwd@a.example:        x@b.example
@c.example:           postmaster@c.example
@d.example:           nobody@d.example
`

func chainAliases(n int) string {
	var b strings.Builder
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "chain%d@a.example: chain%d@a.example\n", i, i+1)
	}
	fmt.Fprintf(&b, "chain%d@a.example: ann@a.example\n", n)
	return b.String()
}

func TestExpand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "aliases")
	if err := os.WriteFile(path, []byte(expandAliases+chainAliases(MaxDepth+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	tab := Open(path)
	r := newResolver([]string{"ann@a.example", "bob@a.example", "carol@a.example", "dan@a.example", "postmaster@c.example"},
		"a.example", "c.example", "d.example")

	tests := []struct {
		name, rcpt, sep string
		local, remote   []string
		unknown         []string
		err             error
	}{
		{name: "user", rcpt: "Ann@A.example", local: []string{"ann@a.example"}},
		{name: "alias", rcpt: "sales@a.example", local: []string{"ann@a.example"}},
		{name: "nested and deduplicated", rcpt: "team@a.example", local: []string{"ann@a.example", "carol@a.example"}, remote: []string{"dave@b.example"}},
		{name: "subaddress of a user", rcpt: "ann+news@a.example", sep: "+", local: []string{"ann@a.example"}},
		{name: "subaddress of an alias", rcpt: "sales+x@a.example", sep: "+", local: []string{"ann@a.example"}},
		{name: "exact alias beats the user", rcpt: "ann+spam@a.example", sep: "+", remote: []string{"trash@b.example"}},
		{name: "other separator", rcpt: "ann-news@a.example", sep: "-", local: []string{"ann@a.example"}},
		{name: "subaddressing off", rcpt: "ann+news@a.example", sep: "", err: ErrUnknown},
		{name: "catch-all", rcpt: "whoever@c.example", sep: "+", local: []string{"postmaster@c.example"}},
		{name: "catch-all after subaddress", rcpt: "postmaster+x@c.example", sep: "+", local: []string{"postmaster@c.example"}},
		{name: "remote", rcpt: "x@b.example", remote: []string{"x@b.example"}},
		{name: "forward", rcpt: "fwd@a.example", remote: []string{"x@b.example"}},
		{name: "unknown local", rcpt: "nobody@a.example", sep: "+", err: ErrUnknown},
		{name: "self-reference", rcpt: "bob@a.example", local: []string{"bob@a.example"}, remote: []string{"bob@b.example"}},
		{name: "cycle through a user", rcpt: "dlist@a.example", local: []string{"dan@a.example", "ann@a.example"}},
		{name: "cycle from the user's side", rcpt: "dan@a.example", local: []string{"dan@a.example", "ann@a.example"}},
		{name: "loop", rcpt: "loop1@a.example", err: ErrLoop},
		{name: "self-reference without user", rcpt: "selfonly@a.example", err: ErrLoop},
		{name: "catch-all to itself", rcpt: "x@d.example", err: ErrLoop},
		{name: "diamond", rcpt: "dia@a.example", local: []string{"ann@a.example"}},
		{name: "20 deep", rcpt: "chain2@a.example", local: []string{"ann@a.example"}},
		{name: "21 deep", rcpt: "chain1@a.example", err: ErrLoop},
		{name: "dangling target", rcpt: "dangling@a.example", local: []string{"carol@a.example"}, unknown: []string{"gone@a.example"}},
		{name: "only dangling targets", rcpt: "allgone@a.example", err: ErrUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tab.Expand(addr.MustParse(tt.rcpt), r, tt.sep)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Expansion{Local: mpOrNil(tt.local), Remote: mpOrNil(tt.remote), Unknown: mpOrNil(tt.unknown)}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func mpOrNil(ss []string) []addr.Address {
	if len(ss) == 0 {
		return nil
	}
	return mp(ss...)
}

func TestExpandErrors(t *testing.T) {
	tab := Open(filepath.Join(t.TempDir(), "missing"))
	r := newResolver(nil, "a.example")
	r.fail = errors.New("users file unreadable")
	if _, err := tab.Expand(addr.MustParse("ann@a.example"), r, "+"); !errors.Is(err, r.fail) {
		t.Fatalf("resolver error: err = %v", err)
	}
	if _, err := tab.Expand(addr.Address{Domain: "a.example"}, newResolver(nil), "+"); err == nil {
		t.Fatal("expanded a catch-all address")
	}
	// A loop names its path.
	path := filepath.Join(t.TempDir(), "aliases")
	os.WriteFile(path, []byte("a@a.example: b@a.example\nb@a.example: a@a.example\n"), 0o644)
	_, err := Open(path).Expand(addr.MustParse("a@a.example"), newResolver(nil, "a.example"), "+")
	if err == nil || !strings.Contains(err.Error(), "a@a.example → b@a.example → a@a.example") {
		t.Fatalf("loop error = %v", err)
	}
}
