package maildir

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestSnapshotSharesMessages: Syncs that differ only in their \Recent
// claim share one Messages slice (and Version); a change makes a new one.
func TestSnapshotSharesMessages(t *testing.T) {
	_, u := newUser(t)
	deliver(t, u, "Subject: a\n\nx\n", DeliverOptions{})
	f := mustFolder(t, u, Inbox)
	s1 := mustSync(t, f)
	time.Sleep(100 * time.Millisecond) // let the stamp settle so the next Sync skips the scan
	s2, err := f.SyncWith(context.Background(), SyncOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if s1.Version == 0 || s1.Version != s2.Version || &s1.Messages[0] != &s2.Messages[0] {
		t.Fatalf("versions %d/%d: an unchanged folder should share its messages", s1.Version, s2.Version)
	}
	if s1.FirstRecent == s2.FirstRecent {
		t.Fatalf("FirstRecent %d in both: the test should compare different claims", s1.FirstRecent)
	}
	if err := f.SetFlags(context.Background(), s1.Messages[0].UID, "S", nil); err != nil {
		t.Fatal(err)
	}
	s3 := mustSync(t, f)
	if s3.Version == s1.Version || s3.Messages[0].Flags != "S" {
		t.Fatalf("after a flag change: version %d (was %d), flags %q", s3.Version, s1.Version, s3.Messages[0].Flags)
	}
}

func TestMsgCache(t *testing.T) {
	ctx := context.Background()
	s, u := newUser(t)
	for i := range 3 {
		deliver(t, u, fmt.Sprintf("Subject: %d\n\nx\n", i), DeliverOptions{})
	}
	f := mustFolder(t, u, Inbox)
	snap := mustSync(t, f)
	m := snap.Messages
	look := func(f *Folder, msg Message) string {
		var got string
		if !f.CacheLookup(msg, func(b []byte) { got = string(b) }) {
			return "<miss>"
		}
		return got
	}
	f.CacheRefresh()
	if got := look(f, m[0]); got != "<miss>" {
		t.Fatalf("empty cache gave %q", got)
	}
	data := []byte("binary\x00data\nwith newlines\n")
	if err := f.CacheStore(ctx, []CacheRecord{{UID: m[0].UID, Key: m[0].Key, Data: data}, {UID: m[1].UID, Key: m[1].Key, Data: []byte("one")}}); err != nil {
		t.Fatal(err)
	}
	if got := look(f, m[0]); got != string(data) {
		t.Fatalf("lookup = %q, want %q", got, data)
	}
	// A record for a UID whose key differs is not used.
	if got := look(f, Message{UID: m[0].UID, Key: "other"}); got != "<miss>" {
		t.Fatalf("lookup with a wrong key = %q", got)
	}

	// Another process (another Folder) sees it, and its appends reach us.
	u2, err := s.User(bob)
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	f2 := mustFolder(t, u2, Inbox)
	defer f2.Close()
	mustSync(t, f2)
	f2.CacheRefresh()
	if got := look(f2, m[1]); got != "one" {
		t.Fatalf("second folder: %q", got)
	}
	if err := f2.CacheStore(ctx, []CacheRecord{{UID: m[1].UID, Key: m[1].Key, Data: []byte("two")}, {UID: m[2].UID, Key: m[2].Key, Data: []byte("three")}}); err != nil {
		t.Fatal(err)
	}
	f.CacheRefresh()
	if got := look(f, m[1]); got != "two" {
		t.Fatalf("superseding record: %q", got)
	}
	if got := look(f, m[2]); got != "three" {
		t.Fatalf("appended by another: %q", got)
	}

	// A half-written tail (a writer that died) is ignored, then replaced.
	p := filepath.Join(userDir(s), msgCacheName)
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(fh, "%d %s 100\npartial", m[0].UID, m[0].Key)
	fh.Close()
	f.CacheRefresh()
	if got := look(f, m[0]); got != string(data) {
		t.Fatalf("after a torn write: %q", got)
	}
	if err := f.CacheStore(ctx, []CacheRecord{{UID: m[0].UID, Key: m[0].Key, Data: []byte("zero")}}); err != nil {
		t.Fatal(err)
	}
	f2.CacheRefresh()
	for i, want := range []string{"zero", "two", "three"} {
		if got := look(f2, m[i]); got != want {
			t.Errorf("after rewrite, message %d: %q, want %q", i, got, want)
		}
	}
	b, _ := os.ReadFile(p)
	if bytes.Contains(b, []byte("partial")) {
		t.Errorf("torn record survived the rewrite:\n%q", b)
	}

	// Expunged messages' records go at the next compaction; a new
	// UIDVALIDITY voids the cache.
	if err := f.Expunge(ctx, []uint32{m[2].UID}); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := f.CacheStore(ctx, []CacheRecord{{UID: m[1].UID, Key: m[1].Key, Data: []byte("again")}}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ = os.ReadFile(p)
	if n := bytes.Count(b, []byte("again")); n > 80 {
		t.Errorf("cache never compacted: %d superseded records", n)
	}
	if bytes.Contains(b, []byte("three")) {
		t.Errorf("record of an expunged message survived compaction")
	}
	if err := os.Remove(filepath.Join(userDir(s), uidlistName)); err != nil {
		t.Fatal(err)
	}
	f3 := mustFolder(t, u, Inbox)
	defer f3.Close()
	snap3 := mustSync(t, f3)
	f3.CacheRefresh()
	for _, msg := range snap3.Messages {
		if got := look(f3, msg); got != "<miss>" {
			t.Errorf("UID %d under a new UIDVALIDITY hit the old cache: %q", msg.UID, got)
		}
	}
}

func TestWatcher(t *testing.T) {
	for _, inotify := range []bool{true, false} {
		t.Run(fmt.Sprintf("inotify=%v", inotify), func(t *testing.T) {
			_, u := newUser(t)
			w := NewWatcher(WatcherOptions{DisableInotify: !inotify, PollInterval: 100 * time.Millisecond})
			defer w.Close()
			if w.Inotify() != inotify {
				t.Fatalf("Inotify() = %v", w.Inotify())
			}
			f := mustFolder(t, u, Inbox)
			other := mustFolder(t, u, "Sent")
			wt := w.Watch(f)
			wo := w.Watch(other)
			defer wo.Close()
			drain := func(c <-chan struct{}) {
				for {
					select {
					case <-c:
					default:
						return
					}
				}
			}
			drain(wt.C)
			deliver(t, u, "Subject: x\n\nx\n", DeliverOptions{})
			select {
			case <-wt.C:
			case <-time.After(5 * time.Second):
				t.Fatal("no signal after a delivery")
			}
			if inotify {
				select {
				case <-wo.C:
					t.Fatal("a delivery to INBOX signalled Sent")
				case <-time.After(100 * time.Millisecond):
				}
			}
			// A flag change (rename in cur/) signals too.
			snap := mustSync(t, f)
			drain(wt.C)
			if err := f.SetFlags(context.Background(), snap.Messages[0].UID, "S", nil); err != nil {
				t.Fatal(err)
			}
			select {
			case <-wt.C:
			case <-time.After(5 * time.Second):
				t.Fatal("no signal after a flag change")
			}
			wt.Close()
			if inotify {
				w.mu.Lock()
				n := len(w.byWD)
				w.mu.Unlock()
				if n != 2 {
					t.Errorf("%d inotify watches after closing one of two folders, want 2 (Sent's)", n)
				}
			}
		})
	}
}

func TestSubscriptions(t *testing.T) {
	ctx := context.Background()
	_, u := newUser(t)
	all, err := u.Folders()
	if err != nil {
		t.Fatal(err)
	}
	subs, err := u.Subscriptions()
	if err != nil || !slices.Equal(subs, all) {
		t.Fatalf("default subscriptions %v, %v; want every folder %v", subs, err, all)
	}
	if err := u.SetSubscribed(ctx, "Junk", false); err != nil {
		t.Fatal(err)
	}
	if err := u.SetSubscribed(ctx, "Lists/Go", true); err != nil {
		t.Fatal(err)
	}
	if err := u.SetSubscribed(ctx, "Lists/Go/Tools", true); err != nil {
		t.Fatal(err)
	}
	if err := u.RenameSubscriptions(ctx, "Lists", "Groups"); err != nil {
		t.Fatal(err)
	}
	subs, _ = u.Subscriptions()
	want := []string{"Archive", "Drafts", "Groups/Go", "Groups/Go/Tools", "INBOX", "Sent", "Trash"}
	if !slices.Equal(subs, want) {
		t.Fatalf("subscriptions %v, want %v", subs, want)
	}
	if err := u.SetSubscribed(ctx, "../x", true); err == nil {
		t.Fatal("subscribed to an invalid name")
	}
}

// TestSettleWindow: whole-second timestamps need a second of quiet before
// an unchanged stamp proves anything; nanosecond ones 50 ms.
func TestSettleWindow(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		mtime time.Time
		after time.Duration
		want  bool
	}{
		{base, 500 * time.Millisecond, false},
		{base, 1100 * time.Millisecond, true},
		{base.Add(123456789), 30 * time.Millisecond, false},
		{base.Add(123456789), 60 * time.Millisecond, true},
	}
	for _, tt := range tests {
		d := dirStamp{at: tt.mtime.Add(tt.after)}
		d.files[0].mtime = tt.mtime.UnixNano()
		d.files[1].mtime = tt.mtime.Add(-time.Hour).UnixNano()
		if got := d.settled(); got != tt.want {
			t.Errorf("mtime %v, looked %v later: settled %v, want %v", tt.mtime, tt.after, got, tt.want)
		}
	}
}

// TestLazySync: a lazy Sync reads no file, so foreign messages (no S= or
// W= in the name) have unknown sizes and dates until Learn, which records
// them for the next process too.
func TestLazySync(t *testing.T) {
	ctx := context.Background()
	s, u := newUser(t)
	msg := "Subject: foreign\n\nline one\nline two\n"
	mtime := time.Date(2021, 5, 6, 7, 8, 9, 0, time.UTC)
	p := filepath.Join(userDir(s), "cur", "1620000000.foreign.host:2,S")
	if err := os.WriteFile(p, []byte(msg), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(p, mtime, mtime)
	key := deliver(t, u, "Subject: ours\n\nx\n", DeliverOptions{})

	f := mustFolder(t, u, Inbox)
	snap, err := f.SyncWith(ctx, SyncOptions{Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	var foreign, ours Message
	for _, m := range snap.Messages {
		if m.Key == key {
			ours = m
		} else {
			foreign = m
		}
	}
	if foreign.CRLFSize != -1 || !foreign.InternalDate.IsZero() {
		t.Fatalf("lazy sync knows the foreign message: %+v", foreign)
	}
	if ours.CRLFSize != int64(len(msg))-2+4 && ours.CRLFSize < 0 {
		t.Fatalf("our own message's W= ignored: %+v", ours)
	}
	got, err := f.Learn(ctx, []uint32{foreign.UID})
	if err != nil {
		t.Fatal(err)
	}
	d := got[foreign.UID]
	if d.CRLFSize != int64(len(msg)+4) || d.Size != int64(len(msg)) || !d.InternalDate.Equal(mtime) {
		t.Fatalf("Learn = %+v, want sizes %d/%d and %v", d, len(msg), len(msg)+4, mtime)
	}
	// Another process finds it in the cache, without reading the file.
	u2, err := s.User(bob)
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close()
	f2 := mustFolder(t, u2, Inbox)
	snap2, err := f2.SyncWith(ctx, SyncOptions{Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range snap2.Messages {
		if m.UID == foreign.UID && (m.CRLFSize != d.CRLFSize || !m.InternalDate.Equal(mtime)) {
			t.Fatalf("second process: %+v", m)
		}
	}
	// An eager Sync completes what a lazy one left.
	f3 := mustFolder(t, u, Inbox)
	if _, err := f3.SyncWith(ctx, SyncOptions{Lazy: true}); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(userDir(s), cacheName))
	f4 := mustFolder(t, u, Inbox)
	if _, err := f4.SyncWith(ctx, SyncOptions{Lazy: true}); err != nil {
		t.Fatal(err)
	}
	snap4 := mustSync(t, f4)
	for _, m := range snap4.Messages {
		if m.CRLFSize < 0 || m.InternalDate.IsZero() {
			t.Fatalf("eager sync after a lazy one left %+v unknown", m)
		}
	}
}
