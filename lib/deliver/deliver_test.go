package deliver

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailctl/lib/addr"
	"mailctl/lib/aliases"
	"mailctl/lib/maildir"
	"mailctl/lib/userdb"
)

func TestScanHeader(t *testing.T) {
	msg := "Received: from a\n by b\nreceived: from c\nDelivered-To: Bob@Example.TEST\n" +
		"Subject: x\n\tDelivered-To: folded@example.test\n\nDelivered-To: body@example.test\nReceived: body\n"
	h := scanHeader([]byte(msg))
	if h.received != 2 {
		t.Errorf("received = %d, want 2 (header only, any case)", h.received)
	}
	if !h.deliveredTo[addr.MustParse("bob@example.test")] {
		t.Error("Delivered-To not found")
	}
	if h.deliveredTo[addr.MustParse("body@example.test")] || h.deliveredTo[addr.MustParse("folded@example.test")] {
		t.Error("Delivered-To read from the body or a continuation line")
	}
	crlf := scanHeader([]byte("Delivered-To: a@example.test\r\n\r\nbody"))
	if !crlf.deliveredTo[addr.MustParse("a@example.test")] {
		t.Error("CRLF header not parsed")
	}
}

type users map[addr.Address]userdb.User

func (u users) Lookup(a addr.Address) (userdb.User, bool, error) {
	x, ok := u[a]
	return x, ok, nil
}

