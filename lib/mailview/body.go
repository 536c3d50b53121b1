package mailview

import (
	"strings"
)

// walker chooses the bodies to show and lists everything else as an
// attachment.
type walker struct {
	p     *parser
	m     *Message
	opts  Options
	cids  map[string]*node // Content-ID → part, anywhere in the message (see cid)
	texts []string
	htmls []string

	embedded int             // bytes of images embedded as data: URIs so far
	shown    map[string]bool // parts embedded in the HTML
}

func (w *walker) indexCIDs(n *node) {
	if id := contentID(n); id != "" && !n.isMultipart() {
		// Exact first; the lower-case key catches senders that change case.
		for _, k := range []string{id, "\x00" + strings.ToLower(id)} {
			if _, dup := w.cids[k]; !dup {
				w.cids[k] = n
			}
		}
	}
	for _, c := range n.children {
		w.indexCIDs(c)
	}
}

// cid finds the part with this Content-ID.
func (w *walker) cid(id string) *node {
	if n := w.cids[id]; n != nil {
		return n
	}
	return w.cids["\x00"+strings.ToLower(id)]
}

func disposition(n *node) string {
	d, _ := parseParams(n.header.get("Content-Disposition"))
	return d
}

// isBody reports whether a leaf is a text body to show rather than a file.
func isBody(n *node) bool {
	if n.mediaType != "text/plain" && n.mediaType != "text/html" {
		return false
	}
	switch disposition(n) {
	case "attachment":
		return false
	case "inline":
		return true
	}
	_, dp := parseParams(n.header.get("Content-Disposition"))
	return dp["filename"] == "" && n.params["name"] == ""
}

func (w *walker) walk(n *node) {
	switch {
	case !n.isMultipart():
		w.leaf(n)
	case n.mediaType == "multipart/alternative":
		w.alternative(n)
	case n.mediaType == "multipart/related":
		root := n.children[0]
		if start := strings.Trim(n.params["start"], "<> "); start != "" {
			for _, c := range n.children {
				if contentID(c) == start {
					root = c
				}
			}
		}
		w.walk(root)
		for _, c := range n.children {
			if c != root {
				w.attach(c)
			}
		}
	default: // mixed, signed, report, digest and unknown multiparts
		for _, c := range n.children {
			w.walk(c)
		}
	}
}

func (w *walker) leaf(n *node) {
	if !isBody(n) {
		w.attach(n)
		return
	}
	s := w.p.textBody(n)
	if n.mediaType == "text/html" {
		w.htmls = append(w.htmls, s)
	} else {
		w.texts = append(w.texts, s)
	}
}

// alternative shows the last HTML and the last plain-text alternative (the
// last is the richest, RFC 2046 5.1.4); other alternatives such as
// text/calendar are offered as attachments.
func (w *walker) alternative(n *node) {
	var text, rich *node
	for _, c := range n.children {
		switch {
		case c.isMultipart() || (c.mediaType == "text/html" && isBody(c)):
			rich = c
		case c.mediaType == "text/plain" && isBody(c):
			text = c
		}
	}
	if text == nil && rich == nil {
		w.walk(n.children[len(n.children)-1])
		return
	}
	richTexts := 0
	if rich != nil {
		before := len(w.texts)
		w.walk(rich)
		richTexts = len(w.texts) - before
	}
	for _, c := range n.children {
		switch c {
		case rich:
		case text:
			if richTexts > 0 {
				continue // the richer alternative already had its own text
			}
			w.walk(c)
		default:
			if !c.isMultipart() && !isBody(c) {
				w.attach(c)
			}
		}
	}
}

// attach lists a part (or the leaves of a multipart) as an attachment.
func (w *walker) attach(n *node) {
	if n.isMultipart() {
		for _, c := range n.children {
			w.attach(c)
		}
		return
	}
	w.m.Attachments = append(w.m.Attachments, Attachment{
		Part:        n.part(),
		Filename:    fileName(n),
		ContentType: n.mediaType,
		Size:        int64(len(decodeBody(n, w.p))),
		ContentID:   contentID(n),
	})
}

// finish joins the bodies and renders them.
func (w *walker) finish() {
	w.m.Text = strings.Join(w.texts, "\n\n")
	w.m.TextHTML = linkify(w.m.Text)
	if len(w.htmls) > 0 {
		parts := make([]string, len(w.htmls))
		for i, h := range w.htmls {
			parts[i] = w.sanitize(h)
		}
		w.m.HTML = strings.TrimSpace(strings.Join(parts, "\n<hr>\n"))
	}
	for i, a := range w.m.Attachments {
		w.m.Attachments[i].Inline = w.shown[a.Part]
	}
}
