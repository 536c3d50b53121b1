// Package srs implements the Sender Rewriting Scheme (SRS) of Shevek's
// specification and libsrs2, as Postfix's postsrsd uses it, so that mail we
// forward to a remote alias target keeps passing SPF at the next hop: the
// envelope sender is rewritten into our own domain, and a bounce sent back
// to the rewritten address can be reversed to the original sender, but
// only if we made it (hash) and recently (timestamp).
//
// # Forms
//
//	local@origdomain                      ->  SRS0=HHHH=TT=origdomain=local@ourdomain
//	SRS0=HHH=TT=orig=local@hop1           ->  SRS1=HHHH=hop1==HHH=TT=orig=local@ourdomain
//	SRS1=HHH=hop1==HHH=TT=orig=local@hop2 ->  SRS1=HHHH=hop1==HHH=TT=orig=local@ourdomain
//
// Reversing an SRS0 address gives local@origdomain; reversing an SRS1
// address gives the SRS0 address at hop1, which hop1 reverses in turn. The
// separator after "SRS0"/"SRS1" may be "=", "+" or "-" on input; we write
// "=". The prefixes are matched without regard to case.
//
// TT is the day of issue (days since 1970 modulo 1024) in two base32
// characters; an SRS0 address is valid for 21 days. HHHH is the first four
// base32 characters of HMAC-SHA1(secret, fields), where fields are the
// lower-cased timestamp, domain and local part (SRS0) or hop and rest
// (SRS1). Two deliberate departures from libsrs2, neither visible to other
// hosts, since only we ever check our own hashes:
//
//   - The hash is base32 rather than base64. Base64 yields "/", which
//     lib/addr refuses in a local part (it would become a path), and "+",
//     our subaddress separator; and mailctl keeps every address in lower
//     case, which base32 survives intact. Four characters carry 20 bits.
//   - The HMAC input separates the fields with a NUL byte, so that moving
//     the boundary between domain and local part ("example.co"+"mx" versus
//     "example.com"+"x") cannot reuse a valid hash.
//
// Addresses are written in lower case, like every canonical addr.Address;
// nothing is lost, because hash and timestamp are checked without regard
// to case. A rewritten local part longer than 64 bytes (RFC 5321) is not
// made: Forward returns ErrTooLong and the caller forwards without
// rewriting.
package srs

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"time"

	"mailctl/lib/addr"
)

// Errors.
var (
	ErrNotSRS    = errors.New("srs: not an SRS address")
	ErrMalformed = errors.New("srs: malformed SRS address")
	ErrBadHash   = errors.New("srs: hash does not match")
	ErrExpired   = errors.New("srs: timestamp expired")
	ErrTooLong   = errors.New("srs: rewritten address would be too long")
	ErrNoSecret  = errors.New("srs: no secret")
)

const (
	hashLen   = 4
	maxAge    = 21   // days an SRS0 address stays valid
	timeSlots = 1024 // the timestamp counts days modulo this
	day       = 24 * time.Hour
)

// b32 is the base32 alphabet of RFC 4648, used for hash and timestamp.
const b32 = "abcdefghijklmnopqrstuvwxyz234567"

var hashEnc = base32.NewEncoding(strings.ToUpper(b32)).WithPadding(base32.NoPadding)

// SRS rewrites senders into one domain with one secret. It is safe for
// concurrent use.
type SRS struct {
	secret []byte
	domain string
	now    func() time.Time // tests move the clock
}

// New returns a rewriter for domain (our rewriting domain: the configured
// hostname or first local domain). The secret should come from
// LoadOrCreateSecret; Forward and Reverse fail with ErrNoSecret without one.
func New(secret []byte, domain string) *SRS {
	d, err := addr.ParseDomain(domain)
	if err != nil {
		d = strings.ToLower(strings.TrimSuffix(domain, "."))
	}
	return &SRS{secret: append([]byte(nil), secret...), domain: d, now: time.Now}
}

// Domain returns the rewriting domain.
func (s *SRS) Domain() string { return s.domain }

// IsSRS reports whether a looks like an SRS address (SRS0 or SRS1, any
// case, any separator); it does not check the hash.
func IsSRS(a addr.Address) bool {
	_, ok := prefix(a.Local)
	return ok
}

// prefix returns '0' or '1' for a local part starting with SRS0 or SRS1
// and a separator.
func prefix(local string) (byte, bool) {
	if len(local) < 5 || !strings.EqualFold(local[:3], "srs") || !strings.ContainsRune("=+-", rune(local[4])) {
		return 0, false
	}
	if local[3] == '0' || local[3] == '1' {
		return local[3], true
	}
	return 0, false
}

