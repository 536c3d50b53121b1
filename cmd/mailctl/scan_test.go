package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"

	"mailctl/lib/dkim"
	"mailctl/lib/scan/scantest"
	"mailctl/lib/smtpout/smtptest"
	"mailctl/lib/testenv"
)

// newScanTestEnv is a test installation whose resolver is an in-process
// DNS server: pass.test publishes SPF for 192.0.2.1 and 127.0.0.1, fail.test -all,
// and records are added.
func newScanTestEnv(t *testing.T, scanTOML string, records ...string) *testEnv {
	t.Helper()
	d := smtptest.NewDNS(t, append([]string{
		`pass.test. TXT "v=spf1 ip4:192.0.2.1 ip4:127.0.0.1 -all"`,
		`fail.test. TXT "v=spf1 -all"`,
		`_dmarc.fail.test. TXT "v=DMARC1; p=reject"`,
	}, records...)...)
	e, _ := newSMTPTestEnv(t, "[scan]\n"+scanTOML)
	conf, err := os.ReadFile(e.conf)
	if err != nil {
		t.Fatal(err)
	}
	conf = []byte(strings.Replace(string(conf), `resolver = ["127.0.0.1:53"]`, fmt.Sprintf("resolver = [%q]", d.Addr), 1))
	if err := os.WriteFile(e.conf, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func scanMessage(from, subject, body string) string {
	return "From: <" + from + ">\r\nTo: <bob@example.test>\r\nSubject: " + subject +
		"\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <1@remote>\r\n\r\n" + body + "\r\n"
}

const gtubeString = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"

func TestScanCommand(t *testing.T) {
	cd := scantest.StartClamd(t)
	e := newScanTestEnv(t, fmt.Sprintf("clamd = %q\nclamd_stream_max = \"50M\"\n", cd.Socket))
	env := []string{"scan", "--ip", "192.0.2.1", "--helo", "mx.remote.test"}

	out := e.must(scanMessage("a@pass.test", "Hello", "hi"), append(env, "--from", "a@pass.test")...)
	for _, want := range []string{"verdict: accept", "spf", "pass", "Authentication-Results: mx.example.test; spf=pass", "X-Spam-Status: No", "clamav", "clean"} {
		if !strings.Contains(out, want) {
			t.Errorf("clean: output lacks %q:\n%s", want, out)
		}
	}
	for _, tc := range []struct {
		name, from, msg string
		code            int
		action          string
	}{
		{"gtube", "a@pass.test", scanMessage("a@pass.test", "t", gtubeString), exitScanSpam, "reject"},
		{"spf fail, dmarc fail, caps", "a@fail.test", scanMessage("a@fail.test", "CHEAP WATCHES FOR YOU", "hi"), exitScanSpam, "spam"},
		{"eicar", "a@pass.test", scantest.EICARMessage("a@pass.test", "bob@example.test"), exitScanVirus, "reject"},
		{"program attached", "a@pass.test", strings.Replace(scantest.EICARMessage("a@pass.test", "bob@example.test"), "eicar.com", "setup.exe", 1), exitScanVirus, "reject"},
		{"script attached", "a@pass.test", strings.Replace(strings.Replace(scantest.EICARMessage("a@pass.test", "bob@example.test"), "eicar.com", "run.vbs", 1),
			"WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo=", "bXNnYm94ICJoaSI=", 1), exitScanSpam, "reject"},
		{"forged authentication-results", "a@pass.test",
			"Authentication-Results: mx.example.test; dkim=pass header.d=bank.test\r\n" + scanMessage("a@pass.test", "Hello", "hi"), 0, "accept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code := e.run(tc.msg, append(env, "--from", tc.from, "--json")...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, stdout, stderr)
			}
			var rep struct {
				Action, Virus string
				Score         float64
				Stripped      int
				Results       []struct{ Check, Result string }
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("%v\n%s", err, stdout)
			}
			if rep.Action != tc.action {
				t.Errorf("action %s, want %s", rep.Action, tc.action)
			}
			if tc.code == exitScanVirus && rep.Virus != "Eicar-Test-Signature.UNOFFICIAL" {
				t.Errorf("virus %q", rep.Virus)
			}
			if strings.HasPrefix(tc.name, "forged") && rep.Stripped != 1 {
				t.Errorf("stripped %d", rep.Stripped)
			}
		})
	}
	cd.Stop()
	_, stderr, code := e.run(scanMessage("a@pass.test", "Hello", "hi"), append(env, "--from", "a@pass.test")...)
	if code != exitTempFail || !strings.Contains(stderr, "clamav unreachable") {
		t.Errorf("clamd stopped: exit %d, %s", code, stderr)
	}
	e.expect(exitUsage, "", "scan", "--ip", "not-an-ip")
}

