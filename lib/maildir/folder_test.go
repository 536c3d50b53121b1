package maildir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSyncUIDsAndRecent(t *testing.T) {
	s, u := newUser(t)
	for i := 0; i < 3; i++ {
		deliver(t, u, fmt.Sprintf("Subject: %d\n\n", i), DeliverOptions{})
	}
	// A read-only look assigns UIDs but claims nothing and moves nothing.
	ro := mustFolder(t, u, Inbox)
	snap, err := ro.SyncWith(context.Background(), SyncOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Messages) != 3 || snap.FirstRecent != 1 || snap.UIDNext != 4 {
		t.Fatalf("read-only: %d msgs, first recent %d, next %d", len(snap.Messages), snap.FirstRecent, snap.UIDNext)
	}
	if n := len(listDir(t, filepath.Join(userDir(s), "new"))); n != 3 {
		t.Fatalf("read-only sync moved messages: %d left in new/", n)
	}

	f := mustFolder(t, u, Inbox)
	snap = mustSync(t, f)
	for i, m := range snap.Messages {
		if m.UID != uint32(i+1) {
			t.Fatalf("message %d has UID %d", i, m.UID)
		}
		if !strings.HasPrefix(m.Name, "cur/") || !strings.HasSuffix(m.Name, ":2,") {
			t.Errorf("message %d not moved to cur/: %s", i, m.Name)
		}
		if got := readMessage(t, f, m); got != fmt.Sprintf("Subject: %d\n\n", i) {
			t.Errorf("message %d reads %q", i, got)
		}
	}
	if snap.FirstRecent != 1 {
		t.Errorf("first session: FirstRecent %d, want 1", snap.FirstRecent)
	}
	deliver(t, u, "Subject: 3\n\n", DeliverOptions{})
	snap = mustSync(t, f)
	if len(snap.Messages) != 4 || snap.FirstRecent != 4 {
		t.Errorf("after a new delivery: %d msgs, FirstRecent %d, want 4 and 4", len(snap.Messages), snap.FirstRecent)
	}
	other := mustSync(t, mustFolder(t, u, Inbox))
	if other.FirstRecent != 5 {
		t.Errorf("second session: FirstRecent %d, want 5 (nothing left to claim)", other.FirstRecent)
	}
	if other.UIDValidity != snap.UIDValidity || other.UIDValidity == 0 {
		t.Errorf("UIDVALIDITY %d vs %d", other.UIDValidity, snap.UIDValidity)
	}
}

func TestFlagsKeywordsRoundTrip(t *testing.T) {
	s, u := newUser(t)
	ctx := context.Background()
	key := deliver(t, u, "Subject: x\n\n", DeliverOptions{})
	f := mustFolder(t, u, Inbox)
	uid := mustSync(t, f).Messages[0].UID

	tests := []struct {
		flags    string
		keywords []string
		suffix   string
	}{
		{"SF", []string{"$Forwarded", "Work"}, ":2,FSab"},
		{"T", []string{"work"}, ":2,Tb"}, // keywords match case-insensitively
		{"RSD", []string{"Later", "$Forwarded"}, ":2,DRSac"},
		{"", nil, ":2,"},
	}
	for _, tt := range tests {
		if err := f.SetFlags(ctx, uid, tt.flags, tt.keywords); err != nil {
			t.Fatalf("SetFlags(%q, %v): %v", tt.flags, tt.keywords, err)
		}
		if _, err := os.Stat(filepath.Join(userDir(s), "cur", key+tt.suffix)); err != nil {
			t.Fatalf("after SetFlags(%q, %v): %v (have %v)", tt.flags, tt.keywords, err, listDir(t, filepath.Join(userDir(s), "cur")))
		}
		// Another session sees the same flags.
		m := mustSync(t, mustFolder(t, u, Inbox)).Messages[0]
		wantKw := map[string]string{"work": "Work"}
		var want []string
		for _, k := range tt.keywords {
			if w, ok := wantKw[k]; ok {
				k = w
			}
			want = append(want, k)
		}
		slices.Sort(want)
		got := slices.Clone(m.Keywords)
		slices.Sort(got)
		if m.Flags != sortLetters(tt.flags) || !slices.Equal(got, want) {
			t.Fatalf("read back flags %q keywords %v, want %q %v", m.Flags, m.Keywords, sortLetters(tt.flags), want)
		}
	}
	kw, _ := os.ReadFile(filepath.Join(userDir(s), "dovecot-keywords"))
	if string(kw) != "0 $Forwarded\n1 Work\n2 Later\n" {
		t.Errorf("dovecot-keywords = %q", kw)
	}
	if err := f.SetFlags(ctx, uid, "S", []string{"bad word"}); !errors.Is(err, ErrBadKeyword) {
		t.Errorf("keyword with a space: %v", err)
	}
	if err := f.SetFlags(ctx, uid, "Sx", nil); !errors.Is(err, ErrBadFlags) {
		t.Errorf("flag x: %v", err)
	}
	var many []string
	for i := 0; i < 24; i++ {
		many = append(many, fmt.Sprintf("k%d", i))
	}
	if err := f.SetFlags(ctx, uid, "", many); !errors.Is(err, ErrTooManyKeywords) {
		t.Errorf("27 keywords: %v", err)
	}
	if err := f.SetFlags(ctx, 999, "S", nil); !errors.Is(err, ErrNoMessage) {
		t.Errorf("unknown UID: %v", err)
	}
}

