package imapd

import (
	"crypto/tls"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

func imapCode(err error) imap.ResponseCode {
	var ie *imap.Error
	if errors.As(err, &ie) {
		return ie.Code
	}
	return ""
}

func TestLoginAndServices(t *testing.T) {
	ts := newTestServer(t)
	tests := []struct {
		name, user, pass string
		code             imap.ResponseCode
		text             string
	}{
		{"right password", bob.String(), testPassword, "", ""},
		{"wrong password", bob.String(), "wrong", imap.ResponseCodeAuthenticationFailed, ""},
		{"unknown user", "nobody@example.org", testPassword, imap.ResponseCodeAuthenticationFailed, ""},
		{"POP-only user, wrong password", pop.String(), "wrong", imap.ResponseCodeAuthenticationFailed, ""},
		{"POP-only user, right password", pop.String(), testPassword, imap.ResponseCodeAuthorizationFailed, "may not use IMAP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := imapclient.DialInsecure(ts.addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Login(tt.user, tt.pass).Wait()
			if tt.code == "" {
				if err != nil {
					t.Fatalf("LOGIN: %v", err)
				}
				return
			}
			if imapCode(err) != tt.code || !strings.Contains(errString(err), tt.text) {
				t.Fatalf("LOGIN: %v, want [%s] %q", err, tt.code, tt.text)
			}
		})
	}
	if strings.Contains(ts.logs.String(), testPassword) {
		t.Error("a password reached the log")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestAuthenticatePlain(t *testing.T) {
	ts := newTestServer(t)
	c, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Caps().Has("AUTH=PLAIN") {
		t.Fatalf("AUTH=PLAIN not offered on loopback: %v", c.Caps())
	}
	if err := c.Authenticate(saslPlain("", pop.String(), testPassword)); imapCode(err) != imap.ResponseCodeAuthorizationFailed {
		t.Fatalf("AUTHENTICATE as POP-only user: %v", err)
	}
	if err := c.Authenticate(saslPlain("", bob.String(), "wrong")); imapCode(err) != imap.ResponseCodeAuthenticationFailed {
		t.Fatalf("AUTHENTICATE with a wrong password: %v", err)
	}
	if err := c.Authenticate(saslPlain("", bob.String(), testPassword)); err != nil {
		t.Fatalf("AUTHENTICATE: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestLoginDisabledWithoutTLS(t *testing.T) {
	ts := newTestServer(t, func(o *Options) { o.LoopbackPlaintext = false })
	c, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	caps := c.Caps()
	if !caps.Has(imap.CapLoginDisabled) || !caps.Has(imap.CapStartTLS) || caps.Has("AUTH=PLAIN") {
		t.Fatalf("capabilities before TLS: %v", caps)
	}
	if err := c.Login(bob.String(), testPassword).Wait(); imapCode(err) != imap.ResponseCodePrivacyRequired {
		t.Fatalf("LOGIN without TLS: %v", err)
	}

	// STARTTLS on the same port, then LOGIN works.
	c2, err := imapclient.DialStartTLS(ts.addr, &imapclient.Options{TLSConfig: insecureTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if err := c2.Login(bob.String(), testPassword).Wait(); err != nil {
		t.Fatalf("LOGIN after STARTTLS: %v", err)
	}
	// Implicit TLS.
	c3, err := imapclient.DialTLS(ts.tlsAddr, &imapclient.Options{TLSConfig: insecureTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := c3.Login(bob.String(), testPassword).Wait(); err != nil {
		t.Fatalf("LOGIN over implicit TLS: %v", err)
	}
	if _, err := c3.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestMailboxLifecycle(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(nil)
	for _, name := range []string{"Work", "Work/Projects", "Lists/Go", "Straße"} {
		if err := c.Create(name, nil).Wait(); err != nil {
			t.Fatalf("CREATE %s: %v", name, err)
		}
	}
	if err := c.Create("Work", nil).Wait(); imapCode(err) != imap.ResponseCodeAlreadyExists {
		t.Fatalf("CREATE existing: %v", err)
	}
	for _, bad := range []string{"../../etc", "a/../b", "x/./y", "a//b"} {
		if err := c.Create(bad, nil).Wait(); err == nil {
			t.Errorf("CREATE %q succeeded", bad)
		}
		if _, err := c.Select(bad, nil).Wait(); err == nil {
			t.Errorf("SELECT %q succeeded", bad)
		}
	}
	list, err := c.List("", "*", &imap.ListOptions{ReturnStatus: &imap.StatusOptions{NumMessages: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]imap.MailboxAttr{}
	var names []string
	for _, l := range list {
		got[l.Mailbox] = l.Attrs
		names = append(names, l.Mailbox)
		if l.Delim != '/' {
			t.Errorf("%s: delimiter %q", l.Mailbox, l.Delim)
		}
	}
	want := []string{"INBOX", "Archive", "Drafts", "Junk", "Lists", "Lists/Go", "Sent", "Straße", "Trash", "Work", "Work/Projects"}
	if !slices.Equal(names, want) {
		t.Fatalf("LIST *: %v, want %v", names, want)
	}
	if !slices.Contains(got["Sent"], imap.MailboxAttrSent) || !slices.Contains(got["Trash"], imap.MailboxAttrTrash) {
		t.Errorf("special use missing: Sent %v, Trash %v", got["Sent"], got["Trash"])
	}
	if !slices.Contains(got["Lists"], imap.MailboxAttrNoSelect) || !slices.Contains(got["Work"], imap.MailboxAttrHasChildren) {
		t.Errorf("Lists %v (want \\Noselect), Work %v (want \\HasChildren)", got["Lists"], got["Work"])
	}
	pct, err := c.List("", "%", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range pct {
		if strings.Contains(l.Mailbox, "/") {
			t.Errorf("LIST %% returned %s", l.Mailbox)
		}
	}
	if err := c.Rename("Work", "Job", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status("Job/Projects", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatalf("renamed child: %v", err)
	}
	if err := c.Delete("Job/Projects").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Delete("Job/Projects").Wait(); imapCode(err) != imap.ResponseCodeNonExistent {
		t.Fatalf("DELETE twice: %v", err)
	}
	if err := c.Delete("INBOX").Wait(); err == nil {
		t.Fatal("DELETE INBOX succeeded")
	}

	// Subscriptions.
	if err := c.Unsubscribe("Junk").Wait(); err != nil {
		t.Fatal(err)
	}
	subs, err := c.List("", "*", &imap.ListOptions{SelectSubscribed: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range subs {
		if l.Mailbox == "Junk" {
			t.Error("Junk still listed as subscribed")
		}
	}
	ns, err := c.Namespace().Wait()
	if err != nil || len(ns.Personal) != 1 || ns.Personal[0].Delim != '/' {
		t.Fatalf("NAMESPACE: %+v, %v", ns, err)
	}
}

func TestAppendFetchStoreSearch(t *testing.T) {
	ts := newTestServer(t)
	c := ts.client(nil)
	msg := strings.ReplaceAll(testMessage("hello world", "Body text with a needle in it."), "\n", "\r\n")
	date := time.Date(2020, 3, 4, 5, 6, 7, 0, time.UTC)
	ap := c.Append("INBOX", int64(len(msg)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagFlagged, "$Label1"}, Time: date})
	io.WriteString(ap, msg)
	ap.Close()
	data, err := ap.Wait()
	if err != nil {
		t.Fatalf("APPEND: %v", err)
	}
	if data.UID != 1 || data.UIDValidity == 0 {
		t.Fatalf("APPENDUID %+v", data)
	}
	ts.deliver(bob, "", testMessage("second", "another body"))
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if sel.NumMessages != 2 || sel.UIDValidity != data.UIDValidity {
		t.Fatalf("SELECT: %+v", sel)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1, 2), &imap.FetchOptions{
		UID: true, Flags: true, RFC822Size: true, InternalDate: true, Envelope: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true},
		BodySection: []*imap.FetchItemBodySection{
			{Peek: true},
			{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "From"}},
			{Peek: true, Specifier: imap.PartSpecifierText, Partial: &imap.SectionPartial{Offset: 5, Size: 4}},
		},
	}).Collect()
	if err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	m := msgs[0]
	if m.UID != 1 || m.RFC822Size != int64(len(msg)) || !m.InternalDate.Equal(date) {
		t.Errorf("UID %d size %d (want %d) date %v", m.UID, m.RFC822Size, len(msg), m.InternalDate)
	}
	if !slices.Contains(m.Flags, imap.FlagFlagged) || !slices.Contains(m.Flags, "$Label1") {
		t.Errorf("flags %v", m.Flags)
	}
	if m.Envelope == nil || m.Envelope.Subject != "hello world" || len(m.Envelope.From) != 1 || m.Envelope.From[0].Host != "example.net" {
		t.Errorf("envelope %+v", m.Envelope)
	}
	if bs, ok := m.BodyStructure.(*imap.BodyStructureSinglePart); !ok || bs.Type != "text" {
		t.Errorf("body structure %#v", m.BodyStructure)
	}
	secs := m.BodySection
	if string(secs[0].Bytes) != msg {
		t.Errorf("BODY[] = %q, want %q", secs[0].Bytes, msg)
	}
	if string(secs[1].Bytes) != "From: Alice <alice@example.net>\r\nSubject: hello world\r\n\r\n" {
		t.Errorf("HEADER.FIELDS = %q", secs[1].Bytes)
	}
	if string(secs[2].Bytes) != "text" {
		t.Errorf("TEXT<5.4> = %q", secs[2].Bytes)
	}
	// Same again, now from the cache.
	again, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true, BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil || again[0].Envelope.Subject != "hello world" {
		t.Fatalf("second FETCH: %v %+v", err, again)
	}

	// STORE with keywords; non-silent reply carries the flags.
	st, err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, "Work"}}, nil).Collect()
	if err != nil || len(st) != 1 || !slices.Contains(st[0].Flags, "Work") || !slices.Contains(st[0].Flags, imap.FlagSeen) {
		t.Fatalf("STORE: %v %+v", err, st)
	}
	// A non-peek BODY[] sets \Seen on message 1.
	if _, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect(); err != nil {
		t.Fatal(err)
	}
	fl, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || !slices.Contains(fl[0].Flags, imap.FlagSeen) {
		t.Fatalf("after BODY[]: %v %v", err, fl)
	}

	searches := []struct {
		c    imap.SearchCriteria
		want []uint32
	}{
		{imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "HELLO"}}}, []uint32{1}},
		{imap.SearchCriteria{Body: []string{"needle"}}, []uint32{1}},
		{imap.SearchCriteria{Text: []string{"another"}}, []uint32{2}},
		{imap.SearchCriteria{Flag: []imap.Flag{"work"}}, []uint32{2}},
		{imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagFlagged}}, []uint32{2}},
		{imap.SearchCriteria{Before: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}, []uint32{1}},
		{imap.SearchCriteria{SentBefore: time.Date(2007, 1, 1, 0, 0, 0, 0, time.UTC)}, []uint32{1, 2}},
		{imap.SearchCriteria{Larger: 10000}, nil},
		{imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Body: []string{"needle"}}, {Body: []string{"another"}}}}}, []uint32{1, 2}},
		{imap.SearchCriteria{Not: []imap.SearchCriteria{{UID: []imap.UIDSet{imap.UIDSetNum(1)}}}}, []uint32{2}},
	}
	for _, s := range searches {
		res, err := c.UIDSearch(&s.c, nil).Wait()
		if err != nil {
			t.Fatalf("SEARCH %+v: %v", s.c, err)
		}
		var got []uint32
		for _, u := range res.AllUIDs() {
			got = append(got, uint32(u))
		}
		if !slices.Equal(got, s.want) {
			t.Errorf("UID SEARCH %+v = %v, want %v", s.c, got, s.want)
		}
	}

	// COPY, MOVE, EXPUNGE.
	cd, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait()
	if err != nil || cd.DestUIDs.String() != "1:2" {
		t.Fatalf("COPY: %v %+v", err, cd)
	}
	md, err := c.Move(imap.SeqSetNum(1), "Trash").Wait()
	if err != nil || md.DestUIDs.String() != "1" {
		t.Fatalf("MOVE: %v %+v", err, md)
	}
	if mb := c.Mailbox(); mb.NumMessages != 1 {
		t.Fatalf("after MOVE the client counts %d messages", mb.NumMessages)
	}
	if err := c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	exp, err := c.Expunge().Collect()
	if err != nil || !slices.Equal(exp, []uint32{1}) {
		t.Fatalf("EXPUNGE: %v %v", err, exp)
	}
	st2, err := c.Status("Archive", &imap.StatusOptions{NumMessages: true, UIDNext: true, NumUnseen: true, Size: true}).Wait()
	if err != nil || *st2.NumMessages != 2 || st2.UIDNext != 3 || *st2.NumUnseen != 0 {
		t.Fatalf("STATUS Archive: %v %+v", err, st2)
	}
	if err := c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestBadSequenceAndInput(t *testing.T) {
	ts := newTestServer(t)
	ts.deliver(bob, "", testMessage("one", "x"))
	c := ts.client(nil)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(imap.SeqSetNum(5), &imap.FetchOptions{Flags: true}).Collect(); err == nil {
		t.Fatal("FETCH of a sequence number beyond the mailbox succeeded")
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatalf("session died: %v", err)
	}
}

