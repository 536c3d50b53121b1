package mailview

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// markup returns the tags of s, without the text between them (where
// "alert(" is harmless).
func markup(s string) string {
	z := html.NewTokenizer(strings.NewReader(s))
	var b strings.Builder
	for {
		switch z.Next() {
		case html.ErrorToken:
			return b.String()
		case html.TextToken:
		default:
			b.WriteString(z.Token().String())
		}
	}
}

// TestXSSVectors runs classic filter-evasion payloads through Parse. None
// may leave an executable or loading construct; the visible text stays.
func TestXSSVectors(t *testing.T) {
	vectors := []string{
		`<IMG SRC="jav&#x0A;ascript:alert('XSS');">`,
		`<a href="&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)">x</a>`,
		`<a href="  javascript:alert(1)">x</a>`,
		`<a href="vbscript:msgbox(1)">x</a>`,
		`<a href="data:text/html,<script>alert(1)</script>">x</a>`,
		`<svg/onload=alert(1)>`,
		`<table background="javascript:alert(1)"><tr><td>x</td></tr></table>`,
		`<div style="background-image: url(&#1;javascript:alert(1))">x</div>`,
		`<div style="width: expression(alert(1))">x</div>`,
		`<div style="background:url(//evil.example/a.png)">x</div>`,
		`<img src="http://evil.example/x" /onerror=alert(1)>`,
		`<!--<img src="--><img src=x onerror=alert(1)//">`,
		`<title><img src=x onerror=alert(1)></title>`,
		`<textarea><img src=x onerror=alert(1)></textarea>`,
		`<noembed><img src=x onerror=alert(1)></noembed>`,
		`<xmp><img src=x onerror=alert(1)></xmp>`,
		`<img src="//evil.example/x.png">`,
		`<a href="https://ok.example/" target="_top" ping="https://evil.example/">x</a>`,
		`<form><button formaction=javascript:alert(1)>x</button></form>`,
		`<details open ontoggle=alert(1)>x</details>`,
		`<marquee onstart=alert(1)>x</marquee>`,
		`<img src=x:alert(alt) onerror=eval(src) alt=0>`,
		`<p style="font-family: '\'; background: url(https://evil.example/)">x</p>`,
		`<img src="https://evil.example/x" referrerpolicy="unsafe-url">`,
		`<video poster="https://evil.example/p.png" src="https://evil.example/v.mp4"></video>`,
		`<picture><source srcset="https://evil.example/a.png"><img src="cid:none"></picture>`,
		`<input type=image src="https://evil.example/i.png">`,
		`<body background="https://evil.example/b.png">x</body>`,
		`<link rel=prefetch href="https://evil.example/">`,
		`<object data="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="></object>`,
		`<a href="https://ok.example/" style="position:fixed;inset:0;z-index:2147483647">x</a>`,
		`<div style="transform:scale(100)">x</div>`,
		`<math><mi xlink:href="javascript:alert(1)">x</mi></math>`,
		`<iframe srcdoc="<script>alert(1)</script>"></iframe>`,
		`<a href="javas&Tab;cript:alert(1)">x</a>`,
		`<img src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">`,
		`<style>@import url(https://evil.example/x.css);</style>`,
		`<div style="list-style-image:url(https://evil.example/l.png)">x</div>`,
		`<div style="bac\kground:url(https://evil.example/e.png)">x</div>`,
		`<p>ok</p><plaintext><img src=x onerror=alert(1)>`,
		`<a href="/logout">x</a><a href="logout">y</a><a href="#top">z</a><img src="/logo.png"><img src="logo.png">`,
		`<blockquote cite="https://evil.example/">q</blockquote>`,
	}
	for _, v := range vectors {
		msg := "Content-Type: text/html; charset=utf-8\r\n\r\n<p>text-before</p>" + v
		m, err := Parse(strings.NewReader(msg), Options{PartURL: partURL})
		if err != nil {
			t.Fatal(err)
		}
		if err := checkHTML(m.HTML); err != nil {
			t.Errorf("%s\n  → %v in %s", v, err, m.HTML)
		}
		tags := strings.ToLower(markup(m.HTML))
		for _, bad := range []string{"evil.example", "alert(", "javascript", "vbscript", "ping=", "_top"} {
			if strings.Contains(tags, bad) {
				t.Errorf("%s\n  → %q survives in markup: %s", v, bad, m.HTML)
			}
		}
		if !strings.Contains(m.HTML, "text-before") {
			t.Errorf("%s: the text before is lost: %s", v, m.HTML)
		}
	}
}

func TestProtocolRelativeImage(t *testing.T) {
	msg := "Content-Type: text/html\r\n\r\n<img src=\"//img.example/a.png\"><a href=\"//img.example/\">l</a>"
	m, _ := Parse(strings.NewReader(msg), Options{})
	if !m.RemoteImagesBlocked || strings.Contains(m.HTML, "img.example") {
		t.Errorf("blocked %v: %s", m.RemoteImagesBlocked, m.HTML)
	}
	m, _ = Parse(strings.NewReader(msg), Options{RemoteImages: true})
	if !strings.Contains(m.HTML, `<img src="https://img.example/a.png"/>`) || strings.Contains(m.HTML, "href") {
		t.Errorf("loaded: %s", m.HTML)
	}
}
