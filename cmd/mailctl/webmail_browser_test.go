package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser test's mail. UIDs follow delivery order: lunch is 1 in bob's
// INBOX, hostile 2.
const (
	lunchMail = "From: Alice <alice@example.test>\nTo: Bob <bob@example.test>\nSubject: lunch plans\n" +
		"Message-ID: <lunch-1@example.test>\nDate: Thu, 26 Nov 2026 10:00:00 +0000\n\n" +
		"Shall we meet at noon by the fountain?\nThe menu: https://example.org/menu\n"
	welcomeMail = "From: Bob <bob@example.test>\nTo: alice@example.test\nSubject: welcome alice\n\nHello.\n"
	// hostileMail tries everything a message could do to the app: %[1]s is
	// the loopback server that counts requests.
	hostileMail = `From: Mallory <mallory@example.test>
To: bob@example.test
Subject: hostile offer
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<html><head>
<meta http-equiv="refresh" content="0;url=%[1]s/beacon-refresh">
<style>#reply,#logout,#compose,nav,header,.actions{display:none!important} body{background:#ff0000!important} iframe{position:fixed!important;top:0;left:0;width:100vw!important;height:100vh!important;z-index:2147483647}</style>
<script>window.pwned="script";try{parent.pwned="script";parent.document.title="pwned";parent.document.body.insertAdjacentHTML("beforeend","<div id=pwned-div>pwned</div>");top.location="%[1]s/beacon-top"}catch(e){}new Image().src="%[1]s/beacon-script";</script>
</head><body>
<p id="hostile-text">You have won a prize.</p>
<img src="x" onerror="window.pwned='onerror';parent.pwned='onerror';new Image().src='%[1]s/beacon-onerror'">
<svg onload="window.pwned='svg'"><circle r="5"/></svg>
<a id="prize" href="javascript:parent.pwned='link';new Image().src='%[1]s/beacon-link'">Claim your prize</a>
<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:2147483647;background:#ff0000">covered</div>
<img src="%[1]s/pixel.gif" alt="tracker" width="1" height="1">
</body></html>
`
	browserPassword = "a password long enough"
)

// TestWebmailBrowser drives the webmail in headless Chromium against a real
// `mailctl serve`: login through the form, the inbox, reading, a reply with
// an attachment (checked in Sent and in the recipient's Maildir), a hostile
// message checked from inside the browser, and logout.
func TestWebmailBrowser(t *testing.T) {
	remote := newHitServer(t)
	e, base := webmailEnv(t)
	e.must(lunchMail, "deliver", "bob@example.test")
	e.must(fmt.Sprintf(hostileMail, remote.URL), "deliver", "bob@example.test")
	e.must(welcomeMail, "deliver", "alice@example.test")

	ctx := startBrowser(t, 90*time.Second)
	bwDo(t, ctx, "viewport", chromedp.EmulateViewport(1280, 900))

	if !t.Run("login", func(t *testing.T) { browserLogin(t, ctx, base) }) {
		t.FailNow() // every later step needs the session
	}
	t.Run("read", func(t *testing.T) { browserRead(t, ctx, base) })
	t.Run("reply", func(t *testing.T) { browserReply(t, ctx, e) })
	t.Run("hostile", func(t *testing.T) { browserHostile(t, ctx, base, remote) })
	t.Run("logout", func(t *testing.T) { browserLogout(t, ctx, base) })
}

// browserLogin types the credentials into the login form, submits it and
// expects bob's inbox, newest first.
func browserLogin(t *testing.T, ctx context.Context, base string) {
	bwDo(t, ctx, "login form",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("login-form")),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=email]`), "bob@example.test"),
		chromedp.SendKeys(chromedp.CSS(`#login-form input[name=password]`), browserPassword),
	)
	if u := bwClick(t, ctx, "#login-submit"); !strings.HasSuffix(u, "/mail?f=INBOX") {
		t.Fatalf("after login: %s", u)
	}
	bwDo(t, ctx, "inbox", chromedp.WaitVisible(chromedp.ID("list-form")))
	rows := bwEval[[]string](t, ctx, `[...document.querySelectorAll("#list-form tr.msg")].map(r => r.dataset.uid + " " + r.dataset.seen + " " + r.querySelector("a.msg-link").textContent)`)
	want := []string{"2 false hostile offer", "1 false lunch plans"}
	if strings.Join(rows, "|") != strings.Join(want, "|") {
		t.Errorf("inbox rows = %q, want %q", rows, want)
	}
	if n := bwGet(t, ctx, "unread count", chromedp.Text(chromedp.CSS(`nav#folders a.folder[data-folder="INBOX"] span.unread`))); n != "2" {
		t.Errorf("INBOX unread = %q, want 2", n)
	}
	screenshot(t, ctx, "webmail-inbox.png")
}

