package listen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// CertPair names a PEM certificate chain (leaf first) and its private key.
type CertPair struct{ Cert, Key string }

// ReloadInterval is how often, at most, a handshake re-checks the files.
const ReloadInterval = 5 * time.Second

// Certs holds the server's certificates, picks one per handshake by SNI and
// reloads a pair when its files change (a renewal by certbot or acme.sh
// needs no restart). A pair that fails to load keeps its old certificate.
type Certs struct {
	log   *slog.Logger
	every time.Duration

	mu        sync.Mutex
	lastCheck time.Time
	entries   []*certEntry
	byName    map[string][]*certEntry // lower-case DNS names, "*.example.org" for wildcards
}

type certEntry struct {
	pair CertPair
	cert *tls.Certificate
	seen [2]fileStamp // cert and key as of the last load attempt
}

// fileStamp tells whether a file changed: a rename over it changes the
// inode even when size and mtime happen to match.
type fileStamp struct {
	ino   uint64
	size  int64
	mtime time.Time
	err   string
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{err: err.Error()}
	}
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// LoadCerts loads every pair; all must load. The first pair is the default
// for clients that send no (or an unknown) server name.
func LoadCerts(pairs []CertPair, logger *slog.Logger) (*Certs, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(pairs) == 0 {
		return nil, errors.New("tls: no certificate configured")
	}
	c := &Certs{log: logger, every: ReloadInterval, lastCheck: time.Now()}
	for _, p := range pairs {
		e := &certEntry{pair: p, seen: [2]fileStamp{stampOf(p.Cert), stampOf(p.Key)}}
		cert, err := loadPair(p)
		if err != nil {
			return nil, err
		}
		e.cert = cert
		c.entries = append(c.entries, e)
	}
	c.index()
	return c, nil
}

func loadPair(p CertPair) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(p.Cert, p.Key)
	if err != nil {
		return nil, fmt.Errorf("tls: loading %s with key %s: %w", p.Cert, p.Key, err)
	}
	if cert.Leaf == nil {
		return nil, fmt.Errorf("tls: %s: no leaf certificate", p.Cert)
	}
	return &cert, nil
}

// index rebuilds byName. Caller holds mu (or owns c exclusively).
func (c *Certs) index() {
	c.byName = map[string][]*certEntry{}
	for _, e := range c.entries {
		for _, n := range e.cert.Leaf.DNSNames {
			n = normName(n)
			c.byName[n] = append(c.byName[n], e)
		}
	}
}

func normName(n string) string { return strings.ToLower(strings.TrimSuffix(n, ".")) }

// TLSConfig returns a new server config that picks certificates from c.
func (c *Certs) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: c.GetCertificate, MinVersion: tls.VersionTLS12}
}

// GetCertificate picks a certificate for a handshake: one naming the
// client's server name exactly, else a wildcard one, else the first pair;
// among several candidates, the first the client supports (e.g. ECDSA vs
// RSA).
func (c *Certs) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.maybeReload(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	if name := normName(hello.ServerName); name != "" {
		if cert := pick(hello, c.byName[name]); cert != nil {
			return cert, nil
		}
		if i := strings.IndexByte(name, '.'); i > 0 {
			if cert := pick(hello, c.byName["*"+name[i:]]); cert != nil {
				return cert, nil
			}
		}
	}
	return pick(hello, c.entries), nil
}

func pick(hello *tls.ClientHelloInfo, es []*certEntry) *tls.Certificate {
	if len(es) == 0 {
		return nil
	}
	for _, e := range es {
		if hello.SupportsCertificate(e.cert) == nil {
			return e.cert
		}
	}
	return es[0].cert
}

// Reload re-reads every pair whose files changed, now. It returns the
// errors of pairs that failed (they keep their old certificate); use it on
// SIGHUP.
func (c *Certs) Reload() error { return c.maybeReload(true) }

func (c *Certs) maybeReload(force bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !force && now.Sub(c.lastCheck) < c.every {
		return nil
	}
	c.lastCheck = now
	var errs []error
	changed := false
	for _, e := range c.entries {
		st := [2]fileStamp{stampOf(e.pair.Cert), stampOf(e.pair.Key)}
		if st == e.seen {
			continue
		}
		// Remember the stamps even on failure: a half-replaced pair is
		// retried when a file changes again, not on every handshake.
		e.seen = st
		cert, err := loadPair(e.pair)
		if err != nil {
			c.log.Error("tls: keeping the old certificate", "cert", e.pair.Cert, "err", err)
			errs = append(errs, err)
			continue
		}
		e.cert = cert
		changed = true
		c.log.Info("tls: certificate reloaded", "cert", e.pair.Cert, "names", cert.Leaf.DNSNames, "not_after", cert.Leaf.NotAfter)
		if now.After(cert.Leaf.NotAfter) {
			c.log.Warn("tls: certificate has expired", "cert", e.pair.Cert, "not_after", cert.Leaf.NotAfter)
		}
	}
	if changed {
		c.index()
	}
	return errors.Join(errs...)
}
