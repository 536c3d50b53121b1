// Package addr parses and normalises mail addresses.
//
// An Address is kept in canonical form: the local part lower-cased (mailctl
// treats local parts case-insensitively, as every mainstream server does),
// the domain lower-cased and in its ASCII (A-label, IDNA) form, without a
// trailing dot. Canonical strings are what the core files store and what
// lookups compare, so "Bob@Example.ORG" and "bob@example.org" are one user.
//
// Local parts may be dot-atoms or quoted strings (RFC 5321 §4.1.2); a quoted
// local part may itself contain "@", so the address is split at the last
// "@". UTF-8 local parts are allowed (RFC 6531). Control characters, NUL and
// "/" are never allowed, so a canonical local part is always safe to use as
// one path element once PathSafe agrees.
package addr

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits from RFC 5321 §4.5.3.1.
const (
	MaxLocalLen  = 64
	MaxDomainLen = 255
	MaxPathLen   = 256
)

// Address is a parsed, canonical mail address.
type Address struct {
	Local  string // lower-cased, unquoted
	Domain string // lower-cased A-label form
}

// String returns local@domain, quoting the local part when it is not a
// dot-atom.
func (a Address) String() string {
	if a.Local == "" && a.Domain == "" {
		return ""
	}
	l := a.Local
	if !isDotAtom(l) {
		l = quote(l)
	}
	return l + "@" + a.Domain
}

// IsZero reports whether a is the null address (the "<>" reverse path).
func (a Address) IsZero() bool { return a.Local == "" && a.Domain == "" }

var (
	ErrEmpty      = errors.New("empty address")
	ErrNoAt       = errors.New("missing @")
	ErrBadLocal   = errors.New("invalid local part")
	ErrBadDomain  = errors.New("invalid domain")
	ErrTooLong    = errors.New("address too long")
	ErrBadUnicode = errors.New("invalid UTF-8")
)

var idnaProfile = idna.New(
	idna.MapForLookup(),
	idna.Transitional(false),
	idna.StrictDomainName(true),
	idna.ValidateLabels(true),
	idna.VerifyDNSLength(true),
	idna.BidiRule(),
)

// Parse parses s (optionally in angle brackets) into a canonical Address.
// The empty reverse path "<>" is not accepted here; see ParsePath.
func Parse(s string) (Address, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return Address{}, ErrEmpty
	}
	if len(s) > MaxPathLen {
		return Address{}, fmt.Errorf("%w: %d bytes", ErrTooLong, len(s))
	}
	if !utf8.ValidString(s) {
		return Address{}, ErrBadUnicode
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return Address{}, fmt.Errorf("%q: %w", s, ErrNoAt)
	}
	local, err := parseLocal(s[:at])
	if err != nil {
		return Address{}, fmt.Errorf("%q: %w", s, err)
	}
	domain, err := ParseDomain(s[at+1:])
	if err != nil {
		return Address{}, fmt.Errorf("%q: %w", s, err)
	}
	return Address{Local: local, Domain: domain}, nil
}

// ParsePath parses an SMTP reverse path, where "<>" (or "") is the null
// sender and yields the zero Address.
func ParsePath(s string) (Address, error) {
	t := strings.TrimSpace(s)
	if t == "" || t == "<>" {
		return Address{}, nil
	}
	return Parse(t)
}

// MustParse is Parse for tests and constants; it panics on error.
func MustParse(s string) Address {
	a, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return a
}

// ParseDomain validates a domain and returns it lower-cased in A-label form.
// Address literals ([192.0.2.1]) are not local domains and are refused.
func ParseDomain(d string) (string, error) {
	d = strings.TrimSuffix(strings.TrimSpace(d), ".")
	if d == "" {
		return "", fmt.Errorf("%w: empty", ErrBadDomain)
	}
	if len(d) > MaxDomainLen {
		return "", fmt.Errorf("%w: too long", ErrBadDomain)
	}
	if strings.HasPrefix(d, "[") {
		return "", fmt.Errorf("%w: address literals are not supported", ErrBadDomain)
	}
	ascii, err := idnaProfile.ToASCII(strings.ToLower(d))
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadDomain, err)
	}
	ascii = strings.ToLower(ascii)
	for _, label := range strings.Split(ascii, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "", fmt.Errorf("%w: bad label %q", ErrBadDomain, label)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "", fmt.Errorf("%w: bad character %q", ErrBadDomain, c)
			}
		}
	}
	return ascii, nil
}

// DomainUnicode returns the U-label (display) form of a canonical domain.
func DomainUnicode(d string) string {
	u, err := idna.Display.ToUnicode(d)
	if err != nil {
		return d
	}
	return u
}

func parseLocal(l string) (string, error) {
	if l == "" {
		return "", fmt.Errorf("%w: empty", ErrBadLocal)
	}
	if strings.HasPrefix(l, `"`) {
		u, err := unquote(l)
		if err != nil {
			return "", err
		}
		l = u
	} else if !isDotAtom(l) {
		return "", fmt.Errorf("%w: %q is not a dot-atom", ErrBadLocal, l)
	}
	if len(l) > MaxLocalLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrBadLocal, MaxLocalLen)
	}
	for _, r := range l {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return "", fmt.Errorf("%w: character %q not allowed", ErrBadLocal, r)
		}
	}
	return strings.ToLower(l), nil
}

// atext of RFC 5322 §3.2.3, plus any non-ASCII rune (RFC 6532).
func isAtext(r rune) bool {
	if r >= 0x80 {
		return true
	}
	if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
		return true
	}
	return strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for _, r := range s {
		if r != '.' && !isAtext(r) {
			return false
		}
	}
	return true
}

func unquote(s string) (string, error) {
	if len(s) < 2 || s[len(s)-1] != '"' {
		return "", fmt.Errorf("%w: unterminated quoted string", ErrBadLocal)
	}
	var b strings.Builder
	body := s[1 : len(s)-1]
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\\':
			i++
			if i >= len(body) {
				return "", fmt.Errorf("%w: trailing backslash", ErrBadLocal)
			}
			b.WriteByte(body[i])
		case c == '"':
			return "", fmt.Errorf("%w: stray quote", ErrBadLocal)
		default:
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "", fmt.Errorf("%w: empty", ErrBadLocal)
	}
	return b.String(), nil
}

func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// SplitTag splits a subaddress: "bob+lists" with separator "+" gives
// ("bob", "lists"). A local part that starts with the separator, or has
// nothing before it, is not a subaddress.
func SplitTag(local, sep string) (base, tag string) {
	if sep == "" {
		return local, ""
	}
	i := strings.Index(local, sep)
	if i <= 0 {
		return local, ""
	}
	return local[:i], local[i+len(sep):]
}

// PathSafe reports whether a canonical local part or domain can be used as
// a single path element: not empty, not "." or "..", no leading dot (that
// would be a Maildir++ folder or a hidden file), no "/" or NUL.
func PathSafe(s string) bool {
	if s == "" || s == "." || s == ".." || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] == '/' || s[i] == 0 || s[i] < 0x20 {
			return false
		}
	}
	return true
}