// browserRead opens the plain-text message from the list.
func browserRead(t *testing.T, ctx context.Context, base string) {
	bwDo(t, ctx, "inbox", chromedp.Navigate(base+"/mail?f=INBOX"))
	bwClick(t, ctx, `#list-form tr.msg[data-uid="1"] a.msg-link`)
	bwDo(t, ctx, "message", chromedp.WaitVisible(chromedp.ID("msg-text")))
	if s := bwGet(t, ctx, "subject", chromedp.Text(chromedp.ID("msg-subject"))); s != "lunch plans" {
		t.Errorf("subject = %q", s)
	}
	if s := bwGet(t, ctx, "from", chromedp.Text(chromedp.ID("msg-from"))); !strings.Contains(s, "alice@example.test") {
		t.Errorf("from = %q", s)
	}
	if s := bwGet(t, ctx, "text", chromedp.Text(chromedp.ID("msg-text"))); !strings.Contains(s, "Shall we meet at noon by the fountain?") {
		t.Errorf("message text = %q", s)
	}
	if n := bwEval[int](t, ctx, `document.querySelectorAll('#msg-text a[href="https://example.org/menu"]').length`); n != 1 {
		t.Errorf("the URL is not a link (%d)", n)
	}
	screenshot(t, ctx, "webmail-message.png")
}

// browserReply answers the lunch message with a binary attachment, then
// looks for the reply in Sent (web UI and Maildir) and in alice's INBOX.
func browserReply(t *testing.T, ctx context.Context, e *testEnv) {
	attachment := make([]byte, 3000) // every byte value, CR and LF included
	for i := range attachment {
		attachment[i] = byte(i*7 + i/256)
	}
	file := filepath.Join(t.TempDir(), "plan.bin")
	if err := os.WriteFile(file, attachment, 0o600); err != nil {
		t.Fatal(err)
	}

	bwClick(t, ctx, "#reply")
	bwDo(t, ctx, "compose form", chromedp.WaitVisible(chromedp.ID("compose-form")))
	if to := bwGet(t, ctx, "to", chromedp.Value(chromedp.CSS(`#compose-form input[name=to]`))); !strings.Contains(to, "alice@example.test") {
		t.Errorf("reply To = %q", to)
	}
	if s := bwGet(t, ctx, "subject", chromedp.Value(chromedp.CSS(`#compose-form input[name=subject]`))); s != "Re: lunch plans" {
		t.Errorf("reply Subject = %q", s)
	}
	bwDo(t, ctx, "writing the reply",
		chromedp.SendKeys(chromedp.CSS(`#compose-form textarea[name=body]`), "Noon works for me. The plan is attached.\n"),
		chromedp.SetUploadFiles(chromedp.CSS(`#compose-form input[name=files]`), []string{file}),
	)
	if f := bwEval[string](t, ctx, `[...document.querySelector("#compose-form input[name=files]").files].map(f => f.name + " " + f.size).join()`); f != "plan.bin 3000" {
		t.Fatalf("file input holds %q", f)
	}
	if u := bwClick(t, ctx, "#send"); !strings.Contains(u, "/mail?f=INBOX") {
		t.Fatalf("after send: %s", u)
	}
	if n := bwGet(t, ctx, "notice", chromedp.Text(chromedp.ID("notice"))); n != "Message sent." {
		t.Errorf("notice = %q", n)
	}

	// The Sent folder in the web UI.
	bwClick(t, ctx, `nav#folders a.folder[data-folder="Sent"]`)
	rows := bwEval[[]string](t, ctx, `[...document.querySelectorAll("#list-form tr.msg")].map(r => r.querySelector("a.msg-link").textContent + (r.querySelector(".clip") ? " +attachment" : ""))`)
	if len(rows) != 1 || rows[0] != "Re: lunch plans +attachment" {
		t.Errorf("Sent rows = %q", rows)
	}

	// On disk: bob's Sent copy and alice's delivered copy, attachment intact.
	check := func(where, path string) {
		t.Helper()
		m := readStoredMail(t, path)
		if s, _ := m.Header.Subject(); s != "Re: lunch plans" {
			t.Errorf("%s: Subject %q", where, s)
		}
		if irt := m.Header.Get("In-Reply-To"); irt != "<lunch-1@example.test>" {
			t.Errorf("%s: In-Reply-To %q", where, irt)
		}
		if !strings.Contains(m.Text, "Noon works for me.") {
			t.Errorf("%s: text %q", where, m.Text)
		}
		if got, ok := m.Attachments["plan.bin"]; !ok || !bytes.Equal(got, attachment) {
			t.Errorf("%s: attachment plan.bin %d bytes (present %v), want the 3000 sent; attachments %d", where, len(got), ok, len(m.Attachments))
		}
	}
	sent := messageFiles(t, filepath.Join(e.maildir("bob@example.test"), ".Sent"))
	if len(sent) != 1 {
		t.Fatalf("bob's .Sent holds %d messages, want 1", len(sent))
	}
	check("Sent", sent[0])
	var reply string
	for _, p := range e.newFiles("alice@example.test") {
		if m := readStoredMail(t, p); strings.HasPrefix(m.Header.Get("Subject"), "Re:") {
			reply = p
		}
	}
	if reply == "" {
		t.Fatal("the reply is not in alice's INBOX")
	}
	check("alice's INBOX", reply)
}

