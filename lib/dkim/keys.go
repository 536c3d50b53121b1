package dkim

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"mailctl/lib/addr"
)

// Algorithms Keygen makes and Sign uses.
const (
	RSA     = "rsa"
	Ed25519 = "ed25519"
)

// keySuffix ends every key file's name.
const keySuffix = ".key"

var selectorRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Key is one signing key of a domain.
type Key struct {
	Domain    string
	Selector  string
	Algorithm string // RSA or Ed25519
	Path      string
	signer    crypto.Signer
}

// Record is the TXT record that publishes the key's public half.
func (k *Key) Record() string {
	rec, _ := record(k.signer.Public()) // the key was checked when loaded
	return rec
}

// Name is the DNS name the record is published at.
func (k *Key) Name() string { return k.Selector + "._domainkey." + k.Domain }

// Keys are the signing keys in one directory. It is safe for concurrent
// use.
type Keys struct {
	dir string
	now func() time.Time

	mu       sync.Mutex
	stamp    dirStamp
	loadedAt time.Time
	byDomain map[string][]*Key
	broken   map[string]error // domain → why one of its key files is unusable
}

type dirStamp struct {
	exists bool
	ino    uint64
	mtime  time.Time
}

// Open reads the keys in dir. A missing directory is no keys, not an
// error (nothing is signed until a key is made); an unusable key file is
// an error that names it.
func Open(dir string) (*Keys, error) {
	ks := &Keys{dir: dir, now: time.Now}
	if err := ks.reload(); err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range slices.Sorted(maps.Keys(ks.broken)) {
		errs = append(errs, ks.broken[d])
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ks, nil
}

// Dir is the key directory.
func (ks *Keys) Dir() string { return ks.dir }

// For returns the keys of domain, sorted by selector. The error is set
// when a key file of the domain could not be used; the keys that could
// are still returned.
func (ks *Keys) For(domain string) ([]*Key, error) {
	d, err := addr.ParseDomain(domain)
	if err != nil {
		return nil, fmt.Errorf("dkim: %w", err)
	}
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.refresh(); err != nil {
		return nil, err
	}
	return slices.Clone(ks.byDomain[d]), ks.broken[d]
}

// Domains lists the domains that have at least one key.
func (ks *Keys) Domains() ([]string, error) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	if err := ks.refresh(); err != nil {
		return nil, err
	}
	var out []string
	for d := range ks.byDomain {
		out = append(out, d)
	}
	slices.Sort(out)
	return out, nil
}

// refresh re-reads the directory when it may have changed. ks.mu is held.
func (ks *Keys) refresh() error {
	st, err := stampOf(ks.dir)
	if err != nil {
		return err
	}
	// A change within the same coarse timestamp tick as the last read
	// would go unnoticed: re-read until the directory is older than that.
	if st == ks.stamp && ks.loadedAt.Sub(st.mtime) > 2*time.Second {
		return nil
	}
	return ks.reload()
}

func stampOf(dir string) (dirStamp, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return dirStamp{}, nil
	}
	if err != nil {
		return dirStamp{}, fmt.Errorf("dkim: %w", err)
	}
	if !fi.IsDir() {
		return dirStamp{}, fmt.Errorf("dkim: %s is not a directory", dir)
	}
	st := dirStamp{exists: true, mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st, nil
}

// reload reads every key file. ks.mu is held (or ks is not shared yet).
func (ks *Keys) reload() error {
	now := ks.now()
	st, err := stampOf(ks.dir)
	if err != nil {
		return err
	}
	byDomain := map[string][]*Key{}
	broken := map[string]error{}
	if st.exists {
		ents, err := os.ReadDir(ks.dir)
		if err != nil {
			return fmt.Errorf("dkim: %w", err)
		}
		for _, e := range ents {
			domain, selector, ok := parseKeyName(e.Name())
			if !ok || e.IsDir() {
				continue
			}
			k, err := loadKey(filepath.Join(ks.dir, e.Name()), domain, selector)
			if err != nil {
				broken[domain] = errors.Join(broken[domain], err)
				continue
			}
			byDomain[domain] = append(byDomain[domain], k) // ReadDir sorts by name: by selector
		}
	}
	ks.stamp, ks.loadedAt, ks.byDomain, ks.broken = st, now, byDomain, broken
	return nil
}

// parseKeyName splits "<domain>.<selector>.key".
func parseKeyName(name string) (domain, selector string, ok bool) {
	base, ok := strings.CutSuffix(name, keySuffix)
	if !ok {
		return "", "", false
	}
	i := strings.LastIndexByte(base, '.')
	if i <= 0 {
		return "", "", false
	}
	domain, selector = base[:i], base[i+1:]
	if !selectorRE.MatchString(selector) {
		return "", "", false
	}
	d, err := addr.ParseDomain(domain)
	if err != nil || d != domain {
		return "", "", false
	}
	return domain, selector, true
}

// KeyPath is the file of domain's key with that selector.
func KeyPath(dir, domain, selector string) string {
	return filepath.Join(dir, domain+"."+selector+keySuffix)
}

// loadKey reads and checks one key file.
func loadKey(path, domain, selector string) (*Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("dkim: key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("dkim: key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("dkim: key %s: mode %#o: others may read it; it must be 0600", path, fi.Mode().Perm())
	}
	data, err := readLimited(f, 64<<10)
	if err != nil {
		return nil, fmt.Errorf("dkim: key %s: %w", path, err)
	}
	signer, algo, err := parsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("dkim: key %s: %w", path, err)
	}
	return &Key{Domain: domain, Selector: selector, Algorithm: algo, Path: path, signer: signer}, nil
}

func readLimited(f *os.File, max int64) ([]byte, error) {
	buf := make([]byte, max+1)
	n, err := f.ReadAt(buf, 0)
	if n > int(max) {
		return nil, errors.New("file too large for a key")
	}
	if err != nil && n == 0 {
		return nil, err
	}
	return buf[:n], nil
}

// parsePrivateKey reads a PEM private key (PKCS #8; PKCS #1 RSA also
// accepted, as openssl genrsa writes it).
func parsePrivateKey(data []byte) (crypto.Signer, string, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, "", errors.New("no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, "", fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, "", err
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, "", fmt.Errorf("RSA key of %d bits: verifiers ignore keys under 1024 bits (RFC 8301)", k.N.BitLen())
		}
		return k, RSA, nil
	case ed25519.PrivateKey:
		return k, Ed25519, nil
	}
	return nil, "", fmt.Errorf("unsupported key type %T (want RSA or Ed25519)", key)
}

// record renders the TXT record of a public key.
func record(pub crypto.PublicKey) (string, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(p)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(p), nil
	}
	return "", fmt.Errorf("dkim: unsupported public key %T", pub)
}

// TXTStrings splits a TXT record into the character-strings of at most 255
// bytes that DNS carries (RFC 1035 §3.3.14); resolvers join them back.
func TXTStrings(rec string) []string {
	var out []string
	for len(rec) > 255 {
		out = append(out, rec[:255])
		rec = rec[255:]
	}
	return append(out, rec)
}
