package imapd

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"mailctl/lib/maildir"
)

// TestRecent: a new message is \Recent for exactly one session — the
// first to see it with SELECT or a poll — and EXAMINE claims nothing
// (RFC 3501 §2.3.2).
func TestRecent(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(bob, "", testMessage("old", "x"))

	// EXAMINE sees it as recent but leaves it for the next SELECT.
	ex := dialRaw(t, ts.addr)
	ex.login()
	if un, _ := ex.cmd("EXAMINE INBOX"); !slices.Contains(un, "* 1 RECENT") {
		t.Fatalf("EXAMINE: %v", un)
	}
	a := dialRaw(t, ts.addr)
	a.login()
	if un, _ := a.cmd("SELECT INBOX"); !slices.Contains(un, "* 1 RECENT") {
		t.Fatalf("first SELECT: %v", un)
	}
	b := dialRaw(t, ts.addr)
	b.login()
	if un, _ := b.cmd("SELECT INBOX"); !slices.Contains(un, "* 0 RECENT") {
		t.Fatalf("second SELECT: %v", un)
	}

	// A delivery: whoever polls first gets it.
	ts.deliver(bob, "", testMessage("new", "y"))
	un, _ := b.cmd("NOOP")
	if !slices.Contains(un, "* 2 EXISTS") || !slices.Contains(un, "* 1 RECENT") {
		t.Fatalf("b NOOP: %v", un)
	}
	un, _ = a.cmd("NOOP")
	if !slices.Contains(un, "* 2 EXISTS") || !slices.Contains(un, "* 1 RECENT") {
		t.Fatalf("a NOOP: %v (a keeps its own recent message 1)", un)
	}
	un, _ = a.cmd("SEARCH RECENT")
	if !slices.Contains(un, "* SEARCH 1") {
		t.Errorf("a SEARCH RECENT: %v", un)
	}
	un, _ = b.cmd("FETCH 1:2 (FLAGS)")
	if strings.Join(un, "\n") != "* 1 FETCH (FLAGS ())\n* 2 FETCH (FLAGS (\\Recent))" {
		t.Errorf("b FETCH FLAGS: %v", un)
	}
	// With IMAP4rev2 enabled there is no \Recent at all.
	c := dialRaw(t, ts.addr)
	c.login()
	c.cmd("ENABLE IMAP4rev2")
	ts.deliver(bob, "", testMessage("third", "z"))
	un, _ = c.cmd("SELECT INBOX")
	for _, l := range un {
		if strings.Contains(l, "RECENT") {
			t.Errorf("IMAP4rev2 SELECT: %q", l)
		}
	}
	un, _ = c.cmd("FETCH 3 (FLAGS)")
	if strings.Contains(strings.Join(un, ""), `\Recent`) {
		t.Errorf("IMAP4rev2 FETCH: %v", un)
	}
}

// TestIdleSeesOthers: a client in IDLE is told about a delivery, a flag
// change and an expunge made by others (another session, and another
// Store as another process would).
func TestIdleSeesOthers(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(bob, "", testMessage("one", "1"))
	ts.deliver(bob, "", testMessage("two", "2"))
	var mu sync.Mutex
	var events []string
	note := func(s string) {
		mu.Lock()
		events = append(events, s)
		mu.Unlock()
	}
	has := func(s string) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.ContainsFunc(events, func(e string) bool { return strings.HasPrefix(e, s) })
	}
	c := ts.client(&imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { note("expunge " + itoa(seq)) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				note("exists " + itoa(*d.NumMessages))
			}
		},
		Fetch: func(m *imapclient.FetchMessageData) {
			for {
				item := m.Next()
				if item == nil {
					return
				}
				if fl, ok := item.(imapclient.FetchItemDataFlags); ok {
					var names []string
					for _, f := range fl.Flags {
						names = append(names, string(f))
					}
					note("flags " + itoa(m.SeqNum) + " " + strings.Join(names, ","))
				}
			}
		},
	}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	idle, err := c.Idle()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)

	ts.deliver(bob, "", testMessage("three", "3"))
	waitUntil(t, "EXISTS 3", func() bool { return has("exists 3") })

	// Another session flags message 1 and deletes message 2.
	other := ts.client(nil)
	if _, err := other.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := other.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "FETCH FLAGS of 1", func() bool { return has(`flags 1 \Flagged`) })
	if err := other.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := other.Expunge().Close(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "EXPUNGE 2", func() bool { return has("expunge 2") })

	// Another process (a Store of its own) sets \Seen on what is now 2.
	u := ts.user(bob)
	f, err := u.Folder(maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := f.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.SetFlags(context.Background(), snap.Messages[1].UID, "S", nil); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "FETCH FLAGS of 2", func() bool { return has(`flags 2 \Seen`) })

	if err := idle.Close(); err != nil {
		t.Fatal(err)
	}
	if err := idle.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := c.Mailbox().NumMessages; n != 2 {
		t.Errorf("the client counts %d messages, want 2", n)
	}
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
