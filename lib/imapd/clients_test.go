package imapd

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"mailctl/lib/maildir"
	"mailctl/lib/testenv"
)

// TestPythonImaplib drives the server with Python's imaplib: STARTTLS,
// implicit TLS, folders, APPEND, FETCH, STORE, SEARCH, COPY, MOVE,
// EXPUNGE, read-only EXAMINE.
func TestPythonImaplib(t *testing.T) {
	py := testenv.NeedCommand(t, "python3", "python3")
	ts := newTestServer(t)
	ts.deliver(bob, "", testMessage("delivered", "first"))
	_, port, _ := net.SplitHostPort(ts.addr)
	_, tlsPort, _ := net.SplitHostPort(ts.tlsAddr)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, "testdata/imaplib_client.py", "127.0.0.1", port, tlsPort,
		filepath.Join(ts.dir, "cert.pem"), bob.String(), testPassword)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("imaplib client: %v\n%s", err, out)
	}
}

// TestMbsync syncs bob's mailbox both ways with mbsync (isync): folders
// first, then a change on each side, then a sync that must agree.
func TestMbsync(t *testing.T) {
	mbsync := testenv.NeedCommand(t, "mbsync", "isync")
	ts := newTestServer(t)
	ts.deliver(bob, "", testMessage("inbox one", "1"))
	ts.deliver(bob, "", testMessage("inbox two", "2"))
	ts.deliver(bob, "Sent", testMessage("sent one", "3"))
	u := ts.user(bob)
	if err := u.CreateFolder("Lists/Go"); err != nil {
		t.Fatal(err)
	}
	ts.deliver(bob, "Lists/Go", testMessage("go news", "4"))

	local := filepath.Join(t.TempDir(), "local")
	if err := os.Mkdir(local, 0o700); err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ts.addr)
	rc := filepath.Join(t.TempDir(), "mbsyncrc")
	conf := fmt.Sprintf(`IMAPAccount test
Host %s
Port %s
User %s
Pass "%s"
SSLType None
AuthMechs LOGIN
Timeout 20

IMAPStore remote
Account test

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel all
Far :remote:
Near :local:
Patterns *
Create Both
Remove None
Expunge Both
SyncState *
`, host, port, bob, testPassword, local, local)
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(what string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(ctx, mbsync, "-c", rc, "-V", "-a").CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync (%s): %v\n%s", what, err, out)
		}
		return string(out)
	}
	run("first sync")
	for folder, n := range map[string]int{"INBOX": 2, "Sent": 1, "Lists/Go": 1, "Trash": 0} {
		if got := len(localMessages(t, filepath.Join(local, folder))); got != n {
			t.Errorf("local %s has %d messages, want %d", folder, got, n)
		}
	}

	// A change on each side: locally a new message in Lists/Go and the
	// first INBOX message flagged; on the server a delivery and another
	// message marked \Seen.
	lf := filepath.Join(local, "Lists/Go")
	if err := os.WriteFile(filepath.Join(lf, "new", "1700000000.local1.host"), []byte(testMessage("written locally", "5")), 0o600); err != nil {
		t.Fatal(err)
	}
	inboxFiles := localMessages(t, filepath.Join(local, "INBOX"))
	slices.Sort(inboxFiles)
	flagged := inboxFiles[0]
	base, _, _ := strings.Cut(filepath.Base(flagged), ":")
	if err := os.Rename(flagged, filepath.Join(local, "INBOX", "cur", base+":2,F")); err != nil {
		t.Fatal(err)
	}
	ts.deliver(bob, "", testMessage("inbox three", "6"))
	inbox, err := u.Folder(maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := inbox.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := inbox.SetFlags(context.Background(), snap.Messages[1].UID, "S", nil); err != nil {
		t.Fatal(err)
	}
	run("second sync")

	// The server has the local message and the local flag; the local side
	// has the delivery and the \Seen.
	goFolder, err := u.Folder("Lists/Go")
	if err != nil {
		t.Fatal(err)
	}
	gs, err := goFolder.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(gs.Messages) != 2 {
		t.Errorf("server Lists/Go has %d messages, want 2", len(gs.Messages))
	}
	snap, err = inbox.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Messages) != 3 || !strings.Contains(snap.Messages[0].Flags, "F") || !strings.Contains(snap.Messages[1].Flags, "S") {
		t.Errorf("server INBOX after sync: %+v", snap.Messages)
	}
	got := localMessages(t, filepath.Join(local, "INBOX"))
	if len(got) != 3 {
		t.Errorf("local INBOX has %d messages, want 3", len(got))
	}
	var seen, flaggedN int
	for _, p := range got {
		_, info, _ := strings.Cut(filepath.Base(p), ":2,")
		if strings.Contains(info, "S") {
			seen++
		}
		if strings.Contains(info, "F") {
			flaggedN++
		}
	}
	if seen != 1 || flaggedN != 1 {
		t.Errorf("local INBOX flags: %d seen, %d flagged, want 1 and 1: %v", seen, flaggedN, got)
	}
	// A third sync has nothing left to do: neither side changes.
	state := func() string {
		var b strings.Builder
		filepath.WalkDir(local, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.Contains(p, "/cur/") || strings.Contains(p, "/new/")) {
				b.WriteString(p + "\n")
			}
			return nil
		})
		names, _ := u.Folders()
		for _, n := range names {
			f, err := u.Folder(n)
			if err != nil {
				t.Fatal(err)
			}
			s, err := f.Sync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range s.Messages {
				fmt.Fprintf(&b, "%s %d %s\n", n, m.UID, m.Flags)
			}
		}
		return b.String()
	}
	before := state()
	run("third sync")
	if after := state(); after != before {
		t.Errorf("third sync changed something:\n%s\nthen\n%s", before, after)
	}
	if strings.Contains(ts.logs.String(), "level=ERROR") {
		t.Errorf("server logged errors:\n%s", ts.logs.String())
	}
}

// localMessages lists a local Maildir's messages (new and cur).
func localMessages(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("local folder: %v", err)
		}
		for _, e := range ents {
			out = append(out, filepath.Join(dir, sub, e.Name()))
		}
	}
	return out
}
