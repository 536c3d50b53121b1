package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// writeTrainMaildir fills dir/cur and dir/new with n messages whose bodies
// repeat words.
func writeTrainMaildir(t *testing.T, dir string, n int, words string) {
	t.Helper()
	for i := range n {
		sub := []string{"cur", "new"}[i%2]
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
		msg := scanMessage("a@pass.test", fmt.Sprintf("note %d", i), fmt.Sprintf("%s number%d", words, i))
		if err := os.WriteFile(filepath.Join(dir, sub, fmt.Sprintf("%d.host:2,", i)), []byte(msg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestScanTrainThenScan(t *testing.T) {
	e := newScanTestEnv(t, "")
	tmp := t.TempDir()
	spamDir, hamDir := filepath.Join(tmp, "Junk"), filepath.Join(tmp, "INBOX")
	writeTrainMaildir(t, spamDir, 30, "cheap pills casino bonus winner")
	writeTrainMaildir(t, hamDir, 30, "meeting agenda budget review draft")

	if out := e.must("", "scan", "train", "--spam", "--maildir", spamDir); !strings.Contains(out, "learnt 30 messages as spam") {
		t.Errorf("train spam: %q", out)
	}
	e.must("", "scan", "train", "--ham", "--maildir", hamDir)
	e.must(scanMessage("a@pass.test", "hi", "meeting notes"), "scan", "train", "--ham", "--user", "Bob@example.test")

	for _, tc := range []struct{ name, body, result string }{
		{"spam", "cheap casino bonus for the winner", "spam"},
		{"ham", "budget review at the meeting", "ham"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, _ := e.run(scanMessage("a@pass.test", "x", tc.body), "scan", "--json")
			var rep struct {
				Results []struct {
					Check, Result string
					Score         float64
				}
			}
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("%v\n%s%s", err, stdout, stderr)
			}
			found := false
			for _, r := range rep.Results {
				if r.Check == "bayes" {
					found = true
					if r.Result != tc.result || (tc.result == "spam") != (r.Score > 3) {
						t.Errorf("bayes %s, score %g; want %s", r.Result, r.Score, tc.result)
					}
				}
			}
			if !found {
				t.Errorf("no bayes check in %s", stdout)
			}
		})
	}

	dir := filepath.Join(e.dir, "scan", "bayes")
	data, err := os.ReadFile(filepath.Join(dir, "global.db"))
	if err != nil || !strings.HasPrefix(string(data), "mailctl-bayes 1 30 31\n") {
		t.Errorf("global.db: %v %q", err, strings.SplitN(string(data), "\n", 2)[0])
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, "*.db")); len(ents) != 2 {
		t.Errorf("databases %v, want global and bob's", ents)
	}
	e.expect(exitUsage, "", "scan", "train")
	e.expect(exitUsage, "", "scan", "train", "--spam", "--ham")
	e.expect(exitDataErr, "", "scan", "train", "--spam", "--user", "not an address")
}

// TestIMAPDMoveToJunkTrains: a MOVE into Junk through mailctl imapd
// teaches the global and the user's database a spam message.
func TestIMAPDMoveToJunkTrains(t *testing.T) {
	e, _ := newIMAPEnv(t, "[scan]\nenabled = true\n")
	address := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startIMAPD(t, e, "--listen", address)
	deliverTo(t, e, "bob@example.test", "cheap pills")
	c := dialIMAP(t, address, nil, nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Junk", nil).Wait(); err != nil && !strings.Contains(err.Error(), "ALREADYEXISTS") {
		t.Fatal(err)
	}
	if _, err := c.Move(imap.SeqSetNum(1), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(e.dir, "scan", "bayes")
	for _, name := range []string{"global.db", "*[0-9a-f].db"} {
		files, _ := filepath.Glob(filepath.Join(dir, name))
		if len(files) == 0 {
			t.Fatalf("no %s in %s", name, dir)
		}
		data, _ := os.ReadFile(files[0])
		if !strings.HasPrefix(string(data), "mailctl-bayes 1 1 0\n") {
			t.Errorf("%s: %q", files[0], strings.SplitN(string(data), "\n", 2)[0])
		}
	}
}

// TestScanTrainAsRootGivesFilesAway: root's training leaves databases the
// daemons (running as the mail account) can update later.
func TestScanTrainAsRootGivesFilesAway(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root, to check the files are handed to the mail account")
	}
	e := newScanTestEnv(t, "")
	c := e.command(scanMessage("a@pass.test", "x", "cheap casino bonus"), "scan", "train", "--spam", "--user", "bob@example.test")
	c.Env = append(c.Env, "MAILCTL_USER=nobody")
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("train: %v\n%s", err, out)
	}
	dir := filepath.Join(e.dir, "scan", "bayes")
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		t.Fatalf("no databases in %s: %v", dir, err)
	}
	for _, de := range append([]os.DirEntry{nil}, ents...) {
		p := dir
		if de != nil {
			p = filepath.Join(dir, de.Name())
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if uid := st.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
			t.Errorf("%s owned by uid %d, want nobody (65534)", p, uid)
		}
	}
}
