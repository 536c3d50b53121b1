package webmail

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestClientIPAndSecure(t *testing.T) {
	proxies, err := ParsePrefixes([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{opts: Options{TrustedProxies: proxies}}
	tests := []struct {
		name, remote, xff, proto string
		wantIP                   string
		wantSecure               bool
	}{
		{"direct loopback", "[::1]:5000", "", "", "::1", false},
		{"direct public", "192.0.2.1:5000", "198.51.100.9", "https", "192.0.2.1", true},
		{"proxy passes client", "10.1.1.1:5000", "198.51.100.9", "https", "198.51.100.9", true},
		{"proxy chain, spoofed left entry", "127.0.0.1:5000", "203.0.113.66, 198.51.100.9, 10.2.2.2", "http", "198.51.100.9", false},
		{"proxy with garbage", "10.1.1.1:5000", "nonsense", "", "10.1.1.1", true},
	}
	for _, tt := range tests {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if got := s.clientIP(r); got.String() != tt.wantIP {
			t.Errorf("%s: clientIP = %s, want %s", tt.name, got, tt.wantIP)
		}
		if got := s.secure(r); got != tt.wantSecure {
			t.Errorf("%s: secure = %v, want %v", tt.name, got, tt.wantSecure)
		}
	}
	if _, err := ParsePrefixes([]string{"proxy.example"}); err == nil {
		t.Error("a name as trusted proxy was accepted")
	}
}

func TestCheckPlainListener(t *testing.T) {
	tests := []struct {
		addr    net.Addr
		proxies []netip.Prefix
		ok      bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 80}, nil, true},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 80}, nil, true},
		{&net.TCPAddr{IP: net.ParseIP("0.0.0.0"), Port: 80}, nil, false},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 80}, nil, false},
		{&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 80}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, true},
		{&net.UnixAddr{Name: "/run/webmail.sock", Net: "unix"}, nil, true},
	}
	for _, tt := range tests {
		if err := CheckPlainListener(tt.addr, tt.proxies); (err == nil) != tt.ok {
			t.Errorf("%s (proxies %v): err %v, want ok=%v", tt.addr, tt.proxies, err, tt.ok)
		}
	}
}

func TestLoginHeadersAndLogout(t *testing.T) {
	e := newTestEnv(t)
	c := e.client()
	r, body := c.get("/login")
	if r.Header.Get("Content-Security-Policy") != appCSP || r.Header.Get("Referrer-Policy") != "no-referrer" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers: %v", r.Header)
	}
	if !strings.Contains(body, `id="login-form"`) {
		t.Fatal("no login form")
	}
	for _, pw := range []string{"wrong", ""} {
		r, body = c.post("/login", url.Values{"email": {"bob@example.org"}, "password": {pw}})
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `id="error"`) || strings.Contains(body, pw+"<") && pw != "" {
			t.Errorf("password %q: %s", pw, r.Status)
		}
	}
	c.login()
	var cookie *http.Cookie
	for _, ck := range c.c.Jar.Cookies(mustURL(c.base)) {
		if ck.Name == cookieName {
			cookie = ck
		}
	}
	if cookie == nil || len(cookie.Value) != 43 {
		t.Fatalf("session cookie %v: want 256 random bits", cookie)
	}
	r, body = c.get("/mail?f=INBOX")
	if r.StatusCode != http.StatusOK || !strings.Contains(body, `data-folder="INBOX"`) {
		t.Fatalf("list after login: %s", r.Status)
	}
	r, _ = c.post("/logout", url.Values{"csrf": {c.csrf}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %s", r.Status)
	}
	if e.srv.sessions.count() != 0 {
		t.Error("session kept after logout")
	}
	r, _ = c.get("/mail?f=INBOX")
	if r.Header.Get("Location") != "/login" {
		t.Errorf("after logout: %s %s", r.Status, r.Header.Get("Location"))
	}
}

func TestSessionIdleExpiryAndCap(t *testing.T) {
	e := newTestEnv(t)
	c := e.client()
	c.login()
	e.clock.add(9 * time.Minute)
	if r, _ := c.get("/mail?f=INBOX"); r.StatusCode != http.StatusOK {
		t.Fatalf("active session refused: %s", r.Status)
	}
	e.clock.add(11 * time.Minute)
	if r, _ := c.get("/mail?f=INBOX"); r.Header.Get("Location") != "/login" {
		t.Fatalf("idle session still served: %s", r.Status)
	}
	// MaxSessions is 3 in the test env.
	for i := range 3 {
		x := e.client()
		x.login()
		_ = i
	}
	r, body := e.client().post("/login", url.Values{"email": {"bob@example.org"}, "password": {testPassword}})
	if r.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Too many sessions") {
		t.Errorf("fourth session: %s", r.Status)
	}
}