// Forward rewrites the envelope sender of a message we forward. The null
// sender stays null, and a sender already in our domain is returned
// unchanged. ErrTooLong means the sender is to be used as it is.
func (s *SRS) Forward(sender addr.Address) (addr.Address, error) {
	if sender.IsZero() || sender.Domain == s.domain {
		return sender, nil
	}
	if len(s.secret) == 0 {
		return addr.Address{}, ErrNoSecret
	}
	var local string
	kind, _ := prefix(sender.Local)
	switch kind {
	case '0':
		// One hop's SRS0: wrap it, keeping its own hash for that hop.
		rest := sender.Local[4:]
		local = "srs1=" + s.hash(sender.Domain, rest) + "=" + sender.Domain + "=" + rest
	case '1':
		if hop, rest, ok := splitSRS1(sender.Local); ok {
			// Already a chain: only the outer hash changes to ours.
			local = "srs1=" + s.hash(hop, rest) + "=" + hop + "=" + rest
			break
		}
		fallthrough // "srs1-list@..." is someone's real name
	default:
		stamp := timestamp(s.now())
		local = "srs0=" + s.hash(stamp, sender.Domain, sender.Local) + "=" + stamp + "=" + sender.Domain + "=" + sender.Local
	}
	if len(local) > addr.MaxLocalLen {
		return addr.Address{}, fmt.Errorf("%w: %d bytes for %s", ErrTooLong, len(local), sender)
	}
	out, err := addr.Parse(addr.Address{Local: local, Domain: s.domain}.String())
	if err != nil {
		return addr.Address{}, fmt.Errorf("srs: rewriting %s: %w", sender, err)
	}
	return out, nil
}

// Reverse turns an SRS address we made back into the address it stands
// for: the original sender for SRS0, the previous hop's SRS0 address for
// SRS1. It checks the hash (ErrBadHash) and, for SRS0, the timestamp
// (ErrExpired). A non-SRS address gives ErrNotSRS.
func (s *SRS) Reverse(a addr.Address) (addr.Address, error) {
	kind, ok := prefix(a.Local)
	if !ok {
		return addr.Address{}, ErrNotSRS
	}
	if len(s.secret) == 0 {
		return addr.Address{}, ErrNoSecret
	}
	var out addr.Address
	switch kind {
	case '0':
		f := strings.SplitN(a.Local[5:], "=", 4)
		if len(f) != 4 || f[2] == "" || f[3] == "" {
			return addr.Address{}, fmt.Errorf("%w: %s", ErrMalformed, a)
		}
		hash, stamp, host, user := f[0], f[1], f[2], f[3]
		if !s.checkHash(hash, stamp, host, user) {
			return addr.Address{}, fmt.Errorf("%w: %s", ErrBadHash, a)
		}
		if err := s.checkStamp(stamp); err != nil {
			return addr.Address{}, fmt.Errorf("%w: %s", err, a)
		}
		out = addr.Address{Local: user, Domain: host}
	case '1':
		hop, rest, ok := splitSRS1(a.Local)
		if !ok {
			return addr.Address{}, fmt.Errorf("%w: %s", ErrMalformed, a)
		}
		hash, _, _ := strings.Cut(a.Local[5:], "=")
		if !s.checkHash(hash, hop, rest) {
			return addr.Address{}, fmt.Errorf("%w: %s", ErrBadHash, a)
		}
		out = addr.Address{Local: "srs0" + rest, Domain: hop}
	}
	// The fields came from outside: only a valid address leaves here.
	r, err := addr.Parse(out.String())
	if err != nil {
		return addr.Address{}, fmt.Errorf("%w: %s: %v", ErrMalformed, a, err)
	}
	return r, nil
}

// splitSRS1 splits "SRS1<sep>HASH=hop=rest" into hop and rest (rest keeps
// its leading separator, as libsrs2 does: "SRS1=H=hop==HHH=TT=d=l" has
// rest "=HHH=TT=d=l").
func splitSRS1(local string) (hop, rest string, ok bool) {
	_, after, ok := strings.Cut(local[5:], "=") // skip the hash
	if !ok {
		return "", "", false
	}
	hop, rest, ok = strings.Cut(after, "=")
	if !ok || hop == "" || rest == "" {
		return "", "", false
	}
	hop = strings.ToLower(hop)
	if d, err := addr.ParseDomain(hop); err != nil || d != hop {
		return "", "", false // only a canonical domain, so the hash covers what is used
	}
	return hop, rest, true
}

// hash is the first hashLen base32 characters of the HMAC of the
// lower-cased fields, separated by NUL.
func (s *SRS) hash(fields ...string) string {
	m := hmac.New(sha1.New, s.secret)
	for i, f := range fields {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(strings.ToLower(f)))
	}
	return strings.ToLower(hashEnc.EncodeToString(m.Sum(nil))[:hashLen])
}

func (s *SRS) checkHash(got string, fields ...string) bool {
	if len(got) != hashLen {
		return false
	}
	want := s.hash(fields...)
	return hmac.Equal([]byte(strings.ToLower(got)), []byte(want))
}

// timestamp returns the day of t in two base32 characters.
func timestamp(t time.Time) string {
	d := t.Unix() / int64(day/time.Second) % timeSlots
	return string([]byte{b32[d>>5&31], b32[d&31]})
}

// checkStamp accepts a timestamp no older than maxAge days. A stamp from
// the future counts as very old, as in libsrs2.
func (s *SRS) checkStamp(stamp string) error {
	if len(stamp) != 2 {
		return ErrMalformed
	}
	then := 0
	for _, c := range strings.ToLower(stamp) {
		i := strings.IndexRune(b32, c)
		if i < 0 {
			return ErrMalformed
		}
		then = then<<5 | i
	}
	now := int(s.now().Unix() / int64(day/time.Second) % timeSlots)
	if (now-then+timeSlots)%timeSlots > maxAge {
		return ErrExpired
	}
	return nil
}
