package main

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// webmailEnv runs `mailctl serve` with imapd, submitd and webmaild, and
// returns the env and webmaild's base URL.
func webmailEnv(t *testing.T) (*testEnv, string) {
	t.Helper()
	dir := t.TempDir()
	imapSock, subSock := filepath.Join(dir, "imap-webmail.sock"), filepath.Join(dir, "submission-webmail.sock")
	web := "127.0.0.1:" + strconv.Itoa(freePort(t))
	e, _ := newSMTPTestEnv(t, `[modules]
smtpd = false
submitd = true
imapd = true
pop3d = false
lmtp = false
queue = false
webmaild = true
pickup = false
[submitd]
listen = ["127.0.0.1:`+strconv.Itoa(freePort(t))+`"]
listen_tls = []
webmail_listen = ["unix:`+subSock+`"]
[imapd]
listen = ["127.0.0.1:`+strconv.Itoa(freePort(t))+`"]
listen_tls = []
webmail_listen = ["unix:`+imapSock+`"]
[webmaild]
listen = ["`+web+`"]
imap = "unix:`+imapSock+`"
submission = "unix:`+subSock+`"
`)
	e.addUser("bob@example.test")
	e.addUser("alice@example.test")
	e.startDaemon(t, e.bin, "serve")
	waitSocket(t, imapSock)
	waitSocket(t, subSock)
	base := "http://" + web
	waitFor(t, "webmaild", func() bool {
		r, err := http.Get(base + "/login")
		if err == nil {
			r.Body.Close()
		}
		return err == nil
	})
	return e, base
}

type browser struct {
	t    *testing.T
	base string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) do(req *http.Request) (*http.Response, string) {
	b.t.Helper()
	r, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	if m := csrfRe.FindSubmatch(body); m != nil {
		b.csrf = string(m[1])
	}
	return r, string(body)
}