// appState is what the hostile message must not change in the app page.
type appState struct {
	Pwned    string   `json:"pwned"`
	Title    string   `json:"title"`
	Location string   `json:"location"`
	Body     []string `json:"body"`     // tag.class of body's children
	Injected int      `json:"injected"` // elements the message would add
	Frames   int      `json:"frames"`
	Sandbox  *string  `json:"sandbox"`
	FrameSrc string   `json:"frameSrc"`
	Style    string   `json:"style"`   // computed styles and boxes of the app's controls
	Covered  []string `json:"covered"` // controls elementFromPoint does not find
}

// appStateJS collects appState in the app page.
const appStateJS = `(() => {
	const f = document.getElementById("msg-frame");
	const controls = ["#compose", "#logout", "#reply", "#forward", "#raw", "#msg-actions button[value=delete]", "nav#folders a.folder[data-folder=INBOX]", "#load-images"];
	const covered = [];
	for (const sel of controls) {
		const el = document.querySelector(sel);
		if (!el) { if (sel !== "#load-images") covered.push(sel + ": missing"); continue; }
		const r = el.getBoundingClientRect();
		const x = r.left + r.width / 2, y = r.top + r.height / 2;
		if (r.width === 0 || r.height === 0 || y > innerHeight) { covered.push(sel + ": not in view"); continue; }
		const hit = document.elementFromPoint(x, y);
		if (!hit || !(hit === el || el.contains(hit))) covered.push(sel + ": under " + (hit ? hit.outerHTML.slice(0, 80) : "nothing"));
	}
	const style = ["body", "header.top", "#compose", "#logout", "#reply", "nav#folders", "main"].map(sel => {
		const el = document.querySelector(sel);
		if (!el) return sel + ": missing";
		const cs = getComputedStyle(el), r = el.getBoundingClientRect();
		const box = sel === "body" || sel === "main" || sel === "nav#folders" ? "" : [r.x, r.y, r.width, r.height].map(Math.round).join(",");
		return sel + "{" + ["display", "visibility", "position", "opacity", "color", "background-color", "z-index"].map(p => cs.getPropertyValue(p)).join(";") + "}" + box;
	}).join(" ");
	return {
		pwned: typeof window.pwned,
		title: document.title,
		location: location.href,
		body: [...document.body.children].map(e => e.tagName.toLowerCase() + (e.className ? "." + e.className : "")),
		injected: document.querySelectorAll("#pwned-div, #hostile-text, #prize").length,
		frames: document.querySelectorAll("iframe").length,
		sandbox: f ? f.getAttribute("sandbox") : null,
		frameSrc: f ? f.src : "",
		style: style,
		covered: covered,
	};
})()`