func TestCSRFAndCrossSite(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("keep me", "body")
	c := e.client()
	c.login()
	c.get("/mail?f=INBOX")
	for name, f := range map[string]url.Values{
		"no token":    {"f": {"INBOX"}, "uid": {"1"}, "op": {"delete"}},
		"wrong token": {"csrf": {"x" + c.csrf}, "f": {"INBOX"}, "uid": {"1"}, "op": {"delete"}},
	} {
		if r, _ := c.post("/action", f); r.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s", name, r.Status)
		}
	}
	req, _ := http.NewRequest("POST", c.base+"/action", strings.NewReader(url.Values{"csrf": {c.csrf}, "f": {"INBOX"}, "uid": {"1"}, "op": {"delete"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if r, _ := c.do(req); r.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin POST: %s", r.Status)
	}
	if _, body := c.get("/mail?f=INBOX"); !strings.Contains(body, "keep me") {
		t.Error("a refused POST deleted the message")
	}
}

func TestListPagesNewestFirstAndSearch(t *testing.T) {
	e := newTestEnv(t)
	for i := 1; i <= 120; i++ {
		body := "nothing"
		if i == 7 {
			body = "the walrus sings"
		}
		e.deliver("msg "+strconv.Itoa(i), body)
	}
	c := e.client()
	c.login()
	_, body := c.get("/mail?f=INBOX")
	if !strings.Contains(body, `data-uid="120"`) || !strings.Contains(body, `data-uid="71"`) || strings.Contains(body, `data-uid="70"`) {
		t.Errorf("page 1 is not UIDs 120..71")
	}
	if strings.Index(body, ">msg 120<") > strings.Index(body, ">msg 71<") {
		t.Error("page 1 not newest first")
	}
	if !strings.Contains(body, `id="next-page"`) || !strings.Contains(body, "Page 1 of 3") {
		t.Error("no pager")
	}
	_, body = c.get("/mail?f=INBOX&page=3")
	if !strings.Contains(body, `data-uid="1"`) || strings.Contains(body, `data-uid="21"`) {
		t.Error("page 3 is not UIDs 20..1")
	}
	_, body = c.get("/mail?f=INBOX&q=walrus")
	if !strings.Contains(body, `data-uid="7"`) || strings.Count(body, `<tr class="msg`) != 1 {
		t.Errorf("search for a body word: %d rows", strings.Count(body, `<tr class="msg`))
	}
	_, body = c.get("/mail?f=INBOX&q=" + url.QueryEscape("msg 11"))
	if !strings.Contains(body, `data-uid="110"`) || !strings.Contains(body, `data-uid="11"`) {
		t.Error("search by subject")
	}
}

func TestReadMarksSeenAndBulkFlags(t *testing.T) {
	e := newTestEnv(t)
	e.deliver("one", "first <b>text</b>")
	e.deliver("two", "second")
	c := e.client()
	c.login()
	_, body := c.get("/msg?f=INBOX&uid=1")
	if !strings.Contains(body, "first &lt;b&gt;text&lt;/b&gt;") {
		t.Errorf("text not escaped:\n%s", body)
	}
	_, body = c.get("/mail?f=INBOX")
	if !strings.Contains(body, `data-uid="1" data-seen="true"`) || !strings.Contains(body, `data-uid="2" data-seen="false"`) {
		t.Errorf("seen flags after reading:\n%s", body)
	}
	c.post("/action", url.Values{"csrf": {c.csrf}, "f": {"INBOX"}, "uid": {"1", "2"}, "op": {"unread"}})
	c.post("/action", url.Values{"csrf": {c.csrf}, "f": {"INBOX"}, "uid": {"2"}, "op": {"flag"}})
	_, body = c.get("/mail?f=INBOX")
	if !strings.Contains(body, `data-uid="1" data-seen="false"`) || strings.Count(body, `class="flag"`) != 1 {
		t.Errorf("after bulk unread and flag:\n%s", body)
	}
	c.post("/action", url.Values{"csrf": {c.csrf}, "f": {"INBOX"}, "uid": {"2"}, "op": {"junk"}})
	_, body = c.get("/mail?f=Junk")
	if !strings.Contains(body, ">two<") {
		t.Error("junk did not move to Junk")
	}
}

func TestAutoconfig(t *testing.T) {
	e := newTestEnv(t)
	for _, p := range []string{"/.well-known/autoconfig/mail/config-v1.1.xml", "/mail/config-v1.1.xml"} {
		r, body := e.client().get(p)
		if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/xml") {
			t.Errorf("%s: type %q", p, r.Header.Get("Content-Type"))
		}
		for _, want := range []string{"<port>993</port><socketType>SSL</socketType>", "<port>143</port><socketType>STARTTLS</socketType>",
			"<port>465</port>", "<port>587</port>", "<hostname>mx.example.org</hostname>", "<username>%EMAILADDRESS%</username>"} {
			if !strings.Contains(body, want) {
				t.Errorf("%s: no %q", p, want)
			}
		}
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
