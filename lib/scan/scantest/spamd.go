package scantest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"mailctl/lib/testenv"
)

// GTUBE is SpamAssassin's spam test string.
const GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

// Spamd is a running SpamAssassin spamd.
type Spamd struct {
	Socket string // "unix:/path"
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartSpamd starts spamd (Debian's package spamd) on a unix socket with
// local tests only (-L: no DNS or network checks) and no user configs,
// and stops it when the test ends.
func StartSpamd(t testing.TB) *Spamd {
	t.Helper()
	bin := testenv.NeedCommand(t, "spamd", "spamd")
	dir, err := os.MkdirTemp("", "spamd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	sock := filepath.Join(dir, "spamd.sock")
	args := []string{"--socketpath=" + sock, "-x", "-L", "--syslog=stderr", "--max-children=1"}
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	s := &Spamd{Socket: "unix:" + sock, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	log, err := os.Create(filepath.Join(dir, "spamd.log"))
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start spamd: %v", err)
	}
	go func() { s.cmd.Wait(); log.Close(); close(s.done) }()
	t.Cleanup(s.Stop)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if conn, err := net.Dial("unix", sock); err == nil {
			conn.Close()
			return s
		}
		select {
		case <-s.done:
			out, _ := os.ReadFile(filepath.Join(dir, "spamd.log"))
			t.Fatalf("spamd exited before its socket answered:\n%s", out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("spamd's socket did not answer within 60s")
		}
	}
}

// Stop ends spamd (by its pid) and waits for it.
func (s *Spamd) Stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}