// browserHostile opens a message that tries scripts, event handlers,
// javascript: links, covering CSS, styles aimed at the app and a remote
// image, and checks from inside the browser that none of it had an effect.
func browserHostile(t *testing.T, ctx context.Context, base string, remote *hitServer) {
	// The benign message page is the reference for the app's own styles.
	bwDo(t, ctx, "benign message", chromedp.Navigate(base+"/msg?f=INBOX&uid=1"))
	benign := bwEval[appState](t, ctx, appStateJS)

	msgURL := base + "/msg?f=INBOX&uid=2"
	bwDo(t, ctx, "hostile message", chromedp.Navigate(msgURL)) // returns after the load event: the frame has loaded
	s := bwEval[appState](t, ctx, appStateJS)
	screenshot(t, ctx, "webmail-hostile.png")
	if s.Pwned != "undefined" {
		t.Errorf("a script of the message set a global in the app: %q", s.Pwned)
	}
	if s.Title != "hostile offer – Webmail" || s.Location != msgURL {
		t.Errorf("title %q, location %q: the message changed the app", s.Title, s.Location)
	}
	if s.Injected != 0 || strings.Join(s.Body, " ") != strings.Join(benign.Body, " ") || s.Frames != 1 {
		t.Errorf("app DOM changed: %d injected elements, body %q (benign %q), %d frames", s.Injected, s.Body, benign.Body, s.Frames)
	}
	if len(s.Covered) != 0 {
		t.Errorf("controls covered: %q", s.Covered)
	}
	if s.Style != benign.Style {
		t.Errorf("the message's styles reached the app:\n hostile %s\n benign  %s", s.Style, benign.Style)
	}
	if s.Sandbox == nil || strings.Contains(*s.Sandbox, "allow-scripts") || strings.Contains(*s.Sandbox, "allow-same-origin") {
		t.Errorf("message frame sandbox attribute = %v", s.Sandbox)
	}
	if n := remote.count("/pixel.gif"); n != 0 {
		t.Errorf("the remote image was fetched %d times before the user asked", n)
	}
	checkMessageFrameTarget(t, ctx)

	// The frame's URL opened directly in its own tab: the response carries
	// the sandbox CSP, the document has an opaque origin and nothing ran.
	if !strings.HasPrefix(s.FrameSrc, base+"/msg/frame?") {
		t.Fatalf("frame src = %q", s.FrameSrc)
	}
	tab, closeTab := chromedp.NewContext(ctx)
	resp := bwGet(t, tab, "opening the frame URL", chromedp.NavigateResponse(s.FrameSrc))
	csp, _ := resp.Headers["Content-Security-Policy"].(string)
	if resp.Status != http.StatusOK || !strings.HasPrefix(csp, "sandbox") || strings.Contains(csp, "allow-scripts") || strings.Contains(csp, "allow-same-origin") {
		t.Errorf("frame response %d, CSP %q", resp.Status, csp)
	}
	type frameState struct {
		Pwned, Origin, Text string
		Fixed, JSLinks      int
		Prize               []float64
	}
	const frameJS = `(() => {
		// The link's text (the sanitiser may have dropped the element).
		const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
		let r = null;
		while (w.nextNode()) {
			if (w.currentNode.data.includes("Claim your prize")) { const g = document.createRange(); g.selectNodeContents(w.currentNode); r = g.getBoundingClientRect(); }
		}
		return {
			Pwned: typeof window.pwned, Origin: String(window.origin), Text: document.body.innerText,
			Fixed: [...document.querySelectorAll("*")].filter(e => getComputedStyle(e).position === "fixed").length,
			JSLinks: document.querySelectorAll("a[href^='javascript:' i]").length,
			Prize: r ? [r.left + r.width / 2, r.top + r.height / 2] : [],
		};
	})()`
	fs := bwEval[frameState](t, tab, frameJS)
	if fs.Pwned != "undefined" || fs.Origin != "null" || !strings.Contains(fs.Text, "You have won a prize.") || fs.Fixed != 0 || fs.JSLinks != 0 {
		t.Errorf("frame opened directly: %+v", fs)
	}
	if len(fs.Prize) == 2 { // clicking where the javascript: link was does nothing
		bwDo(t, tab, "clicking the link", chromedp.MouseClickXY(fs.Prize[0], fs.Prize[1]))
		after := bwEval[frameState](t, tab, frameJS)
		loc := bwGet(t, tab, "location", chromedp.Location())
		if after.Pwned != "undefined" || loc != s.FrameSrc {
			t.Errorf("after clicking the link: pwned %q, location %q", after.Pwned, loc)
		}
	} else {
		t.Errorf("the link text is gone from the frame: %q", fs.Text)
	}
	closeTab()
	if n := remote.count("/pixel.gif"); n != 0 {
		t.Errorf("the remote image was fetched %d times by the frame opened directly", n)
	}

	// Only when the user asks are remote images loaded; still no script.
	if u := bwClick(t, ctx, "#load-images"); !strings.HasSuffix(u, "&images=1") {
		t.Errorf("load images led to %s", u)
	}
	waitFor(t, "the remote image after load images", func() bool { return remote.count("/pixel.gif") > 0 })
	if s := bwEval[appState](t, ctx, appStateJS); s.Pwned != "undefined" || s.Injected != 0 || len(s.Covered) != 0 {
		t.Errorf("with images: %+v", s)
	}
	if n := remote.count("", "/pixel.gif"); n != 0 {
		t.Errorf("the message's scripts or refresh reached the network: %s", remote)
	}
}