func (b *browser) get(path string) (*http.Response, string) {
	req, _ := http.NewRequest("GET", b.base+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) (*http.Response, string) {
	req, _ := http.NewRequest("POST", b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

func (b *browser) login(user string) {
	b.t.Helper()
	r, _ := b.post("/login", url.Values{"email": {user}, "password": {"a password long enough"}})
	if r.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login: %s", r.Status)
	}
}

// TestWebmaild drives the webmail over HTTP against a real serve: login
// (and its failure), headers, list, read, raw, the HTML frame's CSP, CSRF
// refusal, sending with an attachment (delivered, copy in Sent), a draft,
// bulk delete to Trash, folders, autoconfig and logout.
func TestWebmaild(t *testing.T) {
	e, base := webmailEnv(t)
	e.must("From: Alice <alice@example.test>\nTo: bob@example.test\nSubject: plain hello\n\nfirst line https://example.org/x\n", "deliver", "bob@example.test")
	e.must("From: Eve <eve@example.test>\nTo: bob@example.test\nSubject: html one\nMIME-Version: 1.0\nContent-Type: text/html\n\n<p>hi<script>alert(1)</script><img src=\"https://tracker.example/p.gif\"></p>\n", "deliver", "bob@example.test")

	b := newBrowser(t, base)
	r, body := b.get("/login")
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("login CSP = %q", csp)
	}
	if r.Header.Get("Referrer-Policy") != "no-referrer" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers = %v", r.Header)
	}
	if !strings.Contains(body, `id="login-form"`) {
		t.Fatal("no login form")
	}
	r, body = b.post("/login", url.Values{"email": {"bob@example.test"}, "password": {"wrong password"}})
	if r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Login failed") {
		t.Fatalf("bad password: %s", r.Status)
	}
	r, _ = b.post("/login", url.Values{"email": {"bob@example.test"}, "password": {"a password long enough"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %s", r.Status)
	}
	ck := r.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") || strings.Contains(ck, "Secure") {
		t.Errorf("cookie = %q (plain HTTP on loopback: not Secure)", ck)
	}

	_, body = b.get("/mail?f=INBOX")
	if !strings.Contains(body, "plain hello") || !strings.Contains(body, `data-uid="2"`) || !strings.Contains(body, `data-folder="INBOX"`) {
		t.Fatalf("message list:\n%s", body)
	}
	if strings.Index(body, "html one") > strings.Index(body, "plain hello") {
		t.Error("list is not newest first")
	}
	_, body = b.get("/msg?f=INBOX&uid=1")
	if !strings.Contains(body, `id="msg-text"`) || !strings.Contains(body, `href="https://example.org/x"`) {
		t.Errorf("read:\n%s", body)
	}
	_, body = b.get("/msg?f=INBOX&uid=2")
	if !strings.Contains(body, `id="msg-frame"`) || !strings.Contains(body, `id="load-images"`) {
		t.Errorf("html message page:\n%s", body)
	}
	r, body = b.get("/msg/frame?f=INBOX&uid=2")
	if csp := r.Header.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "sandbox") || !strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "https:") {
		t.Errorf("frame CSP = %q", csp)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "tracker.example") {
		t.Errorf("frame not sanitised:\n%s", body)
	}
	r, body = b.get("/msg/raw?f=INBOX&uid=1")
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || !strings.Contains(body, "Subject: plain hello") {
		t.Errorf("raw: %s %q", r.Header.Get("Content-Type"), body)
	}

	// CSRF: a POST without the token is refused.
	csrf := b.csrf
	r, _ = b.post("/action", url.Values{"f": {"INBOX"}, "uid": {"1"}, "op": {"delete"}})
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("POST without CSRF token: %s", r.Status)
	}

	// Send with an attachment.
	var mb bytes.Buffer
	mw := multipart.NewWriter(&mb)
	for k, v := range map[string]string{"csrf": csrf, "to": "alice@example.test", "subject": "from the web", "body": "hello alice", "action": "send"} {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("files", "notes.txt")
	fw.Write([]byte("attached text"))
	mw.Close()
	req, _ := http.NewRequest("POST", base+"/compose", &mb)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r, body = b.do(req)
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("send: %s\n%s", r.Status, body)
	}
	files := e.newFiles("alice@example.test")
	if len(files) != 1 {
		t.Fatalf("alice has %d messages", len(files))
	}
	_, body = b.get("/mail?f=Sent")
	if !strings.Contains(body, "from the web") {
		t.Errorf("no copy in Sent:\n%s", body)
	}

	// A draft is saved to Drafts.
	r, body = b.post("/compose", url.Values{"csrf": {b.csrf}, "to": {"alice@example.test"}, "subject": {"half done"}, "body": {"later"}, "action": {"save"}})
	if r.StatusCode != http.StatusOK || !strings.Contains(body, "Draft saved") {
		t.Fatalf("save draft: %s", r.Status)
	}
	_, body = b.get("/mail?f=Drafts")
	if !strings.Contains(body, "half done") {
		t.Errorf("no draft:\n%s", body)
	}
	// Header injection is a form error.
	r, _ = b.post("/compose", url.Values{"csrf": {b.csrf}, "to": {"alice@example.test\r\nBcc: x@example.org"}, "subject": {"x"}, "action": {"send"}})
	if r.StatusCode != http.StatusBadRequest {
		t.Errorf("CR/LF in To: %s", r.Status)
	}
	// submitd's refusal reaches the user, and nothing is sent or filed.
	r, body = b.post("/compose", url.Values{"csrf": {b.csrf}, "to": {"nobody@example.test"}, "subject": {"to no one"}, "body": {"x"}, "action": {"send"}})
	if r.StatusCode != http.StatusBadGateway || !strings.Contains(body, "Not sent: 550 No such user here") {
		t.Errorf("send to an unknown local user: %s\n%s", r.Status, body)
	}
	if _, body = b.get("/mail?f=Sent"); strings.Contains(body, "to no one") {
		t.Errorf("a refused message was filed in Sent")
	}

	// Bulk delete moves to Trash.
	b.get("/mail?f=INBOX")
	r, _ = b.post("/action", url.Values{"csrf": {b.csrf}, "f": {"INBOX"}, "uid": {"1", "2"}, "op": {"delete"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("delete: %s", r.Status)
	}
	_, body = b.get("/mail?f=Trash")
	if !strings.Contains(body, "plain hello") || !strings.Contains(body, "html one") {
		t.Errorf("Trash:\n%s", body)
	}
	b.post("/action", url.Values{"csrf": {b.csrf}, "f": {"Trash"}, "op": {"empty"}})
	_, body = b.get("/mail?f=Trash")
	if strings.Contains(body, "plain hello") {
		t.Error("Trash not emptied")
	}

	// Folders.
	b.post("/folders", url.Values{"csrf": {b.csrf}, "op": {"create"}, "name": {"Projects"}})
	_, body = b.get("/folders")
	if !strings.Contains(body, `data-folder="Projects"`) {
		t.Errorf("folder not created:\n%s", body)
	}

	// Autoconfig.
	r, body = b.get("/.well-known/autoconfig/mail/config-v1.1.xml")
	if !strings.Contains(body, "<hostname>mx.example.test</hostname><port>993</port>") || !strings.Contains(body, "%EMAILADDRESS%") {
		t.Errorf("autoconfig:\n%s", body)
	}

	// Logout ends the session.
	b.post("/logout", url.Values{"csrf": {b.csrf}})
	r, _ = b.get("/mail?f=INBOX")
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Errorf("after logout: %s %s", r.Status, r.Header.Get("Location"))
	}
}
