// Package auth checks credentials for every protocol (SMTP submission,
// IMAP, POP3, webmail) against the users file, and slows down and locks out
// those who guess.
//
// Guessing is limited two ways, in state shared by every process (under
// inetd each connection is its own process):
//
//   - per client address (an IPv6 client counts by its /64): after
//     MaxFailures failures within Window the address is locked out for
//     Lockout, and further attempts are refused without hashing anything;
//   - per user: each recent failure doubles a delay before the next check
//     of that user's password, capped at MaxUserDelay. A hard lock per user
//     would let anyone lock anyone out; a capped delay only slows guessing.
//
// An unknown user costs the same hash time as a known one (DummyVerify). A
// login refused because the user is disabled or lacks the service is told
// so only after the password was right, so the reply reveals nothing to
// someone without it. A long-running daemon caches a verified login for
// CacheTTL (keyed by a hash of the stored hash and the password, so a
// password change takes effect at once): one argon2id check costs tens of
// milliseconds.
package auth

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/passwd"
	"mailctl/lib/userdb"
)

// Errors returned by Check. Protocols map them to their replies.
var (
	ErrInvalid       = errors.New("auth: invalid credentials")
	ErrLockedOut     = errors.New("auth: too many failed logins from this address; try again later")
	ErrDisabled      = errors.New("auth: account disabled")
	ErrServiceDenied = errors.New("auth: this account may not use this service")
	ErrUnavailable   = errors.New("auth: user database unavailable")
)

