package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/safeio"
)

// RSABits is the size of the RSA keys Keygen makes: 2048, what RFC 8301
// asks signers for and what every DNS provider can publish.
const RSABits = 2048

// ErrKeyExists: Keygen refuses to replace a key (the published record
// would stop matching).
var ErrKeyExists = errors.New("dkim: key exists")

// DefaultSelector is the selector Keygen's callers use when none is given:
// the algorithm and the month, e.g. "rsa-202501", so the next rotation
// gets a new name.
func DefaultSelector(algo string, now time.Time) string {
	return algo + "-" + now.UTC().Format("200601")
}

// Keygen makes a key for domain with selector (algo RSA or Ed25519) in
// dir, as <domain>.<selector>.key with mode 0600, creating dir (0700)
// when missing, and returns the TXT record to publish at
// <selector>._domainkey.<domain>. An existing key file is never replaced
// (ErrKeyExists).
func Keygen(dir, domain, selector, algo string) (string, error) {
	d, err := addr.ParseDomain(domain)
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	if !selectorRE.MatchString(selector) {
		return "", fmt.Errorf("dkim: selector %q: want one DNS label of lower-case letters, digits and hyphens", selector)
	}
	path := KeyPath(dir, d, selector)
	if _, err := os.Lstat(path); err == nil {
		return "", fmt.Errorf("%w: %s", ErrKeyExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("dkim: %w", err)
	}
	var key crypto.Signer
	switch algo {
	case RSA:
		key, err = rsa.GenerateKey(rand.Reader, RSABits)
	case Ed25519:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return "", fmt.Errorf("dkim: algorithm %q: want %q or %q", algo, Ed25519, RSA)
	}
	if err != nil {
		return "", fmt.Errorf("dkim: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	rec, err := record(key.Public())
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("dkim: %w", err)
	}
	if err := safeio.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("dkim: write key: %w", err)
	}
	return rec, nil
}
