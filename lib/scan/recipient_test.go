package scan

import (
	"context"
	"strings"
	"testing"

	"mailctl/lib/addr"
)

// TestForUser: bob trained spamWords as spam, carol as ham, so the global
// data is undecided; each one's copy is judged with their own data, and a
// user who trained nothing gets the global verdict.
func TestForUser(t *testing.T) {
	b := NewBayes(BayesOptions{Dir: t.TempDir(), MinTrained: 10})
	corpus := genCorpus(60, 7)
	flipped := make([]sample, len(corpus))
	for i, s := range corpus {
		flipped[i] = sample{s.msg, !s.spam}
	}
	trainCorpus(t, b, "bob@example.org", corpus)
	trainCorpus(t, b, "carol@example.org", flipped)
	s := newScanner(t, newZone(t), Options{Bayes: b, SpamScore: 3})
	msg := []byte("Subject: hi\r\nFrom: <a@example.com>\r\n\r\n" + strings.Join(spamWords, " ") + "\r\n")
	rep, err := s.Check(context.Background(), env("a@example.com"), msg)
	if err != nil {
		t.Fatal(err)
	}
	if r := find(rep, "bayes"); r.Result != "none" {
		t.Fatalf("global bayes %+v, want undecided", r)
	}
	for _, c := range []struct {
		user     string
		spam     bool
		database string
	}{
		{"bob@example.org", true, "user"},
		{"carol@example.org", false, "user"},
		{"dave@example.org", rep.Action == "spam", "global"},
	} {
		uv := s.ForUser(rep, addr.MustParse(c.user))
		if uv.Spam != c.spam || uv.Database != c.database {
			t.Errorf("%s: %+v, want spam %v from %s data", c.user, uv, c.spam, c.database)
		}
		status := "X-Spam-Status: No"
		if c.spam {
			status = "X-Spam-Status: Yes"
		}
		if len(uv.Headers) != 2 || !strings.HasPrefix(uv.Headers[0], status) || !strings.HasPrefix(uv.Headers[1], "X-Spam-Score: ") {
			t.Errorf("%s: headers %q", c.user, uv.Headers)
		}
	}

	// Through the smtpd seam: global fields without X-Spam-*, and a
	// per-recipient decision.
	v, err := s.Scan(context.Background(), env("a@example.com"), msg)
	if err != nil {
		t.Fatal(err)
	}
	if v.Recipient == nil {
		t.Fatal("no per-recipient decision")
	}
	for _, h := range v.Headers {
		if strings.HasPrefix(h, "X-Spam-") {
			t.Errorf("global header %q", h)
		}
	}
	if !v.Recipient(addr.MustParse("bob@example.org")).Spam || v.Recipient(addr.MustParse("carol@example.org")).Spam {
		t.Error("Scan's per-recipient decision differs from ForUser")
	}
}
