package pop3d

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"mailctl/lib/testenv"
)

// TestPythonPoplib runs Python's poplib against the server: STLS,
// USER/PASS, STAT, UIDL, RETR, TOP, DELE, QUIT; then implicit TLS with
// AUTH PLAIN.
func TestPythonPoplib(t *testing.T) {
	py := testenv.NeedCommand(t, "python3", "python3")
	ts := newTestServer(t, func(o *Options) { o.InsecureAuthLoopback = false })
	var keys []string
	for i := 1; i <= 3; i++ {
		keys = append(keys, ts.deliver(testMsg(i)))
	}
	_, port, _ := net.SplitHostPort(ts.addr)
	_, tlsPort, _ := net.SplitHostPort(ts.tlsAddr)
	cmd := exec.Command(py, "testdata/poplib_client.py", "127.0.0.1", port, tlsPort, ts.certFile, bob, testPassword)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("poplib client: %v\n%s", err, out)
	}
	var got struct {
		Stat  []int
		UIDL  []string
		Retr1 struct {
			Lines  []string
			Octets int
		}
		Top2              []string
		Quit, Auth, Quit2 string
		Stat2             []int
		UIDL2             []string
		Wrong             string
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	var raw map[string]any
	json.Unmarshal(out, &raw)
	capaBefore, _ := raw["capa_before"].([]any)
	capaAfter, _ := raw["capa_after"].([]any)
	has := func(l []any, s string) bool { return slices.Contains(l, any(s)) }
	if !has(capaBefore, "STLS") || has(capaBefore, "USER") {
		t.Errorf("CAPA before TLS: %v", capaBefore)
	}
	if has(capaAfter, "STLS") || !has(capaAfter, "USER") || !has(capaAfter, "SASL") {
		t.Errorf("CAPA after TLS: %v", capaAfter)
	}
	total := 0
	for i := 1; i <= 3; i++ {
		total += len(crlf(testMsg(i)))
	}
	if !slices.Equal(got.Stat, []int{3, total}) {
		t.Errorf("STAT %v, want [3 %d]", got.Stat, total)
	}
	for i, k := range keys {
		if i >= len(got.UIDL) || got.UIDL[i] != fmt.Sprintf("%d %s", i+1, UIDL(k)) {
			t.Errorf("UIDL %v, want %d %s", got.UIDL, i+1, UIDL(k))
		}
	}
	// poplib undoes dot-stuffing and splits lines.
	wantLines := strings.Split(strings.TrimSuffix(testMsg(1), "\n"), "\n")
	if !slices.Equal(got.Retr1.Lines, wantLines) {
		t.Errorf("RETR 1 lines %q, want %q", got.Retr1.Lines, wantLines)
	}
	if len(got.Top2) != 4 || got.Top2[2] != "Subject: message 2" || got.Top2[3] != "" {
		t.Errorf("TOP 2 0: %q", got.Top2)
	}
	if !strings.HasPrefix(got.Quit, "+OK") || !strings.HasPrefix(got.Auth, "+OK") || !strings.HasPrefix(got.Quit2, "+OK") {
		t.Errorf("replies: QUIT %q, AUTH %q, QUIT %q", got.Quit, got.Auth, got.Quit2)
	}
	if !slices.Equal(got.Stat2, []int{2, total - len(crlf(testMsg(1)))}) {
		t.Errorf("after DELE 1 + QUIT, STAT %v", got.Stat2)
	}
	if len(got.UIDL2) != 2 || got.UIDL2[0] != "1 "+UIDL(keys[1]) {
		t.Errorf("UIDL after the deletion: %v (the UIDs must follow the messages)", got.UIDL2)
	}
	if !strings.HasPrefix(got.Wrong, "-ERR [AUTH]") {
		t.Errorf("wrong password: %q", got.Wrong)
	}
}

// TestFetchmail drains the maildrop with fetchmail over STLS, then keeps
// mail on the server and checks that UIDL spares a second download.
func TestFetchmail(t *testing.T) {
	fm := testenv.NeedCommand(t, "fetchmail", "fetchmail")
	ts := newTestServer(t, func(o *Options) { o.InsecureAuthLoopback = false })
	for i := 1; i <= 5; i++ {
		ts.deliver(testMsg(i))
	}
	home := t.TempDir()
	mbox := filepath.Join(home, "mbox")
	_, port, _ := net.SplitHostPort(ts.addr)
	rc := filepath.Join(home, "fetchmailrc")
	write := func(keep string) {
		conf := fmt.Sprintf(`set no syslog
set idfile %q
poll 127.0.0.1 service %s protocol pop3 uidl
  user %q password %q is root here
  sslproto tls1.2+ sslcertck sslcertfile %q sslcommonname localhost
  %s
  mda "/bin/sh -c 'cat >> %s'"
`, filepath.Join(home, "fetchids"), port, bob, testPassword, ts.certFile, keep, mbox)
		if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func() string {
		t.Helper()
		c := exec.Command(fm, "--fetchmailrc", rc, "--nodetach", "--verbose")
		c.Env = append(os.Environ(), "HOME="+home, "FETCHMAILHOME="+home)
		out, err := c.CombinedOutput()
		// Exit 1 means "no mail": fine for the second run.
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
			t.Fatalf("fetchmail: %v\n%s", err, out)
		}
		return string(out)
	}
	messagesIn := func() int {
		b, _ := os.ReadFile(mbox)
		return strings.Count(string(b), "\nSubject: message ")
	}

	write("no keep")
	out := run()
	if !strings.Contains(out, "STLS") {
		t.Errorf("fetchmail did not use STLS:\n%s", out)
	}
	if n := messagesIn(); n != 5 {
		t.Fatalf("fetchmail fetched %d messages, want 5:\n%s", n, out)
	}
	if n := len(ts.keys()); n != 0 {
		t.Errorf("%d messages left on the server after fetchmail without keep", n)
	}

	// Keep mode: two new messages are fetched once, then never again.
	ts.deliver(testMsg(6))
	ts.deliver(testMsg(7))
	write("keep")
	run()
	if n := messagesIn(); n != 7 {
		t.Fatalf("%d messages after the keep run, want 7", n)
	}
	out = run()
	if n := messagesIn(); n != 7 {
		t.Errorf("second keep run fetched again (%d messages), UIDL not honoured:\n%s", n, out)
	}
	if n := len(ts.keys()); n != 2 {
		t.Errorf("%d messages on the server in keep mode, want 2", n)
	}
}
