package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestServeDev runs `serve --dev` in an empty directory: it creates
// everything it needs, starts LMTP on loopback, tells how to add a user,
// and stops cleanly on SIGTERM.
func TestServeDev(t *testing.T) {
	dir := t.TempDir()
	bin, _ := os.Executable()
	c := exec.Command(bin, "serve", "--dev")
	c.Dir = dir
	c.Env = append(os.Environ(), "MAILCTL_TEST_MAIN=1", "MAILCTL_CONFIG=")
	// The dev config's fixed ports may be taken by a developer's own
	// `make run` or a parallel test run: move every listener to a free
	// port through the environment, which overrides the config file.
	for _, key := range []string{"SMTPD_LISTEN", "SUBMITD_LISTEN", "SUBMITD_LISTEN_TLS", "IMAPD_LISTEN",
		"IMAPD_LISTEN_TLS", "POP3D_LISTEN", "POP3D_LISTEN_TLS", "LMTP_LISTEN", "WEBMAILD_LISTEN"} {
		c.Env = append(c.Env, fmt.Sprintf("MAILCTL_%s=127.0.0.1:%d", key, freePort(t)))
	}
	out, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var got []string
	deadline := time.After(20 * time.Second)
wait:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				c.Wait() // stderr is complete, and no longer written, once the process is reaped
				t.Fatalf("serve --dev exited early:\n%s\n%s", strings.Join(got, "\n"), stderr.String())
			}
			got = append(got, l)
			if strings.Contains(l, "useradd") {
				break wait
			}
		case <-deadline:
			c.Process.Kill()
			c.Wait()
			t.Fatalf("no start-up message:\n%s\n%s", strings.Join(got, "\n"), stderr.String())
		}
	}
	text := strings.Join(got, "\n")
	if !strings.Contains(text, "started lmtp on 127.0.0.1:") {
		t.Errorf("output lacks the LMTP listener:\n%s", text)
	}
	// webmaild's sockets are in the dev folder, for the owner and group only.
	for _, name := range []string{"imap-webmail.sock", "submission-webmail.sock"} {
		p := filepath.Join(dir, devDir, name)
		if fi, err := os.Stat(p); err != nil || fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o660 {
			t.Errorf("%s: %v %v, want a socket with mode 0660", name, fi, err)
		}
		if !strings.Contains(text, p+" (webmail)") {
			t.Errorf("output lacks the webmail socket %s:\n%s", p, text)
		}
	}
	for _, f := range []string{"mailctl.toml", "users", "aliases", "domains", "tls/cert.pem", "tls/key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, devDir, f)); err != nil {
			t.Errorf("serve --dev did not create %s: %v", f, err)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, devDir, "tls/key.pem")); err == nil && st.Mode().Perm()&0o077 != 0 {
		t.Errorf("key mode %v", st.Mode().Perm())
	}
	// The generated config passes its own check and never names a
	// non-loopback resolver.
	conf, _ := os.ReadFile(filepath.Join(dir, devDir, "mailctl.toml"))
	if !strings.Contains(string(conf), `resolver = ["127.0.0.1:53"]`) {
		t.Errorf("dev config resolver not loopback:\n%s", conf)
	}
	c.Process.Signal(syscall.SIGTERM)
	if err := c.Wait(); err != nil {
		t.Errorf("serve --dev after SIGTERM: %v\n%s", err, stderr.String())
	}
}
