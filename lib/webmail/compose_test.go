package webmail

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"mailctl/lib/maildir"
)

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 999: "999 B", 2048: "2.0 KB", 3 << 20: "3.0 MB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestComposeReplyForwardPrefill(t *testing.T) {
	e := newTestEnv(t)
	msg := "From: Alice <alice@example.net>\nTo: bob@example.org, carol@example.net\nSubject: plans\nMessage-ID: <p1@example.net>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nshall we meet\n--b\nContent-Type: application/pdf; name=agenda.pdf\nContent-Disposition: attachment; filename=agenda.pdf\n\n%PDF-1.4\n--b--\n"
	if _, err := e.user.Deliver(context.Background(), strings.NewReader(msg), maildir.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.login()
	tests := []struct {
		mode string
		want []string
		not  []string
	}{
		{"reply", []string{`value="Re: plans"`, `alice@example.net`, "&gt; shall we meet", `value="p1@example.net"`}, []string{"carol@example.net"}},
		{"replyall", []string{`value="Re: plans"`, "carol@example.net", "alice@example.net"}, nil},
		{"forward", []string{`value="Fwd: plans"`, "agenda.pdf", `name="keep" value="0" checked`}, nil},
	}
	for _, tt := range tests {
		r, body := c.get("/compose?mode=" + tt.mode + "&f=INBOX&uid=1")
		if r.StatusCode != http.StatusOK || !strings.Contains(body, `id="compose-form"`) {
			t.Fatalf("%s: %s", tt.mode, r.Status)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: no %q", tt.mode, w)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(body, w) {
				t.Errorf("%s: has %q", tt.mode, w)
			}
		}
	}
}

// A draft saved twice is one message in Drafts; resumed, it fills the form.
func TestDraftSaveReplaceResume(t *testing.T) {
	e := newTestEnv(t)
	c := e.client()
	c.login()
	_, body := c.get("/compose")
	if !strings.Contains(body, `data-folder="Drafts"`) {
		t.Errorf("the compose page lists no folders in its navigation")
	}
	cid := regexpValue(body, "cid")
	for _, text := range []string{"first words", "second words"} {
		r, body := c.post("/compose", url.Values{"csrf": {c.csrf}, "cid": {cid}, "to": {"alice@example.net"}, "bcc": {"hidden@example.net"}, "subject": {"unfinished"}, "body": {text}, "action": {"save"}})
		if r.StatusCode != http.StatusOK || !strings.Contains(body, `id="notice"`) {
			t.Fatalf("save: %s\n%s", r.Status, body)
		}
	}
	_, body = c.get("/mail?f=Drafts")
	if n := strings.Count(body, `<tr class="msg`); n != 1 {
		t.Fatalf("Drafts holds %d messages, want 1", n)
	}
	uid := regexpAttr(body, "data-uid")
	_, body = c.get("/msg?f=Drafts&uid=" + uid)
	if !strings.Contains(body, `id="edit-draft"`) {
		t.Error("no edit link on a draft")
	}
	_, body = c.get("/compose?mode=draft&f=Drafts&uid=" + uid)
	if !strings.Contains(body, "second words") || !strings.Contains(body, "alice@example.net") || !strings.Contains(body, `value="unfinished"`) || !strings.Contains(body, "hidden@example.net") {
		t.Errorf("resumed draft (with its Bcc):\n%s", body)
	}
	// Header injection is a form error, nothing saved.
	r, body := c.post("/compose", url.Values{"csrf": {c.csrf}, "cid": {regexpValue(body, "cid")}, "to": {"alice@example.net"}, "subject": {"a\r\nBcc: x@example.org"}, "action": {"save"}})
	if r.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="error"`) {
		t.Errorf("CR/LF in subject: %s", r.Status)
	}
}

// A dropped IMAP connection is redialled with the kept password.
func TestIMAPReconnect(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("still here", "x")
	c := e.client()
	c.login()
	for _, s := range e.srv.sessions.drainCopy() {
		s.mu.Lock()
		s.conn.Close()
		s.mu.Unlock()
	}
	if _, body := c.get("/mail?f=INBOX"); !strings.Contains(body, "still here") {
		t.Errorf("after the connection dropped:\n%s", body)
	}
}

// The read page's links lead where they say (no double escaping).
func TestReadPageLinksWork(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("linked", "text")
	c := e.client()
	c.login()
	_, body := c.get("/msg?f=INBOX&uid=1")
	for id, want := range map[string]string{"reply": `value="Re: linked"`, "forward": `value="Fwd: linked"`, "raw": "Subject: linked"} {
		m := regexp.MustCompile(`id="` + id + `" class="button" href="([^"]+)"`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no #%s link", id)
		}
		r, page := c.get(html.UnescapeString(m[1]))
		if r.StatusCode != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("#%s → %s: %s", id, m[1], r.Status)
		}
	}
}