func TestIMAPFlagMapping(t *testing.T) {
	letters, kws := FromIMAP([]string{`\Seen`, `\answered`, `\Recent`, `$Junk`, `\Deleted`, `\Flagged`, `\Draft`})
	if letters != "DFRST" || !slices.Equal(kws, []string{"$Junk"}) {
		t.Fatalf("FromIMAP: %q %v", letters, kws)
	}
	back := ToIMAP(letters, kws)
	want := []string{`\Answered`, `\Deleted`, `\Draft`, `\Flagged`, `\Seen`, `$Junk`}
	if !slices.Equal(back, want) {
		t.Fatalf("ToIMAP: %v, want %v", back, want)
	}
}

func TestAppendCopyMoveExpunge(t *testing.T) {
	s, u := newUser(t)
	ctx := context.Background()
	inbox := mustFolder(t, u, Inbox)
	trash := mustFolder(t, u, "Trash")
	// Give Trash a keyword first, so letters differ between the folders.
	if _, err := trash.Append(ctx, strings.NewReader("old\n"), "", []string{"Other"}, time.Time{}); err != nil {
		t.Fatal(err)
	}
	date := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	uid, err := inbox.Append(ctx, strings.NewReader("Subject: a\r\n\r\nbody\r\n"), "S", []string{"Work"}, date)
	if err != nil {
		t.Fatal(err)
	}
	snap := mustSync(t, inbox)
	if len(snap.Messages) != 1 || snap.Messages[0].UID != uid {
		t.Fatalf("after append: %+v, want UID %d", snap.Messages, uid)
	}
	m := snap.Messages[0]
	if m.Flags != "S" || !slices.Equal(m.Keywords, []string{"Work"}) || !m.InternalDate.Equal(date) ||
		m.Size != 17 || m.CRLFSize != 20 {
		t.Fatalf("appended message: %+v", m)
	}
	if got := readMessage(t, inbox, m); got != "Subject: a\n\nbody\n" {
		t.Fatalf("appended content %q", got)
	}

	copied, err := inbox.CopyTo(ctx, []uint32{uid, 77}, trash)
	if err != nil {
		t.Fatal(err)
	}
	if len(copied) != 1 || copied[uid] != 2 {
		t.Fatalf("CopyTo: %v, want {%d: 2}", copied, uid)
	}
	tsnap := mustSync(t, trash)
	c := tsnap.Messages[1]
	if c.UID != 2 || c.Flags != "S" || !slices.Equal(c.Keywords, []string{"Work"}) || !c.InternalDate.Equal(date) || c.CRLFSize != 20 {
		t.Fatalf("copy: %+v", c)
	}
	if c.Key == m.Key {
		t.Errorf("copy kept the key %s", c.Key)
	}
	if !strings.HasSuffix(c.Name, ":2,Sb") {
		t.Errorf("copy's keyword letter not remapped: %s", c.Name)
	}
	st1, _ := os.Stat(filepath.Join(userDir(s), m.Name))
	st2, _ := os.Stat(filepath.Join(userDir(s), ".Trash", c.Name))
	if !os.SameFile(st1, st2) {
		t.Errorf("copy is not a hard link")
	}

	moved, err := inbox.MoveTo(ctx, []uint32{uid}, trash)
	if err != nil || moved[uid] != 3 {
		t.Fatalf("MoveTo: %v %v", moved, err)
	}
	if n := len(mustSync(t, inbox).Messages); n != 0 {
		t.Fatalf("%d messages left in INBOX after move", n)
	}
	if n := len(mustSync(t, mustFolder(t, u, Inbox)).Messages); n != 0 {
		t.Fatalf("a fresh session sees %d messages in INBOX after move", n)
	}
	tsnap = mustSync(t, trash)
	if len(tsnap.Messages) != 3 || tsnap.Messages[2].Key != m.Key {
		t.Fatalf("Trash after move: %+v", tsnap.Messages)
	}
	if err := trash.Expunge(ctx, []uint32{2, 3}); err != nil {
		t.Fatal(err)
	}
	tsnap = mustSync(t, mustFolder(t, u, "Trash"))
	if len(tsnap.Messages) != 1 || tsnap.Messages[0].UID != 1 || tsnap.UIDNext != 4 {
		t.Fatalf("Trash after expunge: %+v next %d", tsnap.Messages, tsnap.UIDNext)
	}
	if n := len(listDir(t, filepath.Join(userDir(s), ".Trash", "cur"))); n != 1 {
		t.Fatalf("%d files in .Trash/cur after expunge", n)
	}
}