// TestSMTPDScan: smtpd with [scan] and a real clamd refuses EICAR at DATA,
// files spam under Junk, delivers clean mail with Authentication-Results,
// and answers 451 while clamd is down.
func TestSMTPDScan(t *testing.T) {
	cd := scantest.StartClamd(t)
	e := newScanTestEnv(t, fmt.Sprintf("enabled = true\nspam_score = 2.0\nclamd = %q\nclamd_stream_max = \"50M\"\n", cd.Socket))
	e.addUser("bob@example.test")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDaemon(t, e.bin, "smtpd", "--listen", address)
	waitListening(t, address)

	send := func(from, msg string) error {
		c, err := smtp.Dial(address)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Hello("mx.remote.test"); err != nil {
			t.Fatal(err)
		}
		return c.SendMail(from, []string{"bob@example.test"}, strings.NewReader(msg))
	}
	code := func(err error) int {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se.Code
		}
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		return 250
	}
	if got := code(send("a@pass.test", scantest.EICARMessage("a@pass.test", "bob@example.test"))); got != 550 {
		t.Errorf("EICAR: %d, want 550", got)
	}
	if got := code(send("a@pass.test", scanMessage("a@pass.test", "Hello", "clean"))); got != 250 {
		t.Fatalf("clean: %d", got)
	}
	inbox := e.newFiles("bob@example.test")
	if len(inbox) != 1 {
		t.Fatalf("INBOX has %d, want 1", len(inbox))
	}
	b, _ := os.ReadFile(inbox[0])
	if !strings.Contains(string(b), "Authentication-Results: mx.example.test;") || !strings.Contains(string(b), "X-Spam-Status: No") {
		t.Errorf("clean message:\n%s", b)
	}
	// From 127.0.0.1, fail.test's SPF fails, and so does DMARC.
	if got := code(send("a@fail.test", scanMessage("a@fail.test", "CHEAP WATCHES FOR YOU", "spam"))); got != 250 {
		t.Fatalf("spam: %d", got)
	}
	junk, _ := filepath.Glob(filepath.Join(e.maildir("bob@example.test"), ".Junk", "new", "*"))
	if len(junk) != 1 || len(e.newFiles("bob@example.test")) != 1 {
		t.Fatalf("Junk has %d, INBOX %d; want 1 and 1", len(junk), len(e.newFiles("bob@example.test")))
	}
	b, _ = os.ReadFile(junk[0])
	if !strings.Contains(string(b), "X-Spam-Status: Yes") || !strings.Contains(string(b), "X-Spam-Score: ") {
		t.Errorf("junk message:\n%s", b)
	}
	cd.Stop()
	if got := code(send("a@pass.test", scanMessage("a@pass.test", "Hello", "clean"))); got != 451 {
		t.Errorf("clamd down: %d, want 451", got)
	}
}

// TestScanSpamd: with our own GTUBE rule weighed at 0, spamd alone makes
// GTUBE spam.
func TestScanSpamd(t *testing.T) {
	sd := scantest.StartSpamd(t)
	e := newScanTestEnv(t, fmt.Sprintf("spamd = %q\n[scan.weights]\ngtube = 0\n", sd.Socket))
	stdout, stderr, code := e.run(scanMessage("a@pass.test", "t", gtubeString), "scan", "--ip", "192.0.2.1", "--from", "a@pass.test")
	if code != exitScanSpam || !strings.Contains(stdout, "spamassassin  spam") || !strings.Contains(stdout, "gtube         hit   +0.0") {
		t.Fatalf("exit %d\n%s%s", code, stdout, stderr)
	}
	stdout, _, code = e.run(scanMessage("a@pass.test", "Lunch", "at noon?"), "scan", "--ip", "192.0.2.1", "--from", "a@pass.test")
	if code != 0 || !strings.Contains(stdout, "spamassassin  ham") {
		t.Errorf("ham: exit %d\n%s", code, stdout)
	}
}

