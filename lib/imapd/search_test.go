package imapd

import (
	"context"
	"strings"
	"testing"
	"time"

	"mailctl/lib/maildir"
)

// TestSearchKeys runs every SEARCH key of RFC 3501 and 9051 over three
// messages.
func TestSearchKeys(t *testing.T) {
	ts := newTestServer(t)
	u := ts.user(bob)
	msgs := []struct {
		body  string
		flags string
		date  time.Time
	}{
		{"From: Alice <alice@example.net>\nTo: bob@example.org\nCc: carol@example.com\nSubject: Invoice =?utf-8?q?f=C3=BCr?= March\nDate: Mon, 01 Mar 2021 10:00:00 +0000\nX-Priority: 1\n\nPlease pay the invoice.\n",
			"S", time.Date(2021, 3, 1, 10, 0, 0, 0, time.Local)},
		{"From: Dave <dave@example.com>\nTo: bob@example.org\nBcc: eve@example.net\nSubject: Lunch\nDate: Tue, 02 Mar 2021 12:00:00 +0000\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=E9 at noon? " + strings.Repeat("x", 2000) + "\n",
			"FR", time.Date(2021, 3, 2, 12, 0, 0, 0, time.Local)},
		{"From: Alice <alice@example.net>\nTo: team@example.org\nSubject: Draft plan\nDate: Wed, 03 Mar 2021 09:00:00 +0000\n\nplan\n",
			"DT", time.Date(2021, 3, 3, 9, 0, 0, 0, time.Local)},
	}
	for _, m := range msgs {
		if _, err := u.Deliver(context.Background(), strings.NewReader(m.body), maildir.DeliverOptions{Flags: m.flags, Date: m.date}); err != nil {
			t.Fatal(err)
		}
	}
	first := dialRaw(t, ts.addr) // takes \Recent of the first three
	first.login()
	first.cmd("SELECT INBOX")
	rc := dialRaw(t, ts.addr)
	rc.login()
	rc.cmd("SELECT INBOX")
	rc.cmd("STORE 3 +FLAGS ($Work)")
	// A fourth message arrives and is \Recent for this session.
	ts.deliver(bob, "", "Subject: new one\n\nfresh\n")
	rc.cmd("NOOP")
	tests := []struct{ key, want string }{
		{"ALL", "1 2 3 4"},
		{"ANSWERED", "2"}, {"UNANSWERED", "1 3 4"},
		{"DELETED", "3"}, {"UNDELETED", "1 2 4"},
		{"DRAFT", "3"}, {"UNDRAFT", "1 2 4"},
		{"FLAGGED", "2"}, {"UNFLAGGED", "1 3 4"},
		{"SEEN", "1"}, {"UNSEEN", "2 3 4"},
		{"RECENT", "4"}, {"NEW", "4"}, {"OLD", "1 2 3"},
		{"KEYWORD $Work", "3"}, {"UNKEYWORD $work", "1 2 4"},
		{"FROM alice", "1 3"}, {"TO team", "3"}, {"CC carol", "1"}, {"BCC eve", "2"},
		{"SUBJECT für", "1"}, {"SUBJECT lunch", "2"},
		{"HEADER X-Priority 1", "1"}, {`HEADER X-Priority ""`, "1"},
		{"BODY pay", "1"}, {"BODY café", "2"}, {"TEXT plan", "3"}, {"TEXT dave", "2"},
		{"LARGER 1000", "2"}, {"SMALLER 1000", "1 3 4"},
		{"BEFORE 2-Mar-2021", "1"}, {"ON 2-Mar-2021", "2"}, {"SINCE 3-Mar-2021", "3 4"},
		{"SENTBEFORE 2-Mar-2021", "1"}, {"SENTON 2-Mar-2021", "2"}, {"SENTSINCE 3-Mar-2021", "3"},
		{"2:3", "2 3"}, {"UID 1,3", "1 3"}, {"NOT SEEN NOT 4", "2 3"},
		{"OR SEEN FLAGGED", "1 2"}, {"(FROM alice UNSEEN)", "3"},
		{"CHARSET UTF-8 SUBJECT für", "1"},
	}
	for _, tt := range tests {
		un, st := rc.cmd("SEARCH %s", tt.key)
		if !strings.HasPrefix(st, "OK") {
			t.Errorf("SEARCH %s: %s", tt.key, st)
			continue
		}
		got := ""
		for _, l := range un {
			if rest, ok := strings.CutPrefix(l, "* SEARCH"); ok {
				got = strings.TrimSpace(rest)
			}
		}
		if got != tt.want {
			t.Errorf("SEARCH %s = %q, want %q", tt.key, got, tt.want)
		}
	}
	// SEARCHRES: RETURN (SAVE), then $ in another command.
	rc.cmd("SEARCH RETURN (SAVE) FROM alice")
	if un, _ := rc.cmd("FETCH $ (UID)"); len(un) != 2 {
		t.Errorf("FETCH $ after SAVE: %v", un)
	}
}
