package listen

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailctl/lib/testenv"
)

// serveCerts serves TLS from certs on loopback and returns the address.
func serveCerts(t *testing.T, certs *Certs) string {
	t.Helper()
	ls, err := Open(testCtx(t), Options{ListenTLS: []string{"127.0.0.1:0"}, TLS: certs.TLSConfig()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeAll(ls) })
	go func() {
		for {
			c, err := ls[0].Accept()
			if err != nil {
				return
			}
			go serveEcho(c, ls[0])
		}
	}()
	return ls[0].Addr().String()
}

// peerLeaf handshakes with serverName and returns the certificate served.
func peerLeaf(t *testing.T, addr, serverName string) *x509.Certificate {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake with SNI %q: %v", serverName, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func TestCertsSNI(t *testing.T) {
	dir := t.TempDir()
	aCert, aKey, _ := genCert(t, dir, "a", "mail.a.example", "a.example")
	bCert, bKey, _ := genCert(t, dir, "b", "*.b.example")
	cCert, cKey, _ := genCert(t, dir, "c", "exact.b.example")
	certs, err := LoadCerts([]CertPair{{aCert, aKey}, {bCert, bKey}, {cCert, cKey}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveCerts(t, certs)
	tests := []struct {
		sni  string
		want string // certificate file served
	}{
		{"mail.a.example", aCert},
		{"A.EXAMPLE", aCert},
		{"imap.b.example", bCert},      // wildcard
		{"exact.b.example", cCert},     // exact beats wildcard
		{"deep.imap.b.example", aCert}, // a wildcard covers one label only
		{"unknown.example", aCert},     // the first pair
		{"", aCert},                    // no SNI
		{"b.example", aCert},           // the wildcard's parent is not covered
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			got := peerLeaf(t, addr, tt.sni)
			if want := leafOf(t, tt.want); !got.Equal(want) {
				t.Errorf("SNI %q got certificate for %v, want %v", tt.sni, got.DNSNames, want.DNSNames)
			}
		})
	}
}

// replace renames src over dst, as certbot and acme.sh deployments do.
func replace(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.Rename(src, dst); err != nil {
		t.Fatal(err)
	}
}

func TestCertsReload(t *testing.T) {
	dir := t.TempDir()
	cert, key, _ := genCert(t, dir, "live", "mail.example")
	var logs testenv.Buffer
	certs, err := LoadCerts([]CertPair{{cert, key}}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	certs.every = time.Hour // only explicit checks below, until the last step
	addr := serveCerts(t, certs)
	serial := func() *big.Int { return peerLeaf(t, addr, "mail.example").SerialNumber }

	first := leafOf(t, cert)
	newCert, newKey, _ := genCert(t, dir, "new", "mail.example")
	second := leafOf(t, newCert)
	replace(t, newCert, cert)
	replace(t, newKey, key)
	if got := serial(); got.Cmp(first.SerialNumber) != 0 {
		t.Fatalf("reloaded within the check interval: serial %v", got)
	}
	if err := certs.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("after Reload: serial %v, want %v", got, second.SerialNumber)
	}

	// Half a renewal: a new certificate beside the old key is refused and
	// the served certificate stays; the key arriving completes it.
	thirdCert, thirdKey, _ := genCert(t, dir, "third", "mail.example")
	third := leafOf(t, thirdCert)
	replace(t, thirdCert, cert)
	if err := certs.Reload(); err == nil {
		t.Fatal("Reload of a mismatched pair succeeded")
	}
	if got := serial(); got.Cmp(second.SerialNumber) != 0 {
		t.Fatalf("after a broken reload: serial %v, want the old %v", got, second.SerialNumber)
	}
	if !strings.Contains(logs.String(), "keeping the old certificate") {
		t.Errorf("broken reload not logged; logs:\n%s", logs.String())
	}
	// Unchanged files are not retried on every check.
	if err := certs.Reload(); err != nil {
		t.Errorf("second Reload of unchanged broken files: %v", err)
	}

	// From here on, handshakes themselves notice the change.
	certs.mu.Lock()
	certs.every = 0
	certs.mu.Unlock()
	replace(t, thirdKey, key)
	if got := serial(); got.Cmp(third.SerialNumber) != 0 {
		t.Fatalf("handshake after the key arrived: serial %v, want %v", got, third.SerialNumber)
	}
	if err := os.WriteFile(cert, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := serial(); got.Cmp(third.SerialNumber) != 0 {
		t.Fatalf("garbage certificate: serial %v, want the old %v", got, third.SerialNumber)
	}
}

func TestLoadCertsErrors(t *testing.T) {
	dir := t.TempDir()
	aCert, aKey, _ := genCert(t, dir, "a", "a.example")
	_, bKey, _ := genCert(t, dir, "b", "b.example")
	tests := []struct {
		name  string
		pairs []CertPair
		want  string
	}{
		{"none", nil, "no certificate"},
		{"missing file", []CertPair{{filepath.Join(dir, "nope.crt"), aKey}}, "nope.crt"},
		{"key of another cert", []CertPair{{aCert, bKey}}, "private key does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadCerts(tt.pairs, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

func TestGenerateSelfSigned(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	// An existing, too open key file must not pass its mode on.
	if err := os.WriteFile(key, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := GenerateSelfSigned(cert, key, []string{"localhost", "127.0.0.1", "::1"}); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{key: 0o600, cert: 0o644} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", filepath.Base(path), fi.Mode().Perm(), want)
		}
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf := pair.Leaf
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Errorf("public key %T, want ECDSA P-256", leaf.PublicKey)
	}
	if fmt.Sprint(leaf.DNSNames) != "[localhost]" || len(leaf.IPAddresses) != 2 ||
		!leaf.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if err := GenerateSelfSigned(cert, key, nil); err == nil {
		t.Error("no hosts: want an error")
	}
}

// Python's ssl (OpenSSL), in strict X.509 mode, accepts the development
// certificate: the clients the other tests use (smtplib, imaplib) will too.
func TestSelfSignedWithPythonClient(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatalf("python3 is needed for this test: %v", err)
	}
	dir := t.TempDir()
	cert, key, _ := genCert(t, dir, "server", "localhost", "127.0.0.1")
	certs, err := LoadCerts([]CertPair{{cert, key}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveCerts(t, certs)
	host, port, _ := net.SplitHostPort(addr)
	script := `
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.verify_flags |= ssl.VERIFY_X509_STRICT
with socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=10) as raw:
    with ctx.wrap_socket(raw, server_hostname=sys.argv[4]) as s:
        f = s.makefile("rwb")
        print(f.readline().decode().strip())
`
	for _, name := range []string{"localhost", "127.0.0.1"} {
		cmd := exec.Command(py, "-c", script, cert, host, port, name)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("python client for %s: %v\n%s", name, err, out)
		}
		if !strings.Contains(string(out), "tls=true") {
			t.Errorf("python client for %s got %q", name, out)
		}
	}
}