// TestSMTPDJunkPerRecipient: one SMTP transaction to bob and carol; bob
// taught his classifier that such mail is spam, carol that it is ham (so
// the global data, which learnt both, cannot tell): the copy lands in
// bob's Junk and carol's INBOX, each with its own X-Spam-Status, and the
// log names both decisions.
func TestSMTPDJunkPerRecipient(t *testing.T) {
	e := newScanTestEnv(t, "enabled = true\nspam_score = 3.0\n")
	e.addUser("bob@example.test")
	e.addUser("carol@example.test")
	tmp := t.TempDir()
	casino, meeting := filepath.Join(tmp, "casino"), filepath.Join(tmp, "meeting")
	writeTrainMaildir(t, casino, 50, "cheap pills casino bonus winner")
	writeTrainMaildir(t, meeting, 50, "meeting agenda budget review draft")
	e.must("", "scan", "train", "--user", "bob@example.test", "--spam", "--maildir", casino)
	e.must("", "scan", "train", "--user", "bob@example.test", "--ham", "--maildir", meeting)
	e.must("", "scan", "train", "--user", "carol@example.test", "--ham", "--maildir", casino)
	e.must("", "scan", "train", "--user", "carol@example.test", "--spam", "--maildir", meeting)

	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var logs testenv.Buffer
	c := exec.Command(e.bin, "smtpd", "--listen", address)
	c.Env, c.Stderr = e.environ(), &logs
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Signal(syscall.SIGTERM); c.Wait() })
	waitListening(t, address)

	msg := scanMessage("a@pass.test", "Offer", "cheap casino bonus for the winner")
	sc, err := smtp.Dial(address)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	if err := sc.SendMail("a@pass.test", []string{"bob@example.test", "carol@example.test"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("send: %v\n%s", err, logs.String())
	}
	bobJunk, _ := filepath.Glob(filepath.Join(e.maildir("bob@example.test"), ".Junk", "new", "*"))
	carolJunk, _ := filepath.Glob(filepath.Join(e.maildir("carol@example.test"), ".Junk", "new", "*"))
	if len(bobJunk) != 1 || len(e.newFiles("bob@example.test")) != 0 {
		t.Errorf("bob: Junk %d, INBOX %d; want 1 and 0", len(bobJunk), len(e.newFiles("bob@example.test")))
	}
	carolInbox := e.newFiles("carol@example.test")
	if len(carolInbox) != 1 || len(carolJunk) != 0 {
		t.Fatalf("carol: INBOX %d, Junk %d; want 1 and 0\n%s", len(carolInbox), len(carolJunk), logs.String())
	}
	for path, want := range map[string]string{bobJunk[0]: "X-Spam-Status: Yes", carolInbox[0]: "X-Spam-Status: No"} {
		b, _ := os.ReadFile(path)
		if strings.Count(string(b), "X-Spam-Status:") != 1 || !strings.Contains(string(b), want) ||
			!strings.Contains(string(b), "BAYES_") || !strings.Contains(string(b), "Authentication-Results: mx.example.test;") {
			t.Errorf("%s:\n%s", want, b)
		}
	}
	// mailctl scan explains both decisions.
	out := e.must(msg, "scan", "--ip", "127.0.0.1", "--from", "a@pass.test", "--rcpt", "bob@example.test", "--rcpt", "carol@example.test")
	for _, want := range []string{"rcpt bob@example.test: Junk (score ", "rcpt carol@example.test: INBOX (score ", "classifier on user data"} {
		if !strings.Contains(out, want) {
			t.Errorf("scan output lacks %q:\n%s", want, out)
		}
	}
	waitFor(t, "both decisions logged", func() bool {
		l := logs.String()
		return strings.Contains(l, "rcpt=bob@example.test junk=true") && strings.Contains(l, "rcpt=carol@example.test junk=false")
	})
}

// TestSMTPDGreylistWiring: with [scan.greylist] on, a loopback client is
// never delayed, and a DKIM-signed message smtpd accepts records its
// domain in state_dir/greylist/dkim.db, where every smtpd process finds
// it. (The 451-then-250 sequence is tested in lib/smtpd: every test client
// here is on loopback.)
func TestSMTPDGreylistWiring(t *testing.T) {
	keys := t.TempDir()
	rec, err := dkim.Keygen(keys, "signed.test", "s1", dkim.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	e := newScanTestEnv(t, "enabled = true\n[scan.greylist]\nenabled = true\ndelay = \"1h\"\n",
		`s1._domainkey.signed.test. TXT "`+strings.Join(dkim.TXTStrings(rec), `" "`)+`"`)
	e.addUser("bob@example.test")
	ks, err := dkim.Open(keys)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := ks.Sign([]byte(scanMessage("a@signed.test", "Hello", "signed")), "signed.test")
	if err != nil {
		t.Fatal(err)
	}
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	e.startDaemon(t, e.bin, "smtpd", "--listen", address)
	waitListening(t, address)
	c, err := smtp.Dial(address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SendMail("a@signed.test", []string{"bob@example.test"}, strings.NewReader(string(signed))); err != nil {
		t.Fatalf("first message from a new sender on loopback: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(e.dir, "state", "greylist", "dkim.db"))
	if err != nil || !strings.HasPrefix(string(data), "signed.test ") {
		t.Errorf("dkim.db: %v %q", err, data)
	}
}

// TestConfigCheckWeights: an unknown [scan.weights] name fails config
// check (EX_CONFIG) naming the key, before any scanner starts.
func TestConfigCheckWeights(t *testing.T) {
	e := newTestEnv(t, "[scan.weights]\nspf_fial = 2.5\n")
	if stderr := e.expect(exitConfig, "", "config", "check"); !strings.Contains(stderr, `"scan.weights.spf_fial"`) {
		t.Errorf("stderr %q", stderr)
	}
	e = newTestEnv(t, "[scan.weights]\nspf_fail = 2.5\n")
	e.must("", "config", "check")
}