func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} }

func saslPlain(identity, user, pass string) sasl.Client {
	return sasl.NewPlainClient(identity, user, pass)
}

// TestQuota: APPEND and COPY over the user's quota are refused with
// [OVERQUOTA]; the session goes on.
func TestQuota(t *testing.T) {
	ts := newTestServer(t)
	c, err := imapclient.DialInsecure(ts.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(tiny.String(), testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	appendMsg := func(size int) error {
		msg := "Subject: q\r\n\r\n" + strings.Repeat("x", size) + "\r\n"
		ap := c.Append("INBOX", int64(len(msg)), nil)
		io.WriteString(ap, msg)
		ap.Close()
		_, err := ap.Wait()
		return err
	}
	if err := appendMsg(800); err != nil {
		t.Fatalf("APPEND within the quota: %v", err)
	}
	if err := appendMsg(3000); imapCode(err) != imap.ResponseCodeOverQuota {
		t.Fatalf("APPEND over the quota: %v", err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := appendMsg(800); err != nil {
		t.Fatalf("second APPEND within the quota: %v", err)
	}
	if _, err := c.Copy(imap.SeqSetNum(1, 2), "Archive").Wait(); imapCode(err) != imap.ResponseCodeOverQuota {
		t.Fatalf("COPY over the quota: %v", err)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
}
