package passwd

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are the argon2id parameters of every new hash; see the package
// comment for why these values. Changing them makes NeedsRehash true for
// every stored hash.
var Params = struct {
	Memory  uint32 // KiB
	Time    uint32 // passes over memory
	Threads uint8
}{
	Memory:  64 * 1024,
	Time:    1,
	Threads: 1,
}

const (
	saltLen = 16
	keyLen  = 32
)

// ErrUnknownScheme: the stored hash is of a kind this package can't check.
var ErrUnknownScheme = errors.New("passwd: unknown password scheme")

// ErrMalformed: the stored hash names a known scheme but can't be parsed,
// or asks for more work than the limits allow.
var ErrMalformed = errors.New("passwd: malformed password hash")

var b64 = base64.RawStdEncoding

// Hash returns a new argon2id hash of password with a random salt.
func Hash(password string) (string, error) {
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("passwd: password longer than %d bytes", MaxPasswordLen)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("passwd: salt: %w", err)
	}
	if err := acquire(context.Background()); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, Params.Time, Params.Memory, Params.Threads, keyLen)
	release()
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, Params.Memory, Params.Time, Params.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// argonHash is a parsed PHC argon2 string.
type argonHash struct {
	variant string // "argon2id" or "argon2i"
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseArgon2 parses $argon2id$v=19$m=M,t=T,p=P$salt$key (or argon2i).
func parseArgon2(s string) (*argonHash, error) {
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" {
		return nil, fmt.Errorf("%w: argon2: want 5 $-separated fields", ErrMalformed)
	}
	h := &argonHash{variant: f[1]}
	if h.variant != "argon2id" && h.variant != "argon2i" {
		return nil, fmt.Errorf("%w: argon2 variant %q", ErrUnknownScheme, h.variant)
	}
	if f[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: argon2 version %q (only v=19)", ErrMalformed, f[2])
	}
	p := strings.Split(f[3], ",")
	if len(p) != 3 {
		return nil, fmt.Errorf("%w: argon2 parameters %q", ErrMalformed, f[3])
	}
	m, err1 := argonParam(p[0], "m=", 32)
	t, err2 := argonParam(p[1], "t=", 32)
	par, err3 := argonParam(p[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: argon2 parameters %q", ErrMalformed, f[3])
	}
	h.memory, h.time, h.threads = uint32(m), uint32(t), uint8(par)
	if h.time < 1 || h.threads < 1 || h.memory < 8*uint32(h.threads) {
		return nil, fmt.Errorf("%w: argon2 parameters %q below the minimum", ErrMalformed, f[3])
	}
	if h.memory > limits.argonMemoryKiB || h.time > limits.argonTime {
		return nil, fmt.Errorf("%w: argon2 parameters %q above the limit", ErrMalformed, f[3])
	}
	var err error
	if h.salt, err = b64.DecodeString(f[4]); err != nil || len(h.salt) < 8 || len(h.salt) > 1024 {
		return nil, fmt.Errorf("%w: argon2 salt", ErrMalformed)
	}
	if h.key, err = b64.DecodeString(f[5]); err != nil || len(h.key) < 4 || len(h.key) > 1024 {
		return nil, fmt.Errorf("%w: argon2 key", ErrMalformed)
	}
	return h, nil
}

// argonParam parses one "x=123" with the given bit size.
func argonParam(s, prefix string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, prefix)
	if !ok || v == "" || (len(v) > 1 && v[0] == '0') {
		return 0, ErrMalformed
	}
	return strconv.ParseUint(v, 10, bits)
}

// verifyArgon2 recomputes the key under a semaphore slot.
func verifyArgon2(ctx context.Context, s, password string) (bool, error) {
	h, err := parseArgon2(s)
	if err != nil {
		return false, err
	}
	if len(password) > MaxPasswordLen {
		return false, nil
	}
	if err := acquire(ctx); err != nil {
		return false, err
	}
	defer release()
	var key []byte
	if h.variant == "argon2id" {
		key = argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	} else {
		key = argon2.Key([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// dummySalt is any fixed salt: DummyVerify's result is thrown away.
var dummySalt = []byte("mailctl-dummy-sa")

// DummyVerify spends what checking password against a current hash would
// (same argon2id parameters, same semaphore), and answers nothing: call it
// for an unknown user so the reply takes as long as for a known one.
func DummyVerify(password string) {
	_ = DummyVerifyContext(context.Background(), password)
}

// DummyVerifyContext is DummyVerify that stops waiting for a hashing slot
// when ctx is done (the hash itself, once started, runs to the end).
func DummyVerifyContext(ctx context.Context, password string) error {
	if len(password) > MaxPasswordLen {
		return nil // Verify doesn't hash these either
	}
	if err := acquire(ctx); err != nil {
		return err
	}
	defer release()
	argon2.IDKey([]byte(password), dummySalt, Params.Time, Params.Memory, Params.Threads, keyLen)
	return nil
}

// NeedsRehash reports whether hash should be replaced by a fresh Hash of
// the password after a successful login: true for anything but argon2id
// with the current Params, salt and key lengths (a malformed hash too).
func NeedsRehash(hash string) bool {
	s := hash
	if scheme, rest, ok := dovecotScheme(hash); ok {
		if scheme != "ARGON2ID" {
			return true
		}
		s = rest
	}
	h, err := parseArgon2(s)
	if err != nil {
		return true
	}
	return h.variant != "argon2id" || h.memory != Params.Memory || h.time != Params.Time ||
		h.threads != Params.Threads || len(h.salt) != saltLen || len(h.key) != keyLen
}
