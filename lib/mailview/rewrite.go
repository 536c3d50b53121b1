package mailview

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// Caps on images of the message embedded as data: URIs.
const (
	maxInlineImage = 5 << 20
	maxInlineTotal = 20 << 20
)

// embeddable are the image types shown from data: URIs, decided by sniffing
// the bytes, not by the part's label. Never SVG: it can carry script.
var embeddable = map[string]bool{"image/png": true, "image/gif": true, "image/jpeg": true, "image/webp": true}

// sanitize runs the policy, then rewrites what the policy let through:
// cid: images become data: URIs, remote images go unless allowed, links open
// a new window without referrer. The rewrite only sets values it builds
// itself, so the policy's guarantees hold.
func (w *walker) sanitize(src string) string {
	clean := policy.Sanitize(src)
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(clean), ctx)
	if err != nil {
		w.p.problem("HTML could not be rewritten, not shown")
		return ""
	}
	var b strings.Builder
	for _, n := range nodes {
		w.rewrite(n)
		if err := html.Render(&b, n); err != nil {
			w.p.problem("HTML could not be rewritten, not shown")
			return ""
		}
	}
	return b.String()
}

func (w *walker) rewrite(n *html.Node) {
	if n.Type == html.ElementNode {
		attrs := n.Attr[:0]
		for _, a := range n.Attr {
			if a, keep := w.attr(n, a); keep {
				attrs = append(attrs, a)
			}
		}
		n.Attr = attrs
		if n.DataAtom == atom.A && hasAttr(n, "href") {
			n.Attr = append(n.Attr,
				html.Attribute{Key: "target", Val: "_blank"},
				html.Attribute{Key: "rel", Val: "noopener noreferrer"})
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.rewrite(c)
	}
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

// attr decides about one attribute that passed the policy.
func (w *walker) attr(n *html.Node, a html.Attribute) (html.Attribute, bool) {
	key := strings.ToLower(a.Key)
	if a.Namespace != "" || strings.HasPrefix(key, "on") || key == "target" || key == "rel" {
		return a, false
	}
	switch key {
	case "src":
		return w.src(a)
	case "href":
		u, err := url.Parse(strings.TrimSpace(a.Val))
		if err != nil {
			return a, false
		}
		switch strings.ToLower(u.Scheme) {
		case "http", "https", "mailto", "tel":
			return a, true
		case "cid":
			part := w.cid(cidOf(u))
			if part == nil || w.opts.PartURL == nil {
				return a, false
			}
			a.Val = w.opts.PartURL(part.part())
			return a, true
		}
		return a, false
	case "background":
		w.m.RemoteImagesBlocked = w.m.RemoteImagesBlocked || !w.opts.RemoteImages
		return a, w.opts.RemoteImages
	case "style":
		a.Val = w.style(a.Val)
		return a, a.Val != ""
	case "cite":
		return a, false // never followed by browsers, only a tracker's chance
	}
	return a, true
}

// src rewrites an image source: cid: to a data: URI, remote kept only when
// the user asked.
func (w *walker) src(a html.Attribute) (html.Attribute, bool) {
	u, err := url.Parse(strings.TrimSpace(a.Val))
	if err != nil {
		return a, false
	}
	if u.Scheme == "" && u.Host != "" && strings.HasPrefix(strings.TrimSpace(a.Val), "//") {
		u.Scheme = "https" // protocol-relative: the frame's own scheme would be ours
		a.Val = u.String()
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		if !w.opts.RemoteImages {
			w.m.RemoteImagesBlocked = true
			return a, false
		}
		return a, true
	case "cid":
		data, ok := w.embed(cidOf(u))
		a.Val = data
		return a, ok
	}
	return a, false
}

func cidOf(u *url.URL) string {
	id := u.Opaque
	if id == "" {
		id = strings.TrimPrefix(u.String(), u.Scheme+":")
	}
	if s, err := url.PathUnescape(id); err == nil {
		id = s
	}
	return strings.Trim(id, "<>")
}

// embed returns the data: URI of the message's own image with this
// Content-ID, if it is a raster image within the caps.
func (w *walker) embed(id string) (string, bool) {
	part := w.cid(id)
	if part == nil {
		w.p.problem("an inline image refers to a missing part (cid:%s)", clip(id))
		return "", false
	}
	body := decodeBody(part, w.p)
	if len(body) > maxInlineImage || w.embedded+len(body) > maxInlineTotal {
		w.p.problem("part %s: inline image too large to show, offered as attachment", part.part())
		return "", false
	}
	typ, _, _ := strings.Cut(http.DetectContentType(body), ";")
	if !embeddable[typ] {
		w.p.problem("part %s: inline image of type %s not shown", part.part(), typ)
		return "", false
	}
	w.embedded += len(body)
	w.shown[part.part()] = true
	return "data:" + typ + ";base64," + base64.StdEncoding.EncodeToString(body), true
}

// cssURL finds anything in a style value that may load a resource: url(),
// image-set(), or CSS escapes that could spell them.
var cssURL = regexp.MustCompile(`(?i)url\s*\(|image-set|image\s*\(|\\|expression`)

var cssSimpleURL = regexp.MustCompile(`(?i)^[^\\]*url\(\s*['"]?https?://[^\s'"()\\]+['"]?\s*\)[^\\]*$`)

// style drops declarations that would load something, unless remote images
// are allowed and the declaration holds one plain http(s) url().
func (w *walker) style(v string) string {
	var keep []string
	for _, decl := range splitDecls(v) {
		if cssURL.MatchString(decl) {
			if w.opts.RemoteImages && cssSimpleURL.MatchString(decl) && strings.Count(strings.ToLower(decl), "url(") == 1 {
				keep = append(keep, decl)
				continue
			}
			w.m.RemoteImagesBlocked = w.m.RemoteImagesBlocked || strings.Contains(strings.ToLower(decl), "http")
			continue
		}
		keep = append(keep, decl)
	}
	return strings.Join(keep, "; ")
}

// splitDecls splits a style value at semicolons outside quotes and
// parentheses.
func splitDecls(v string) []string {
	var out []string
	depth, quote, start := 0, byte(0), 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case c == ';' && depth == 0:
			if d := strings.TrimSpace(v[start:i]); d != "" {
				out = append(out, d)
			}
			start = i + 1
		}
	}
	if d := strings.TrimSpace(v[start:]); d != "" {
		out = append(out, d)
	}
	return out
}
