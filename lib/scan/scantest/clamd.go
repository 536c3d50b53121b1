// Package scantest runs the real engines lib/scan talks to, for tests:
// clamd on a unix socket in a temporary directory, with a signature
// database of its own that knows only the EICAR test file (no download).
package scantest

import (
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailctl/lib/testenv"
)

// EICAR is the anti-virus test file.
const EICAR = `X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// EICARMessage is a MIME message carrying EICAR as a base64 attachment.
func EICARMessage(from, to string) string {
	b64 := base64.StdEncoding.EncodeToString([]byte(EICAR))
	return "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: test\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n" +
		"Message-ID: <eicar@test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b\r\nContent-Type: application/octet-stream\r\n" +
		"Content-Disposition: attachment; filename=eicar.com\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 + "\r\n--b--\r\n"
}

// Clamd is a running clamd.
type Clamd struct {
	Socket string // "unix:/path", for scan.Clamd and the config
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartClamd starts clamd (installing Debian's clamav-daemon if needed) and
// waits until its socket answers. It is stopped when the test ends.
func StartClamd(t testing.TB) *Clamd {
	t.Helper()
	bin := testenv.NeedCommand(t, "clamd", "clamav-daemon")
	// Short path: unix socket names are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "clamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	db := filepath.Join(dir, "db")
	if err := os.Mkdir(db, 0o755); err != nil {
		t.Fatal(err)
	}
	sig := fmt.Sprintf("%x:%d:Eicar-Test-Signature\n", md5.Sum([]byte(EICAR)), len(EICAR))
	if err := os.WriteFile(filepath.Join(db, "test.hdb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "clamd.sock")
	conf := strings.Join([]string{
		"LocalSocket " + sock,
		"Foreground yes",
		"DatabaseDirectory " + db,
		"TemporaryDirectory " + dir,
		"LogFile " + filepath.Join(dir, "clamd.log"),
		"StreamMaxLength 25M",
	}, "\n") + "\n"
	if os.Geteuid() == 0 {
		conf += "User root\n"
	}
	cf := filepath.Join(dir, "clamd.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &Clamd{Socket: "unix:" + sock, cmd: exec.Command(bin, "--config-file="+cf), done: make(chan struct{})}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start clamd: %v", err)
	}
	go func() { c.cmd.Wait(); close(c.done) }()
	t.Cleanup(c.Stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			return c
		}
		select {
		case <-c.done:
			log, _ := os.ReadFile(filepath.Join(dir, "clamd.log"))
			t.Fatalf("clamd exited before its socket answered:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("clamd's socket did not answer within 60s")
		}
	}
}

// Stop ends clamd (by its pid) and waits for it.
func (c *Clamd) Stop() {
	select {
	case <-c.done:
		return
	default:
	}
	c.cmd.Process.Signal(os.Interrupt)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
}
