package imapd

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
)

// fakeTrainer records what it was taught.
type fakeTrainer struct {
	mu      sync.Mutex
	learned []string // "spam user subject" / "ham user subject"
}

func (f *fakeTrainer) Train(_ context.Context, user string, spam bool, msgs ...[]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	kind := "ham"
	if spam {
		kind = "spam"
	}
	for _, m := range msgs {
		subj := ""
		for l := range strings.SplitSeq(string(m), "\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				subj = s
			}
		}
		f.learned = append(f.learned, kind+" "+user+" "+subj)
	}
	return nil
}

func (f *fakeTrainer) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.learned
	f.learned = nil
	return out
}

func TestTrainKind(t *testing.T) {
	for _, c := range []struct {
		src, dst    string
		spam, train bool
	}{
		{"INBOX", "Junk", true, true},
		{"Archive", "junk", true, true},
		{"Junk", "INBOX", false, true},
		{"Junk", "Archive", false, true},
		{"Junk", "Trash", false, false},
		{"INBOX", "Trash", false, false},
		{"INBOX", "Archive", false, false},
	} {
		spam, train := trainKind(c.src, c.dst)
		if spam != c.spam || train != c.train {
			t.Errorf("trainKind(%q, %q) = %v %v, want %v %v", c.src, c.dst, spam, train, c.spam, c.train)
		}
	}
}

// TestMoveTrains: MOVE into Junk teaches spam, out of Junk ham, to Trash
// nothing; APPEND and COPY never train.
func TestMoveTrains(t *testing.T) {
	tr := &fakeTrainer{}
	ts := newTestServer(t, serverOption(func(o *Options) { o.Trainer = tr }))
	ts.deliver(bob, "", testMessage("cheap pills", "buy"))
	ts.deliver(bob, "", testMessage("lunch", "at noon"))
	c := ts.client(nil)
	for _, f := range []string{"Junk", "Trash", "Archive"} {
		// The standard folders may exist already (CreateUser makes them).
		if err := c.Create(f, nil).Wait(); err != nil && !strings.Contains(err.Error(), "ALREADYEXISTS") {
			t.Fatal(err)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msg := testMessage("appended", "x")
	ac := c.Append("Junk", int64(len(msg)), nil)
	ac.Write([]byte(msg))
	ac.Close()
	if _, err := ac.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(imap.SeqSetNum(2), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := tr.take(); len(got) != 0 {
		t.Fatalf("APPEND/COPY trained %v", got)
	}
	if _, err := c.Move(imap.SeqSetNum(1), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := tr.take(); len(got) != 1 || got[0] != "spam bob@example.org cheap pills" {
		t.Fatalf("MOVE to Junk trained %v", got)
	}
	if _, err := c.Select("Junk", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// Junk holds: appended (1), lunch copy (2), cheap pills (3).
	if _, err := c.Move(imap.SeqSetNum(2), "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := tr.take(); len(got) != 1 || got[0] != "ham bob@example.org lunch" {
		t.Fatalf("MOVE out of Junk trained %v", got)
	}
	if _, err := c.Move(imap.SeqSetNum(1), "Trash").Wait(); err != nil {
		t.Fatal(err)
	}
	if got := tr.take(); len(got) != 0 {
		t.Fatalf("MOVE Junk→Trash trained %v", got)
	}
}

// TestCopyExpungeTrains: clients without MOVE (COPY, STORE \Deleted,
// EXPUNGE) train like MOVE: into Junk spam, out of Junk ham, to Trash
// nothing. A COPY whose source stays, or one expunged in a later
// selection, teaches nothing.
func TestCopyExpungeTrains(t *testing.T) {
	tr := &fakeTrainer{}
	ts := newTestServer(t, serverOption(func(o *Options) { o.Trainer = tr }))
	ts.deliver(bob, "", testMessage("cheap pills", "buy"))
	ts.deliver(bob, "", testMessage("lunch", "at noon"))
	ts.deliver(bob, "", testMessage("casino", "win"))
	c := ts.client(nil)
	for _, f := range []string{"Junk", "Trash", "Archive"} {
		if err := c.Create(f, nil).Wait(); err != nil && !strings.Contains(err.Error(), "ALREADYEXISTS") {
			t.Fatal(err)
		}
	}
	deleteAndExpunge := func(uid imap.UID, useUIDExpunge bool) {
		t.Helper()
		set := imap.UIDSetNum(uid)
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		var err error
		if useUIDExpunge {
			_, err = c.UIDExpunge(set).Collect()
		} else {
			_, err = c.Expunge().Collect()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	copyUID := func(uid imap.UID, dest string) {
		t.Helper()
		if _, err := c.Copy(imap.UIDSetNum(uid), dest).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(what string, want ...string) {
		t.Helper()
		if got := tr.take(); strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s trained %q, want %q", what, got, want)
		}
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	copyUID(1, "Junk")
	expect("COPY alone")
	deleteAndExpunge(1, false)
	expect("COPY to Junk, EXPUNGE", "spam bob@example.org cheap pills")

	copyUID(2, "Archive")
	deleteAndExpunge(2, true)
	expect("COPY INBOX→Archive, UID EXPUNGE")

	// Copied to Junk, but its expunge happens after a new SELECT.
	copyUID(3, "Junk")
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	deleteAndExpunge(3, false)
	expect("COPY, reselect, EXPUNGE")

	// Junk: cheap pills (1), casino (2).
	if _, err := c.Select("Junk", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	copyUID(1, "INBOX")
	copyUID(2, "Trash")
	deleteAndExpunge(2, true)
	expect("COPY Junk→Trash, UID EXPUNGE")
	deleteAndExpunge(1, true)
	expect("COPY out of Junk, UID EXPUNGE", "ham bob@example.org cheap pills")

	// CLOSE expunges too (mutt leaving a folder).
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1), "Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatal(err)
	}
	expect("COPY to Junk, CLOSE", "spam bob@example.org cheap pills")
}