// Another program renames a message (new flags) after our snapshot: Open
// and SetFlags still find it by key.
func TestForeignRename(t *testing.T) {
	s, u := newUser(t)
	deliver(t, u, "hello\n", DeliverOptions{})
	f := mustFolder(t, u, Inbox)
	m := mustSync(t, f).Messages[0]
	cur := filepath.Join(userDir(s), "cur")
	if err := os.Rename(filepath.Join(userDir(s), m.Name), filepath.Join(cur, m.Key+":2,RS")); err != nil {
		t.Fatal(err)
	}
	if got := readMessage(t, f, m); got != "hello\n" {
		t.Fatalf("Open after a foreign rename: %q", got)
	}
	if err := f.SetFlags(context.Background(), m.UID, "F", nil); err != nil {
		t.Fatal(err)
	}
	if got := listDir(t, cur); len(got) != 1 || got[0] != m.Key+":2,F" {
		t.Fatalf("cur/ = %v", got)
	}
	os.Remove(filepath.Join(cur, m.Key+":2,F"))
	if _, err := f.Open(m); !errors.Is(err, ErrNoMessage) {
		t.Fatalf("Open of a deleted message: %v", err)
	}
}

func TestUIDListHalfWrittenLine(t *testing.T) {
	s, u := newUser(t)
	deliver(t, u, "1\n", DeliverOptions{})
	before := mustSync(t, mustFolder(t, u, Inbox))
	list := filepath.Join(userDir(s), uidlistName)
	fh, err := os.OpenFile(list, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh.WriteString("2 1700000000.half-writ") // a writer died here
	fh.Close()
	deliver(t, u, "2\n", DeliverOptions{})
	after := mustSync(t, mustFolder(t, u, Inbox))
	if len(after.Messages) != 2 || after.Messages[0].UID != before.Messages[0].UID || after.Messages[1].UID != 2 {
		t.Fatalf("after a half-written line: %+v", after.Messages)
	}
	data, _ := os.ReadFile(list)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "2 ") || strings.Contains(string(data), "half-writ") {
		t.Fatalf("uidlist after append:\n%s", data)
	}
}

func TestUIDListCompactionAndTombstones(t *testing.T) {
	s, u := newUser(t)
	ctx := context.Background()
	for i := 0; i < 10; i++ {
		deliver(t, u, fmt.Sprintf("%d\n", i), DeliverOptions{})
	}
	f := mustFolder(t, u, Inbox)
	snap := mustSync(t, f)
	var gone []uint32
	for _, m := range snap.Messages[:8] {
		gone = append(gone, m.UID)
	}
	if err := f.Expunge(ctx, gone); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(userDir(s), uidlistName))
	if n := strings.Count(string(data), "\n"); n != 3 {
		t.Fatalf("uidlist not compacted (%d lines):\n%s", n, data)
	}
	again := mustSync(t, mustFolder(t, u, Inbox))
	if again.UIDValidity != snap.UIDValidity || again.UIDNext != 11 || len(again.Messages) != 2 ||
		again.Messages[0].UID != 9 || again.Messages[1].UID != 10 {
		t.Fatalf("after compaction: V %d next %d %+v", again.UIDValidity, again.UIDNext, again.Messages)
	}
	// A key that comes back after it was gone gets a new UID.
	m := again.Messages[0]
	aside := filepath.Join(t.TempDir(), "aside")
	os.Rename(filepath.Join(userDir(s), m.Name), aside)
	if n := len(mustSync(t, f).Messages); n != 1 {
		t.Fatalf("%d messages with one moved away", n)
	}
	os.Rename(aside, filepath.Join(userDir(s), m.Name))
	back := mustSync(t, mustFolder(t, u, Inbox))
	if len(back.Messages) != 2 || back.Messages[1].Key != m.Key || back.Messages[1].UID != 11 {
		t.Fatalf("returning message: %+v, want it as UID 11", back.Messages)
	}
}

