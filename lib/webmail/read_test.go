package webmail

import (
	"context"
	"strings"
	"testing"

	"mailctl/lib/maildir"
)

const hostileMessage = `From: Mallory <m@example.net>
To: bob@example.org
Subject: hostile
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: text/html; charset=utf-8

<p onclick="x()">Hello<script>alert(1)</script><img src="https://tracker.example/p.gif"><a href="javascript:alert(2)">x</a></p>
--b
Content-Type: text/html; name="page.html"
Content-Disposition: attachment; filename="page.html"

<script>alert(3)</script>
--b
Content-Type: image/svg+xml; name="pic.svg"
Content-Disposition: attachment; filename="pic.svg"

<svg xmlns="http://www.w3.org/2000/svg"><script>alert(4)</script></svg>
--b--
`

func TestReadHostileMessage(t *testing.T) {
	e := newTestEnv(t)
	if _, err := e.user.Deliver(context.Background(), strings.NewReader(hostileMessage), maildir.DeliverOptions{}); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	c.login()
	_, body := c.get("/msg?f=INBOX&uid=1")
	for _, want := range []string{`id="msg-frame"`, `sandbox="allow-popups`, `id="load-images"`, `data-part="2"`, `data-part="3"`} {
		if !strings.Contains(body, want) {
			t.Errorf("message page lacks %s", want)
		}
	}
	if strings.Contains(body, "alert(") {
		t.Error("script text on the app page")
	}
	r, body := c.get("/msg/frame?f=INBOX&uid=1")
	csp := r.Header.Get("Content-Security-Policy")
	if !strings.HasPrefix(csp, "sandbox ") || strings.Contains(csp, "allow-scripts") || !strings.Contains(csp, "img-src data:;") || !strings.Contains(csp, "frame-ancestors 'self'") {
		t.Errorf("frame CSP %q", csp)
	}
	for _, bad := range []string{"<script", "onclick", "javascript:", "tracker.example"} {
		if strings.Contains(body, bad) {
			t.Errorf("frame contains %q", bad)
		}
	}
	r, _ = c.get("/msg/frame?f=INBOX&uid=1&images=1")
	if !strings.Contains(r.Header.Get("Content-Security-Policy"), "img-src data: https: http:") {
		t.Errorf("remote images asked for: CSP %q", r.Header.Get("Content-Security-Policy"))
	}
	for part, name := range map[string]string{"2": "page.html", "3": "pic.svg"} {
		r, body = c.get("/msg/part?f=INBOX&uid=1&part=" + part)
		if r.Header.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(r.Header.Get("Content-Disposition"), "attachment") ||
			!strings.Contains(r.Header.Get("Content-Disposition"), name) || r.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(body, "alert(") {
			t.Errorf("part %s: %v", part, r.Header)
		}
	}
	r, _ = c.get("/msg/part?f=INBOX&uid=1&part=9")
	if r.StatusCode != 404 {
		t.Errorf("missing part: %s", r.Status)
	}
	r, body = c.get("/msg/raw?f=INBOX&uid=1")
	if r.Header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.Contains(body, "Subject: hostile") {
		t.Errorf("raw: %v", r.Header)
	}
}
