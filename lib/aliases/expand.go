package aliases

import (
	"errors"
	"fmt"
	"strings"

	"mailctl/lib/addr"
)

var (
	// ErrUnknown: a local address that is no user, no alias and not caught
	// by a catch-all.
	ErrUnknown = errors.New("unknown local address")
	// ErrLoop: the aliases form a cycle that reaches no user, or nest
	// deeper than MaxDepth.
	ErrLoop = errors.New("alias loop")
)

// MaxDepth is how many aliases deep an expansion may go.
const MaxDepth = 20

// Resolver tells Expand what the aliases file can't: who is a user and
// which domains are local. *userdb.DB provides IsUser.
type Resolver interface {
	IsUser(a addr.Address) (bool, error)
	IsLocalDomain(domain string) (bool, error)
}

// Expansion is where mail for one recipient goes.
type Expansion struct {
	Local  []addr.Address // users (their own address, without a +tag), deduplicated
	Remote []addr.Address // addresses in non-local domains, deduplicated
	// Unknown holds local targets of aliases that lead nowhere (a user
	// deleted but still named in an alias). The rest of the alias is still
	// delivered; the caller should log or report these.
	Unknown []addr.Address
}

// Expand resolves the recipient a. For each address A, the first match wins:
//
//  1. an alias for exactly A: each target is expanded the same way;
//  2. a user A;
//  3. with the subaddress stripped (bob+tag → bob, tagSep "+"; "" turns
//     this off): an alias for the base address, then a user of that name;
//  4. the catch-all alias of A's domain;
//  5. otherwise, A in a non-local domain is remote; in a local domain it is
//     ErrUnknown — or, when A is the target of an alias, listed in Unknown.
//
// An alias that names itself (bob: bob, bob@elsewhere) delivers to the user
// bob. More generally, a target that leads back to an alias being expanded
// closes a cycle: every user among the cycle's addresses gets the mail, and
// a cycle without a user is ErrLoop, as is nesting deeper than MaxDepth.
// If nothing is left to deliver to, the error is ErrUnknown.
func (t *Table) Expand(a addr.Address, r Resolver, tagSep string) (Expansion, error) {
	if a.Local == "" {
		return Expansion{}, fmt.Errorf("expand %q: not a full address", a)
	}
	ix, err := t.cache.Get()
	if err != nil {
		return Expansion{}, err
	}
	e := &expander{ix: ix, r: r, sep: tagSep, seen: map[addr.Address]bool{}, done: map[addr.Address]bool{}}
	if err := e.expand(a); err != nil {
		return Expansion{}, err
	}
	if len(e.out.Local) == 0 && len(e.out.Remote) == 0 {
		return Expansion{}, fmt.Errorf("%w: %s: its aliases lead to no user (%s)", ErrUnknown, a, joinAddrs(e.out.Unknown))
	}
	return e.out, nil
}

type expander struct {
	ix    *index
	r     Resolver
	sep   string
	stack []addr.Address        // aliases being expanded, outermost first
	done  map[addr.Address]bool // aliases already expanded in full
	seen  map[addr.Address]bool // results already recorded
	out   Expansion
}

func (e *expander) expand(a addr.Address) error {
	if ok, err := e.alias(a); ok || err != nil {
		return err
	}
	if ok, err := e.user(a); ok || err != nil {
		return err
	}
	if base, _ := addr.SplitTag(a.Local, e.sep); base != a.Local {
		b := addr.Address{Local: base, Domain: a.Domain}
		if ok, err := e.alias(b); ok || err != nil {
			return err
		}
		if ok, err := e.user(b); ok || err != nil {
			return err
		}
	}
	if ok, err := e.alias(addr.Address{Domain: a.Domain}); ok || err != nil {
		return err
	}
	local, err := e.r.IsLocalDomain(a.Domain)
	switch {
	case err != nil:
		return fmt.Errorf("expand %s: %w", a, err)
	case !local:
		e.add(&e.out.Remote, a)
	case len(e.stack) == 0:
		return fmt.Errorf("%w: %s", ErrUnknown, a)
	default:
		e.add(&e.out.Unknown, a)
	}
	return nil
}

// alias expands the alias for exactly k, if there is one.
func (e *expander) alias(k addr.Address) (bool, error) {
	targets, ok := e.ix.targets(k)
	if !ok {
		return false, nil
	}
	if e.done[k] {
		return true, nil // its results are in already
	}
	for i, s := range e.stack {
		if s == k {
			return true, e.cycle(e.stack[i:])
		}
	}
	if len(e.stack) >= MaxDepth {
		return true, fmt.Errorf("%w: more than %d aliases deep: %s", ErrLoop, MaxDepth, joinAddrs(e.stack))
	}
	e.stack = append(e.stack, k)
	for _, t := range targets {
		if err := e.expand(t); err != nil {
			return true, err
		}
	}
	e.stack = e.stack[:len(e.stack)-1]
	e.done[k] = true
	return true, nil
}

// cycle handles a target that leads back to an alias being expanded: the
// aliases from there on form a cycle. Its addresses that are users get the
// mail (that is how "bob: bob, bob@elsewhere" reaches bob); a cycle without
// a user is a loop. The rest of each alias is expanded as usual.
func (e *expander) cycle(c []addr.Address) error {
	found := false
	for _, a := range c {
		if a.Local == "" {
			continue // a catch-all is never a user
		}
		ok, err := e.user(a)
		if err != nil {
			return err
		}
		found = found || ok
	}
	if !found {
		return fmt.Errorf("%w: %s → %s, and none of them is a user", ErrLoop, joinAddrs(c), keyString(c[0]))
	}
	return nil
}

// user records a as a local recipient if it is a user.
func (e *expander) user(a addr.Address) (bool, error) {
	ok, err := e.r.IsUser(a)
	if err != nil {
		return false, fmt.Errorf("expand %s: %w", a, err)
	}
	if ok {
		e.add(&e.out.Local, a)
	}
	return ok, nil
}

func (e *expander) add(list *[]addr.Address, a addr.Address) {
	if !e.seen[a] {
		e.seen[a] = true
		*list = append(*list, a)
	}
}

func joinAddrs(as []addr.Address) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = keyString(a)
	}
	return strings.Join(s, " → ")
}