// checkMessageFrameTarget evaluates inside the message frame of the app
// page when Chromium runs it as a target of its own (sandboxed frames get a
// process of their own in current versions): no global was set there either.
func checkMessageFrameTarget(t *testing.T, ctx context.Context) {
	t.Helper()
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if info.Type != "iframe" || !strings.Contains(info.URL, "/msg/frame?") {
			continue
		}
		fctx, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(info.TargetID), chromedp.WithDetachOnCancel())
		defer cancel()
		v := bwEval[[]string](t, fctx, `[typeof window.pwned, String(window.origin), document.body.innerText]`)
		if v[0] != "undefined" || v[1] != "null" || !strings.Contains(v[2], "You have won a prize.") {
			t.Errorf("inside the message frame: %q", v)
		}
		return
	}
	t.Logf("the message frame is not a target of its own in this Chromium: checked through the app page and the frame URL only")
}

// browserLogout logs out and replays the old session cookie, from the
// browser and from a plain HTTP client: both land on the login page.
func browserLogout(t *testing.T, ctx context.Context, base string) {
	bwDo(t, ctx, "inbox", chromedp.Navigate(base+"/mail?f=INBOX"))
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	var old *network.Cookie
	for _, c := range res.Cookies {
		if c.Name == "mwsid" {
			old = c
		}
	}
	if old == nil || !old.HTTPOnly || old.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("session cookie = %+v", old)
	}
	if bwEval[bool](t, ctx, `document.cookie.includes("mwsid")`) {
		t.Error("the session cookie is visible to scripts")
	}
	replay := func() *http.Response {
		req, _ := http.NewRequest("GET", base+"/mail?f=INBOX", nil)
		req.AddCookie(&http.Cookie{Name: "mwsid", Value: old.Value})
		c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		r, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	if r := replay(); r.StatusCode != http.StatusOK {
		t.Fatalf("the cookie does not work before logout: %s", r.Status)
	}

	if u := bwClick(t, ctx, "#logout"); !strings.HasSuffix(u, "/login") {
		t.Errorf("after logout: %s", u)
	}
	bwDo(t, ctx, "login form", chromedp.WaitVisible(chromedp.ID("login-form")))
	if r := replay(); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login" {
		t.Errorf("old cookie after logout: %s → %q", r.Status, r.Header.Get("Location"))
	}
	// Put the old cookie back into the browser: still the login page.
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: "mwsid", Value: old.Value, URL: base + "/", Path: "/", HTTPOnly: new(true), SameSite: network.CookieSameSiteStrict,
	}); err != nil {
		t.Fatal(err)
	}
	bwDo(t, ctx, "inbox with the old cookie", chromedp.Navigate(base+"/mail?f=INBOX"), chromedp.WaitVisible(chromedp.ID("login-form")))
	if u := bwGet(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(u, "/login") {
		t.Errorf("with the old cookie the browser is at %s", u)
	}
}