func TestUIDValidity(t *testing.T) {
	s, u := newUser(t)
	seen := map[uint32]bool{}
	for i := 0; i < 3; i++ {
		if err := u.CreateFolder("Tmp"); err != nil {
			t.Fatal(err)
		}
		v := mustSync(t, mustFolder(t, u, "Tmp")).UIDValidity
		if seen[v] {
			t.Fatalf("UIDVALIDITY %d reused after re-creating the folder", v)
		}
		seen[v] = true
		if err := u.DeleteFolder("Tmp"); err != nil {
			t.Fatal(err)
		}
	}
	// A broken header is an error, never a silent new UIDVALIDITY.
	mustSync(t, mustFolder(t, u, Inbox))
	list := filepath.Join(userDir(s), uidlistName)
	os.WriteFile(list, []byte("garbage\n"), 0o600)
	if _, err := mustFolder(t, u, Inbox).Sync(context.Background()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Sync with a broken header: %v, want ErrCorrupt", err)
	}
}

// Re-syncing an unchanged folder skips the scan — but only once the last
// look was over a second after the last change.
func TestSyncSkipsScan(t *testing.T) {
	s, u := newUser(t)
	deliver(t, u, "x\n", DeliverOptions{})
	f := mustFolder(t, u, Inbox)
	mustSync(t, f) // gives UIDs and moves to cur/: changes of its own
	m := mustSync(t, f).Messages[0]
	cur := filepath.Join(userDir(s), "cur")
	st, _ := os.Stat(cur)
	// A foreign flag change that restores cur/'s mtime afterwards: only a
	// scan can see it.
	os.Rename(filepath.Join(userDir(s), m.Name), filepath.Join(cur, m.Key+":2,S"))
	os.Chtimes(cur, st.ModTime(), st.ModTime())

	f.stamp.at = f.stamp.at.Add(2 * time.Second) // pretend we looked long after the change
	if got := mustSync(t, f).Messages[0].Flags; got != "" {
		t.Fatalf("settled and unchanged: flags %q, want the cached \"\" (no scan)", got)
	}
	f.stamp.at = f.stamp.at.Add(-2 * time.Second)
	if got := mustSync(t, f).Messages[0].Flags; got != "S" {
		t.Fatalf("look within a second of the change: flags %q, want a rescan to find S", got)
	}
}

// Messages written by other programs (no S=/W=) get sizes and dates from
// the file, once; later sessions read them from the cache.
func TestForeignMessageCache(t *testing.T) {
	s, u := newUser(t)
	p := filepath.Join(userDir(s), "cur", "1600000000.foreign.host:2,S")
	content := "a\r\nb\nc\n"
	os.WriteFile(p, []byte(content), 0o600)
	date := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	os.Chtimes(p, date, date)
	m := mustSync(t, mustFolder(t, u, Inbox)).Messages[0]
	if m.Size != 7 || m.CRLFSize != 9 || !m.InternalDate.Equal(date) || m.Flags != "S" {
		t.Fatalf("foreign message: %+v", m)
	}
	later := date.Add(time.Hour)
	os.Chtimes(p, later, later) // INTERNALDATE must not follow
	m2 := mustSync(t, mustFolder(t, u, Inbox)).Messages[0]
	if !m2.InternalDate.Equal(date) || m2.CRLFSize != 9 {
		t.Fatalf("second session: %+v, want the cached date %v", m2, date)
	}
	cache, _ := os.ReadFile(filepath.Join(userDir(s), cacheName))
	if !strings.Contains(string(cache), fmt.Sprintf("1 %d 7 9\n", date.UnixNano())) {
		t.Fatalf("cache file:\n%s", cache)
	}
}

