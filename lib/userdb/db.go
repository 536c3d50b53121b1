package userdb

import (
	"io"

	"mailctl/lib/addr"
	"mailctl/lib/corefile"
)

// DB answers lookups from the users file, parsing it again only when it
// has changed (see lib/corefile.Cache). It is safe for concurrent use.
//
// A missing users file is an error, not an empty list: a wrong path must
// make mail wait (a temporary failure), not bounce as "no such user".
type DB struct {
	cache *corefile.Cache[*index]
}

type index struct {
	users  []User
	byAddr map[addr.Address]int
}

func parseIndex(r io.Reader, name string) (*index, error) {
	users, err := Parse(r, name)
	if err != nil {
		return nil, err
	}
	ix := &index{users: users, byAddr: make(map[addr.Address]int, len(users))}
	for i, u := range users {
		ix.byAddr[u.Address] = i
	}
	return ix, nil
}

// Open returns a DB reading the users file at path. Nothing is read yet.
func Open(path string) *DB {
	return &DB{cache: corefile.NewCache(path, parseIndex, false)}
}

// Path returns the users file's path.
func (db *DB) Path() string { return db.cache.Path() }

// Lookup returns the user with exactly address a (no subaddress stripping;
// disabled users are returned too, with Disabled set).
func (db *DB) Lookup(a addr.Address) (User, bool, error) {
	ix, err := db.cache.Get()
	if err != nil {
		return User{}, false, err
	}
	i, ok := ix.byAddr[a]
	if !ok {
		return User{}, false, nil
	}
	return ix.users[i], true, nil
}

// IsUser reports whether a is a user, enabled or not. With it a DB serves
// as the user half of an aliases.Resolver.
func (db *DB) IsUser(a addr.Address) (bool, error) {
	_, ok, err := db.Lookup(a)
	return ok, err
}

// All returns every user in file order. The slice is the caller's; the
// Comments slices inside are shared and must not be modified.
func (db *DB) All() ([]User, error) {
	ix, err := db.cache.Get()
	if err != nil {
		return nil, err
	}
	return append([]User(nil), ix.users...), nil
}
