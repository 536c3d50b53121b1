package passwd

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/GehirnInc/crypt"
	_ "github.com/GehirnInc/crypt/sha256_crypt" // registers $5$
	_ "github.com/GehirnInc/crypt/sha512_crypt" // registers $6$
	"golang.org/x/crypto/bcrypt"
)

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// bcryptMaxPassword: bcrypt only reads this many bytes of the password.
const bcryptMaxPassword = 72

func verifyBcrypt(ctx context.Context, s, password string) (bool, error) {
	// $2y$NN$ + 53 characters of salt and hash.
	if len(s) != 60 || s[6] != '$' {
		return false, fmt.Errorf("%w: bcrypt length", ErrMalformed)
	}
	cost, err := strconv.Atoi(s[4:6])
	if err != nil || cost < bcrypt.MinCost || cost > limits.bcryptCost {
		return false, fmt.Errorf("%w: bcrypt cost %q", ErrMalformed, s[4:6])
	}
	if len(password) > bcryptMaxPassword {
		// It would match on its first 72 bytes alone; refuse instead.
		return false, nil
	}
	if err := acquire(ctx); err != nil {
		return false, err
	}
	defer release()
	switch err := bcrypt.CompareHashAndPassword([]byte(s), []byte(password)); err {
	case nil:
		return true, nil
	case bcrypt.ErrMismatchedHashAndPassword:
		return false, nil
	default:
		return false, fmt.Errorf("%w: bcrypt: %v", ErrMalformed, err)
	}
}

// verifySHACrypt checks $5$ and $6$ hashes.
func verifySHACrypt(ctx context.Context, s, password string) (bool, error) {
	// NewFromHash panics on a prefix it doesn't know.
	if !crypt.IsHashSupported(s) {
		return false, fmt.Errorf("%w: %q", ErrUnknownScheme, prefixOf(s))
	}
	f := strings.Split(s, "$") // "", "6", ["rounds=N",] salt, hash
	if len(f) == 5 {
		r, ok := strings.CutPrefix(f[2], "rounds=")
		n, err := strconv.Atoi(r)
		if !ok || err != nil || n < 1 || n > limits.cryptRounds {
			return false, fmt.Errorf("%w: SHA-crypt rounds %q", ErrMalformed, f[2])
		}
	} else if len(f) != 4 {
		return false, fmt.Errorf("%w: SHA-crypt fields", ErrMalformed)
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	if err := acquire(ctx); err != nil {
		return false, err
	}
	defer release()
	switch err := crypt.NewFromHash(s).Verify(s, []byte(password)); err {
	case nil:
		return true, nil
	case crypt.ErrKeyMismatch:
		return false, nil
	default:
		return false, fmt.Errorf("%w: SHA-crypt: %v", ErrMalformed, err)
	}
}

// digestScheme is a Dovecot {SHA…}/{SSHA…} scheme: base64 of
// digest(password+salt)+salt, the salt empty for the unsalted ones.
type digestScheme struct {
	new    func() hash.Hash
	size   int
	salted bool
}

var digestSchemes = map[string]digestScheme{
	"SHA":     {sha1.New, sha1.Size, false},
	"SHA1":    {sha1.New, sha1.Size, false},
	"SHA256":  {sha256.New, sha256.Size, false},
	"SHA512":  {sha512.New, sha512.Size, false},
	"SSHA":    {sha1.New, sha1.Size, true},
	"SSHA256": {sha256.New, sha256.Size, true},
	"SSHA512": {sha512.New, sha512.Size, true},
}

func verifyDigest(d digestScheme, scheme, rest, password string) (bool, error) {
	raw, err := decodeDigest(d, scheme, rest)
	if err != nil {
		return false, fmt.Errorf("%w: {%s}: %v", ErrMalformed, scheme, err)
	}
	if d.salted && len(raw) <= d.size || !d.salted && len(raw) != d.size {
		return false, fmt.Errorf("%w: {%s}: %d bytes", ErrMalformed, scheme, len(raw))
	}
	h := d.new()
	h.Write([]byte(password))
	h.Write(raw[d.size:]) // the salt
	return equal(h.Sum(nil), raw[:d.size]), nil
}

// decodeDigest decodes base64 (Dovecot's default for these schemes) or hex:
// chosen by a .HEX/.B64 suffix, else hex when an unsalted digest has exactly
// the hex length, as Dovecot does.
func decodeDigest(d digestScheme, scheme, s string) ([]byte, error) {
	switch {
	case strings.HasSuffix(scheme, ".HEX"):
		return hex.DecodeString(s)
	case strings.HasSuffix(scheme, ".B64"), strings.HasSuffix(scheme, ".BASE64"):
	case !d.salted && len(s) == 2*d.size:
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return base64.StdEncoding.DecodeString(s)
}
