package pop3d

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mailctl/lib/addr"
	"mailctl/lib/maildir"
	"mailctl/lib/safeio"
)

// TestMain doubles as a helper process that holds a maildrop's POP3 lock
// (POP3D_TEST_HOLD_LOCK=path) until it is killed.
func TestMain(m *testing.M) {
	if p := os.Getenv("POP3D_TEST_HOLD_LOCK"); p != "" {
		if _, err := safeio.LockFile(context.Background(), p); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Stdout.WriteString("locked\n")
		select {}
	}
	os.Exit(m.Run())
}

// TestInUseAcrossProcesses: a lock held by another process means
// [IN-USE]; when that process dies, the kernel frees the maildrop.
func TestInUseAcrossProcesses(t *testing.T) {
	ts := newTestServer(t, nil)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(self, "-test.run=^$")
	holder.Env = append(os.Environ(), "POP3D_TEST_HOLD_LOCK="+filepath.Join(ts.dir, "mail", "example.test", "bob", lockName))
	out, _ := holder.StdoutPipe()
	holder.Stderr = os.Stderr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	if l, err := bufio.NewReader(out).ReadString('\n'); err != nil || l != "locked\n" {
		t.Fatalf("helper: %q %v", l, err)
	}
	c := ts.dial()
	c.ok("USER %s", bob)
	if r := c.cmd("PASS %s", testPassword); !strings.HasPrefix(r, "-ERR [IN-USE]") {
		t.Fatalf("with another process holding the maildrop: %q", r)
	}
	holder.Process.Kill() // SIGKILL: no chance to unlock; the kernel does
	holder.Wait()
	c.login()
	c.ok("QUIT")
}

// otherProcess opens bob's Maildir through a store of its own, as
// another mailctl process (imapd, deliver) would.
func otherProcess(t *testing.T, ts *testServer) *maildir.User {
	t.Helper()
	s, err := maildir.Open(filepath.Join(ts.dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "other.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, _ := addr.Parse(bob)
	u, err := s.User(a)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { u.Close() })
	return u
}

// TestDeleteWhileOthersWork: between login and QUIT, IMAP changes flags,
// expunges, moves a message to another folder, and new mail arrives. At
// QUIT exactly the messages POP3 deleted and still present in INBOX are
// removed; nothing else is lost.
func TestDeleteWhileOthersWork(t *testing.T) {
	ts := newTestServer(t, nil)
	var k []string
	for i := range 6 {
		k = append(k, ts.deliver(testMsg(i)))
	}
	c := ts.dial()
	c.login()
	c.ok("STAT")

	ctx := context.Background()
	other := otherProcess(t, ts)
	inbox, err := other.Folder(maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := inbox.Sync(ctx) // IMAP SELECT: moves new/ to cur/, claims \Recent
	if err != nil {
		t.Fatal(err)
	}
	uid := map[string]uint32{}
	for _, m := range snap.Messages {
		uid[m.Key] = m.UID
	}
	// k0: flagged \Seen \Flagged by IMAP (renamed :2,FS).
	if err := inbox.SetFlags(ctx, uid[k[0]], "FS", []string{"$Label1"}); err != nil {
		t.Fatal(err)
	}
	// k1: expunged by IMAP.
	if err := inbox.Expunge(ctx, []uint32{uid[k[1]]}); err != nil {
		t.Fatal(err)
	}
	// k2: moved to Archive by IMAP (same key, other folder).
	archive, err := other.Folder("Archive")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := inbox.MoveTo(ctx, []uint32{uid[k[2]]}, archive); err != nil {
		t.Fatal(err)
	}
	// New mail, delivered by another process.
	var fresh []string
	for i := range 2 {
		key, err := other.Deliver(ctx, strings.NewReader(testMsg(100+i)), maildir.DeliverOptions{})
		if err != nil {
			t.Fatal(err)
		}
		fresh = append(fresh, key)
	}

	for i := 1; i <= 4; i++ { // k0..k3
		c.ok("DELE %d", i)
	}
	c.ok("RETR 5") // k4 kept and read: \Seen at QUIT
	c.multi()
	if r := c.ok("QUIT"); !strings.Contains(r, "signing off") {
		t.Errorf("QUIT: %q", r)
	}

	got := ts.keys()
	for _, gone := range k[:4] {
		if got[gone] != "" {
			t.Errorf("%s survived DELE+QUIT: %s", gone, got[gone])
		}
	}
	for _, kept := range append([]string{k[4], k[5]}, fresh...) {
		if got[kept] == "" {
			t.Errorf("%s lost", kept)
		}
	}
	if !strings.HasSuffix(got[k[4]], ":2,S") {
		t.Errorf("retrieved message not \\Seen: %s", got[k[4]])
	}
	if _, info, _ := strings.Cut(got[k[5]], ":2,"); strings.Contains(info, "S") {
		t.Errorf("message not retrieved got \\Seen: %s", got[k[5]])
	}
	archived, err := os.ReadDir(filepath.Join(ts.dir, "mail", "example.test", "bob", ".Archive", "cur"))
	if err != nil || len(archived) != 1 || !strings.HasPrefix(archived[0].Name(), k[2]) {
		t.Errorf("the message IMAP moved to Archive: %v %v", archived, err)
	}
	// IMAP's view agrees: the UID list holds just the survivors.
	snap, err = inbox.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Messages) != 4 {
		t.Errorf("IMAP sees %d messages after QUIT, want 4", len(snap.Messages))
	}
}

// TestSessionDoesNotTakeRecent: POP3 reads with a read-only sync, so an
// IMAP client still sees new mail as \Recent and in new/.
func TestSessionDoesNotTakeRecent(t *testing.T) {
	ts := newTestServer(t, nil)
	k := ts.deliver(testMsg(1))
	c := ts.dial()
	c.login()
	c.ok("RETR 1")
	c.multi()
	c.ok("QUIT")
	inbox, err := otherProcess(t, ts).Folder(maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := inbox.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Messages) != 1 || snap.Messages[0].UID < snap.FirstRecent {
		t.Errorf("IMAP lost \\Recent to POP3: %+v", snap)
	}
	if snap.Messages[0].Key != k {
		t.Errorf("key %s, want %s", snap.Messages[0].Key, k)
	}
}

// TestUIDLStable: UIDL is the same across sessions and after the UID
// list (UIDVALIDITY) is thrown away.
func TestUIDLStable(t *testing.T) {
	ts := newTestServer(t, nil)
	for i := range 3 {
		ts.deliver(testMsg(i))
	}
	uidl := func() string {
		c := ts.dial()
		c.login()
		c.ok("UIDL")
		s := c.multi()
		c.ok("QUIT")
		return s
	}
	first := uidl()
	if uidl() != first {
		t.Error("UIDL changed between sessions")
	}
	dir := filepath.Join(ts.dir, "mail", "example.test", "bob")
	for _, f := range []string{"mailctl-uidlist", "mailctl-cache"} {
		os.Remove(filepath.Join(dir, f))
	}
	time.Sleep(10 * time.Millisecond)
	if got := uidl(); got != first {
		t.Errorf("UIDL changed with the UID list:\n%s\nvs\n%s", got, first)
	}
}