// TestOneCopyPerUser: a user reached directly and through an alias in the
// same transaction gets one copy, and both recipients succeed.
func TestOneCopyPerUser(t *testing.T) {
	dir := t.TempDir()
	store, err := maildir.Open(filepath.Join(dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	bob := addr.MustParse("bob@example.test")
	if err := store.CreateUser(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	aliasFile := filepath.Join(dir, "aliases")
	os.WriteFile(aliasFile, []byte("team@example.test: bob@example.test, carol@remote.example\n"), 0o644)
	var queued []addr.Address
	d := New(Options{
		Store:       store,
		Users:       users{bob: {Address: bob}},
		Aliases:     aliases.Open(aliasFile),
		LocalDomain: func(d string) (bool, error) { return d == "example.test", nil },
		Remote: func(_ context.Context, _ addr.Address, rcpts []addr.Address, msg []byte) error {
			queued = append(queued, rcpts...)
			return nil
		},
	})
	res := d.Deliver(context.Background(), Envelope{Recipients: []addr.Address{bob, addr.MustParse("team@example.test"), addr.MustParse("nobody@example.test")}},
		strings.NewReader("Subject: hi\n\nbody\n"), 1<<20)
	if res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("results: %+v %+v", res[0].Err, res[1].Err)
	}
	if res[2].Err == nil || res[2].Err.Kind != KindUnknownUser {
		t.Fatalf("unknown recipient: %+v", res[2].Err)
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "mail", "example.test", "bob", "new"))
	if len(ents) != 1 {
		t.Errorf("%d copies for bob, want 1", len(ents))
	}
	if len(queued) != 1 || queued[0].String() != "carol@remote.example" {
		t.Errorf("queued %v, want carol@remote.example", queued)
	}
	// Too large.
	res = d.Deliver(context.Background(), Envelope{Recipients: []addr.Address{bob}}, strings.NewReader(strings.Repeat("x", 2000)), 1000)
	if res[0].Err == nil || res[0].Err.Kind != KindBadMessage {
		t.Errorf("oversized message: %+v", res[0].Err)
	}
}

func TestErrorReplies(t *testing.T) {
	for kind, want := range map[Kind]int{KindUnknownUser: 550, KindLoop: 554, KindDisabled: 550, KindOverQuota: 552, KindTemporary: 451} {
		code, _, _ := (&Error{Kind: kind, Msg: "x"}).SMTP()
		if code != want {
			t.Errorf("kind %d: code %d, want %d", kind, code, want)
		}
	}
	code, enh, _ := classifyWrite(maildir.ErrQuotaExceeded, false).SMTP()
	if code != 452 || enh != [3]int{4, 2, 2} {
		t.Errorf("over quota (tempfail): %d %v, want 452 4.2.2", code, enh)
	}
}

// TestFolder: Envelope.Folder files the copy there (created when missing),
// not in INBOX.
func TestFolder(t *testing.T) {
	dir := t.TempDir()
	store, err := maildir.Open(filepath.Join(dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	bob := addr.MustParse("bob@example.test")
	if err := store.CreateUser(context.Background(), bob); err != nil {
		t.Fatal(err)
	}
	d := New(Options{
		Store: store, Users: users{bob: {Address: bob}}, Aliases: aliases.Open(filepath.Join(dir, "aliases")),
		LocalDomain: func(d string) (bool, error) { return d == "example.test", nil },
	})
	for i := range 2 { // the first creates Junk, the second finds it
		res := d.Deliver(context.Background(), Envelope{Recipients: []addr.Address{bob}, Folder: "Junk"}, strings.NewReader("Subject: spam\n\nx\n"), 0)
		if res[0].Err != nil {
			t.Fatalf("delivery %d: %v", i, res[0].Err)
		}
	}
	junk, _ := os.ReadDir(filepath.Join(dir, "mail", "example.test", "bob", ".Junk", "new"))
	inbox, _ := os.ReadDir(filepath.Join(dir, "mail", "example.test", "bob", "new"))
	if len(junk) != 2 || len(inbox) != 0 {
		t.Errorf("Junk has %d, INBOX %d; want 2 and 0", len(junk), len(inbox))
	}
}

// TestPerUser: Envelope.PerUser picks each expanded user's folder and
// header fields; an alias reaching two users gives each their own copy.
func TestPerUser(t *testing.T) {
	dir := t.TempDir()
	store, err := maildir.Open(filepath.Join(dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	bob, carol := addr.MustParse("bob@example.test"), addr.MustParse("carol@example.test")
	aliasFile := filepath.Join(dir, "aliases")
	os.WriteFile(aliasFile, []byte("team@example.test: bob@example.test, carol@example.test\n"), 0o644)
	d := New(Options{
		Store: store, Users: users{bob: {Address: bob}, carol: {Address: carol}}, Aliases: aliases.Open(aliasFile),
		LocalDomain: func(d string) (bool, error) { return d == "example.test", nil },
	})
	env := Envelope{Recipients: []addr.Address{addr.MustParse("team@example.test")}, Folder: "Ignored",
		PerUser: func(u addr.Address) (string, []string) {
			if u == bob {
				return "Junk", []string{"X-Spam-Status: Yes", "X-Bad: a\r\nInjected: b"}
			}
			return "", []string{"X-Spam-Status: No"}
		}}
	if res := d.Deliver(context.Background(), env, strings.NewReader("Subject: hi\n\nx\n"), 0); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	for _, c := range []struct {
		dir, want string
	}{
		{filepath.Join("bob", ".Junk", "new"), "X-Spam-Status: Yes"},
		{filepath.Join("carol", "new"), "X-Spam-Status: No"},
	} {
		ents, _ := filepath.Glob(filepath.Join(dir, "mail", "example.test", c.dir, "*"))
		if len(ents) != 1 {
			t.Fatalf("%s has %d messages, want 1", c.dir, len(ents))
		}
		b, _ := os.ReadFile(ents[0])
		if !strings.Contains(string(b), "Delivered-To: ") || !strings.Contains(string(b), c.want+"\n") || strings.Contains(string(b), "Injected") {
			t.Errorf("%s:\n%s", c.dir, b)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, "mail", "example.test", "*", ".Ignored")); len(ents) != 0 {
		t.Errorf("Folder used despite PerUser: %v", ents)
	}
}

// TestLocalOnly: spam (LocalOnly) reaches local alias targets only; the
// remote one is dropped, not queued, and the recipient succeeds.
func TestLocalOnly(t *testing.T) {
	dir := t.TempDir()
	store, err := maildir.Open(filepath.Join(dir, "mail"), maildir.Options{UID: -1, GID: -1, Hostname: "mx.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	bob := addr.MustParse("bob@example.test")
	aliasFile := filepath.Join(dir, "aliases")
	os.WriteFile(aliasFile, []byte("team@example.test: bob@example.test, carol@remote.example\n"), 0o644)
	fl := 0
	d := New(Options{
		Store: store, Users: users{bob: {Address: bob}}, Aliases: aliases.Open(aliasFile),
		LocalDomain: func(d string) (bool, error) { return d == "example.test", nil },
		Remote:      func(context.Context, addr.Address, []addr.Address, []byte) error { fl++; return nil },
	})
	for _, localOnly := range []bool{true, false} {
		res := d.Deliver(context.Background(), Envelope{Recipients: []addr.Address{addr.MustParse("team@example.test")}, LocalOnly: localOnly},
			strings.NewReader("Subject: x\n\nx\n"), 0)
		if res[0].Err != nil {
			t.Fatal(res[0].Err)
		}
	}
	if fl != 1 {
		t.Errorf("forwarded %d times, want 1 (not for LocalOnly)", fl)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "mail", "example.test", "bob", "new")); len(ents) != 2 {
		t.Errorf("bob has %d, want 2", len(ents))
	}
}