// IsTemporary reports whether the client should try again later rather
// than fix its credentials.
func IsTemporary(err error) bool {
	return errors.Is(err, ErrLockedOut) || errors.Is(err, ErrUnavailable) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// Defaults for zero Options fields.
const (
	DefaultMaxFailures  = 10
	DefaultWindow       = 15 * time.Minute
	DefaultLockout      = 15 * time.Minute
	DefaultMaxUserDelay = 5 * time.Second
	DefaultCacheTTL     = time.Minute
	firstUserDelay      = 250 * time.Millisecond
)

// Options configure an Authenticator.
type Options struct {
	Users *userdb.DB
	// StateDir holds the failure counters shared across processes
	// (cfg.StateDir()/auth). Empty keeps them in memory: tests only.
	StateDir     string
	MaxFailures  int
	Window       time.Duration
	Lockout      time.Duration
	MaxUserDelay time.Duration
	// CacheTTL is how long a verified login is remembered; negative
	// disables the cache (a one-connection inetd process gains nothing).
	CacheTTL time.Duration
	Logger   *slog.Logger
	now      func() time.Time // tests
}

// Authenticator checks credentials. It is safe for concurrent use.
type Authenticator struct {
	opts     Options
	log      *slog.Logger
	failures failureStore

	mu    sync.Mutex
	cache map[[32]byte]time.Time // verified (hash, password) → expiry
}

// New returns an Authenticator.
func New(opts Options) (*Authenticator, error) {
	if opts.MaxFailures <= 0 {
		opts.MaxFailures = DefaultMaxFailures
	}
	if opts.Window <= 0 {
		opts.Window = DefaultWindow
	}
	if opts.Lockout <= 0 {
		opts.Lockout = DefaultLockout
	}
	if opts.MaxUserDelay <= 0 {
		opts.MaxUserDelay = DefaultMaxUserDelay
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = DefaultCacheTTL
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Authenticator{opts: opts, log: log, cache: map[[32]byte]time.Time{}}
	if opts.StateDir == "" {
		a.failures = newMemStore()
	} else {
		fs, err := newFileStore(opts.StateDir, opts.Window+opts.Lockout)
		if err != nil {
			return nil, err
		}
		a.failures = fs
	}
	return a, nil
}

// Check verifies username and password for service, for a client at
// remote. On success it returns the user.
func (a *Authenticator) Check(ctx context.Context, remote netip.Addr, username, password string, service userdb.Service) (userdb.User, error) {
	now := a.opts.now()
	ipKey := "ip " + clientKey(remote)
	ipRec, err := a.failures.get(ipKey)
	if err != nil {
		return userdb.User{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if a.lockedOut(ipRec, now) {
		a.log.Warn("login refused: address locked out", "remote", remote.String(), "user", username)
		return userdb.User{}, ErrLockedOut
	}

	address, perr := addr.Parse(username)
	userKey := "user " + username
	if perr == nil {
		userKey = "user " + address.String()
	}
	userRec, err := a.failures.get(userKey)
	if err != nil {
		return userdb.User{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if d := a.userDelay(userRec, now); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return userdb.User{}, ctx.Err()
		case <-t.C:
		}
	}

	var (
		u     userdb.User
		found bool
	)
	if perr == nil {
		if u, found, err = a.opts.Users.Lookup(address); err != nil {
			return userdb.User{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
	}
	ok, err := a.verify(ctx, u, found, password)
	if err != nil {
		return userdb.User{}, err
	}
	if !ok {
		a.recordFailure(ipKey, userKey, now)
		a.log.Info("login failed", "remote", remote.String(), "user", username, "service", string(service))
		return userdb.User{}, ErrInvalid
	}
	if userRec.Count > 0 {
		a.failures.reset(userKey)
	}
	if u.Disabled {
		return userdb.User{}, ErrDisabled
	}
	if !u.Services.Has(service) {
		return userdb.User{}, fmt.Errorf("%w: %s", ErrServiceDenied, service)
	}
	return u, nil
}

// verify checks the password, through the cache when it can. An unknown
// user costs a dummy check.
func (a *Authenticator) verify(ctx context.Context, u userdb.User, found bool, password string) (bool, error) {
	if !found {
		if err := passwd.DummyVerifyContext(ctx, password); err != nil {
			return false, err
		}
		return false, nil
	}
	key := sha256.Sum256([]byte(u.Hash + "\x00" + password))
	if a.opts.CacheTTL > 0 {
		a.mu.Lock()
		exp, hit := a.cache[key]
		a.mu.Unlock()
		if hit && a.opts.now().Before(exp) {
			return true, nil
		}
	}
	ok, err := passwd.VerifyContext(ctx, u.Hash, password)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		// A hash we can't read is a wrong password for the client and a
		// problem for the administrator.
		a.log.Error("unusable password hash", "user", u.Address.String(), "err", err)
		return false, nil
	}
	if ok && a.opts.CacheTTL > 0 {
		a.mu.Lock()
		if len(a.cache) > 10000 {
			clear(a.cache)
		}
		a.cache[key] = a.opts.now().Add(a.opts.CacheTTL)
		a.mu.Unlock()
	}
	return ok, nil
}

func (a *Authenticator) lockedOut(r record, now time.Time) bool {
	return r.Count >= a.opts.MaxFailures && now.Before(r.Last.Add(a.opts.Lockout))
}

// userDelay is the wait before checking a user with recent failures:
// 250 ms after the first, doubling, capped.
func (a *Authenticator) userDelay(r record, now time.Time) time.Duration {
	if r.Count == 0 || now.Sub(r.Last) > a.opts.Window {
		return 0
	}
	d := float64(firstUserDelay) * math.Pow(2, float64(r.Count-1))
	if d > float64(a.opts.MaxUserDelay) {
		return a.opts.MaxUserDelay
	}
	return time.Duration(d)
}

func (a *Authenticator) recordFailure(ipKey, userKey string, now time.Time) {
	for _, k := range []string{ipKey, userKey} {
		if err := a.failures.add(k, now, a.opts.Window); err != nil {
			a.log.Error("cannot record login failure", "err", err)
		}
	}
}

// clientKey groups addresses the way attackers hold them: one IPv4
// address, or one IPv6 /64.
func clientKey(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, err := ip.Prefix(64)
		if err == nil {
			return p.String()
		}
	}
	return ip.String()
}
