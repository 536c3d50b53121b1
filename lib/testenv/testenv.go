// Package testenv helps tests reach the real programs they talk to
// (Dovecot's tools, swaks, systemd-socket-activate, …). A missing program is
// installed from Debian's packages when the test runs as root; where that is
// impossible the test fails, loudly, rather than skipping: `make test` must
// exercise the real thing on a fresh machine.
package testenv

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

var (
	aptMu      sync.Mutex
	aptUpdated bool
)

// NeedCommand returns the path of cmd, installing Debian package pkg with
// apt-get first if cmd is not on PATH.
func NeedCommand(t testing.TB, cmd, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(cmd); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s is not installed and this test is not root: run `apt-get install %s` (or `make test-deps`)", cmd, pkg)
	}
	aptMu.Lock()
	defer aptMu.Unlock()
	if p, err := exec.LookPath(cmd); err == nil {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if !aptUpdated {
		c := exec.CommandContext(ctx, "apt-get", "-o", "DPkg::Lock::Timeout=600", "update", "-q")
		c.Env = env
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("apt-get update (to install %s): %v\n%s", pkg, err, out)
		}
		aptUpdated = true
	}
	c := exec.CommandContext(ctx, "apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q", "--no-install-recommends", pkg)
	c.Env = env
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("apt-get install %s: %v\n%s", pkg, err, out)
	}
	p, err := exec.LookPath(cmd)
	if err != nil {
		// Some packages install outside PATH for non-login shells.
		for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/lib/dovecot"} {
			if _, serr := os.Stat(dir + "/" + cmd); serr == nil {
				return dir + "/" + cmd
			}
		}
		t.Fatalf("%s still missing after installing %s", cmd, pkg)
	}
	return p
}
