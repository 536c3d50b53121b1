package passwd

import (
	"context"
	"fmt"
	"strings"
)

// Verify reports whether password matches hash. A wrong password is
// (false, nil); a hash of an unknown scheme (ErrUnknownScheme) or one that
// can't be parsed (ErrMalformed) is an error.
func Verify(hash, password string) (bool, error) {
	return VerifyContext(context.Background(), hash, password)
}

// VerifyContext is Verify that gives up waiting for a hashing slot when
// ctx is done.
func VerifyContext(ctx context.Context, hash, password string) (bool, error) {
	if scheme, rest, ok := dovecotScheme(hash); ok {
		return verifyDovecot(ctx, scheme, rest, password)
	}
	return verifyCrypt(ctx, hash, password)
}

// dovecotScheme splits "{SCHEME}rest" into the upper-cased scheme and rest.
func dovecotScheme(hash string) (scheme, rest string, ok bool) {
	if !strings.HasPrefix(hash, "{") {
		return "", "", false
	}
	end := strings.IndexByte(hash, '}')
	if end < 0 {
		return "", "", false
	}
	return strings.ToUpper(hash[1:end]), hash[end+1:], true
}

// cryptKind names the crypt(3)-style family of s by its prefix, or "".
func cryptKind(s string) string {
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		return "ARGON2ID"
	case strings.HasPrefix(s, "$argon2i$"):
		return "ARGON2I"
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		return "BLF-CRYPT"
	case strings.HasPrefix(s, "$6$"):
		return "SHA512-CRYPT"
	case strings.HasPrefix(s, "$5$"):
		return "SHA256-CRYPT"
	}
	return ""
}

// verifyCrypt checks a bare crypt(3)-style or PHC string.
func verifyCrypt(ctx context.Context, s, password string) (bool, error) {
	kind := cryptKind(s)
	if kind == "" {
		return false, fmt.Errorf("%w: %q", ErrUnknownScheme, prefixOf(s))
	}
	switch kind {
	case "ARGON2ID", "ARGON2I":
		return verifyArgon2(ctx, s, password)
	case "BLF-CRYPT":
		return verifyBcrypt(ctx, s, password)
	default:
		return verifySHACrypt(ctx, s, password)
	}
}

// verifyDovecot checks a hash that had a {SCHEME} prefix.
func verifyDovecot(ctx context.Context, scheme, rest, password string) (bool, error) {
	switch scheme {
	case "CRYPT":
		return verifyCrypt(ctx, rest, password)
	case "ARGON2ID", "ARGON2I", "BLF-CRYPT", "SHA512-CRYPT", "SHA256-CRYPT":
		if k := cryptKind(rest); k != scheme {
			return false, fmt.Errorf("%w: {%s} followed by %q", ErrMalformed, scheme, prefixOf(rest))
		}
		return verifyCrypt(ctx, rest, password)
	case "PLAIN", "CLEARTEXT", "CLEAR":
		return equal([]byte(rest), []byte(password)), nil
	}
	if d, ok := digestSchemes[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(scheme, ".HEX"), ".B64"), ".BASE64")]; ok {
		return verifyDigest(d, scheme, rest, password)
	}
	return false, fmt.Errorf("%w: {%s}", ErrUnknownScheme, scheme)
}

// prefixOf returns the scheme-ish start of s for error messages, never the
// secret part.
func prefixOf(s string) string {
	if len(s) > 4 {
		s = s[:4]
	}
	return s + "…"
}