func TestFolderManagement(t *testing.T) {
	s, u := newUser(t)
	ctx := context.Background()
	for _, n := range []string{"Lists", "Lists/Go", "Lists/Go/Nuts", "Listsx", "a.b", "Ünï"} {
		if err := u.CreateFolder(n); err != nil {
			t.Fatalf("CreateFolder(%q): %v", n, err)
		}
	}
	if err := u.CreateFolder("Lists"); !errors.Is(err, ErrFolderExists) {
		t.Errorf("CreateFolder twice: %v", err)
	}
	if err := u.CreateFolder("inbox"); !errors.Is(err, ErrFolderExists) {
		t.Errorf("CreateFolder(inbox): %v", err)
	}
	if _, err := os.Stat(filepath.Join(userDir(s), ".Lists.Go", "maildirfolder")); err != nil {
		t.Errorf("maildirfolder marker: %v", err)
	}
	deliver(t, u, "go\n", DeliverOptions{Folder: "Lists/Go"})
	v := mustSync(t, mustFolder(t, u, "Lists/Go")).UIDValidity

	if err := u.RenameFolder("Lists", "Archive"); !errors.Is(err, ErrFolderExists) {
		t.Errorf("rename onto an existing folder: %v", err)
	}
	if err := u.RenameFolder("Lists", "Mail/Lists"); err != nil {
		t.Fatal(err)
	}
	got, err := u.Folders()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"INBOX", "Archive", "Drafts", "Junk", "Listsx", "Mail/Lists", "Mail/Lists/Go", "Mail/Lists/Go/Nuts", "Sent", "Trash", "a.b", "Ünï"}
	if !slices.Equal(got, want) {
		t.Fatalf("Folders() = %v\nwant %v", got, want)
	}
	snap := mustSync(t, mustFolder(t, u, "Mail/Lists/Go"))
	if snap.UIDValidity != v || len(snap.Messages) != 1 || snap.Messages[0].UID != 1 {
		t.Fatalf("renamed folder lost its UIDs: %+v", snap)
	}
	if err := u.DeleteFolder("Mail/Lists"); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Folder("Mail/Lists"); !errors.Is(err, ErrNoFolder) {
		t.Errorf("deleted folder opens: %v", err)
	}
	if _, err := u.Folder("Mail/Lists/Go"); err != nil {
		t.Errorf("child of a deleted folder: %v", err)
	}
	if err := u.DeleteFolder("INBOX"); !errors.Is(err, ErrInbox) {
		t.Errorf("DeleteFolder(INBOX): %v", err)
	}
	if err := u.DeleteFolder("Nope"); !errors.Is(err, ErrNoFolder) {
		t.Errorf("DeleteFolder(Nope): %v", err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(userDir(s), "mailctl-deleting-*")); len(leftovers) != 0 {
		t.Errorf("left behind: %v", leftovers)
	}

	// Renaming INBOX moves its messages to the new folder.
	deliver(t, u, "one\n", DeliverOptions{})
	deliver(t, u, "two\n", DeliverOptions{})
	if err := u.RenameFolder("INBOX", "Old"); err != nil {
		t.Fatal(err)
	}
	if n := len(mustSync(t, mustFolder(t, u, Inbox)).Messages); n != 0 {
		t.Errorf("INBOX has %d messages after RENAME", n)
	}
	if n := len(mustSync(t, mustFolder(t, u, "Old")).Messages); n != 2 {
		t.Errorf("Old has %d messages, want 2", n)
	}
	_ = ctx
}

func TestCreateRemoveUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test checks chown and runs as root (as `make test` does)")
	}
	dir := t.TempDir()
	s, err := Open(dir, Options{UID: 65534, GID: 65534})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for i := 0; i < 2; i++ { // idempotent
		if err := s.CreateUser(ctx, bob); err != nil {
			t.Fatalf("CreateUser #%d: %v", i+1, err)
		}
	}
	ud := filepath.Join(dir, "example.org", "bob")
	for _, d := range []string{"", "cur", "new", "tmp", ".Sent", ".Drafts/cur", ".Trash/new", ".Junk/tmp", ".Archive"} {
		st, err := os.Stat(filepath.Join(ud, d))
		if err != nil {
			t.Fatal(err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm() != 0o700 || sys.Uid != 65534 || sys.Gid != 65534 {
			t.Errorf("%s: mode %o owner %d:%d, want 0700 65534:65534", d, st.Mode().Perm(), sys.Uid, sys.Gid)
		}
	}
	if !s.UserExists(bob) || s.UserExists(addrMust("nobody@example.org")) {
		t.Error("UserExists")
	}
	u, err := s.User(bob)
	if err != nil {
		t.Fatal(err)
	}
	key := deliver(t, u, "x\n", DeliverOptions{})
	st, _ := os.Stat(filepath.Join(ud, "new", key))
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 65534 {
		t.Errorf("delivered file owned by %d", sys.Uid)
	}
	u.Close()
	if err := s.RemoveUser(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if s.UserExists(bob) {
		t.Error("user still exists")
	}
	if left := listDir(t, filepath.Join(dir, "example.org")); len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
	if err := s.RemoveUser(ctx, bob); !errors.Is(err, ErrNoUser) {
		t.Errorf("RemoveUser twice: %v", err)
	}
	if _, err := s.User(bob); !errors.Is(err, ErrNoUser) {
		t.Errorf("User after removal: %v", err)
	}
}

// Symlinks can't lead a store operation out of the user's directory.
func TestSymlinkEscape(t *testing.T) {
	s, u := newUser(t)
	ctx := context.Background()
	outside := t.TempDir()
	for _, sub := range []string{"cur", "new", "tmp"} {
		os.Mkdir(filepath.Join(outside, sub), 0o700)
	}
	ud := userDir(s)

	// A folder that is a symlink to a Maildir elsewhere (absolute, then relative).
	os.Symlink(outside, filepath.Join(ud, ".Evil"))
	rel, _ := filepath.Rel(ud, outside)
	os.Symlink(rel, filepath.Join(ud, ".Evil2"))
	for _, name := range []string{"Evil", "Evil2"} {
		if _, err := u.Deliver(ctx, strings.NewReader("x\n"), DeliverOptions{Folder: name}); err == nil {
			t.Errorf("delivered through symlinked folder %s", name)
		}
		if _, err := u.Folder(name); err == nil {
			t.Errorf("opened symlinked folder %s", name)
		}
	}
	// tmp/ pointing outside.
	os.Rename(filepath.Join(ud, "tmp"), filepath.Join(ud, "tmp.real"))
	os.Symlink(filepath.Join(outside, "tmp"), filepath.Join(ud, "tmp"))
	if _, err := u.Deliver(ctx, strings.NewReader("x\n"), DeliverOptions{}); err == nil {
		t.Error("delivered through a symlinked tmp/")
	}
	for _, sub := range []string{"cur", "new", "tmp"} {
		if n := listDir(t, filepath.Join(outside, sub)); len(n) != 0 {
			t.Fatalf("wrote outside the Maildir: %s/%v", sub, n)
		}
	}
	// Folders() lists no symlinked folder.
	names, _ := u.Folders()
	if slices.Contains(names, "Evil") || slices.Contains(names, "Evil2") {
		t.Errorf("Folders() lists symlinks: %v", names)
	}

	// A user directory that is a symlink (to another user's) is refused.
	if err := s.CreateUser(ctx, addrMust("alice@example.org")); err != nil {
		t.Fatal(err)
	}
	os.Symlink("alice", filepath.Join(s.Dir(), "example.org", "mallory"))
	if _, err := s.User(addrMust("mallory@example.org")); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("User through a symlink: %v, want ErrUnsafePath", err)
	}
	os.Symlink(filepath.Join(s.Dir(), "example.org"), filepath.Join(s.Dir(), "evil.example"))
	if _, err := s.User(addrMust("alice@evil.example")); !errors.Is(err, ErrUnsafePath) {
		t.Errorf("User through a symlinked domain: %v, want ErrUnsafePath", err)
	}
}

// A session that read the UID list, then a compaction elsewhere, then a
// new list that happens to get the old inode back (ext4 reuses freed inode
// numbers at once): the session must notice it is another file.
func TestUIDListReplacedWithSameInode(t *testing.T) {
	s, u := newUser(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		deliver(t, u, fmt.Sprintf("%d\n", i), DeliverOptions{})
	}
	a := mustFolder(t, u, Inbox)
	mustSync(t, a)
	list := filepath.Join(userDir(s), uidlistName)
	keep := filepath.Join(userDir(s), "keep-inode")
	if err := os.Link(list, keep); err != nil { // hold a's inode
		t.Fatal(err)
	}
	b := mustFolder(t, u, Inbox)
	snap := mustSync(t, b)
	if err := b.Expunge(ctx, []uint32{1, 2, 3, 4}); err != nil { // compacts
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		deliver(t, u, fmt.Sprintf("more %d\n", i), DeliverOptions{})
	}
	mustSync(t, b)
	// Put the new content into a's old inode and that inode back in place.
	content, _ := os.ReadFile(list)
	if err := os.WriteFile(keep, content, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keep, list); err != nil {
		t.Fatal(err)
	}
	want := mustSync(t, mustFolder(t, u, Inbox))
	got := mustSync(t, a)
	if len(got.Messages) != 11 || len(want.Messages) != 11 {
		t.Fatalf("got %d messages, fresh view %d, want 11", len(got.Messages), len(want.Messages))
	}
	for i := range want.Messages {
		if got.Messages[i].UID != want.Messages[i].UID || got.Messages[i].Key != want.Messages[i].Key {
			t.Fatalf("message %d: %d %s, fresh view %d %s", i, got.Messages[i].UID, got.Messages[i].Key,
				want.Messages[i].UID, want.Messages[i].Key)
		}
	}
	if got.Messages[0].UID != snap.Messages[4].UID || got.UIDNext != 16 {
		t.Fatalf("UIDs changed: first %d (was %d), next %d", got.Messages[0].UID, snap.Messages[4].UID, got.UIDNext)
	}
}

// A read-only look, then a read-write Sync on the same Folder with nothing
// changed in between: the second must still claim \Recent and move new/.
func TestReadOnlyThenSelect(t *testing.T) {
	s, u := newUser(t)
	deliver(t, u, "x\n", DeliverOptions{})
	f := mustFolder(t, u, Inbox)
	for i := 0; i < 2; i++ { // the second look is settled-free but unchanged
		if _, err := f.SyncWith(context.Background(), SyncOptions{ReadOnly: true}); err != nil {
			t.Fatal(err)
		}
	}
	f.stamp.at = f.stamp.at.Add(2 * time.Second) // as if long after the change
	snap := mustSync(t, f)
	if snap.FirstRecent != 1 || !strings.HasPrefix(snap.Messages[0].Name, "cur/") {
		t.Fatalf("Sync after read-only looks: FirstRecent %d, %s", snap.FirstRecent, snap.Messages[0].Name)
	}
	if n := listDir(t, filepath.Join(userDir(s), "new")); len(n) != 0 {
		t.Fatalf("new/ still holds %v", n)
	}
	// Unchanged and settled: the very same Snapshot comes back.
	again := mustSync(t, f)
	f.stamp.at = f.stamp.at.Add(2 * time.Second)
	if third := mustSync(t, f); third != mustSync(t, f) || again.UIDValidity != third.UIDValidity {
		t.Fatal("an unchanged folder built a new Snapshot")
	}
}

// BenchmarkSync10k measures opening a 10,000-message folder in a fresh
// Folder (a new session: UID list, cache and directory read, no stats) and
// re-syncing an unchanged one.
func BenchmarkSync10k(b *testing.B) {
	s, u := newUser(b)
	cur := filepath.Join(userDir(s), "cur")
	body := []byte(strings.Repeat("x", 99) + "\n")
	for i := 0; i < 10000; i++ {
		key := withSizes(s.uniqueName(time.Now()), 100, 101)
		if err := os.WriteFile(filepath.Join(cur, curName(key, "S")), body, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	if n := len(mustSync(b, mustFolder(b, u, Inbox)).Messages); n != 10000 {
		b.Fatalf("%d messages", n)
	}
	b.Run("reopen", func(b *testing.B) {
		for b.Loop() {
			mustSync(b, mustFolder(b, u, Inbox))
		}
	})
	b.Run("unchanged", func(b *testing.B) {
		f := mustFolder(b, u, Inbox)
		mustSync(b, f)
		f.stamp.at = f.stamp.at.Add(2 * time.Second) // as if a second had passed
		for b.Loop() {
			mustSync(b, f)
		}
	})
}
