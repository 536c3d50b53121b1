package mailview

import (
	"html"
	"html/template"
	"net/url"
	"regexp"
	"strings"

	nethtml "golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

var urlPattern = regexp.MustCompile(`(?i)\b(?:https?://|mailto:)[^\s<>"]+`)

// linkify escapes plain text and makes http, https and mailto URLs links
// that open a new window without referrer.
func linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range urlPattern.FindAllStringIndex(text, -1) {
		start, end := m[0], trimURLEnd(text[m[0]:m[1]])+m[0]
		u, err := url.Parse(text[start:end])
		if err != nil || (u.Host == "" && !strings.EqualFold(u.Scheme, "mailto")) || len(text[start:end]) <= len(u.Scheme)+3 {
			continue
		}
		b.WriteString(html.EscapeString(text[last:start]))
		href := html.EscapeString(text[start:end])
		b.WriteString(`<a href="` + href + `" rel="noopener noreferrer" target="_blank">` + href + `</a>`)
		last = end
	}
	b.WriteString(html.EscapeString(text[last:]))
	return template.HTML(b.String())
}

// trimURLEnd drops punctuation that ends a sentence rather than the URL,
// and a closing parenthesis without its opening one.
func trimURLEnd(s string) int {
	for len(s) > 0 {
		c := s[len(s)-1]
		switch {
		case strings.IndexByte(".,;:!?'*", c) >= 0:
		case c == ')' && strings.Count(s, "(") < strings.Count(s, ")"):
		case c == ']' && strings.Count(s, "[") < strings.Count(s, "]"):
		case c == '>':
		default:
			return len(s)
		}
		s = s[:len(s)-1]
	}
	return 0
}

// PlainText is the message's text body, or for an HTML-only message its HTML
// reduced to text (for quoting in replies and for previews).
func (m *Message) PlainText() string {
	if m.Text != "" || m.HTML == "" {
		return m.Text
	}
	return HTMLToText(m.HTML)
}

// HTMLToText reduces HTML to readable text: block elements end lines, links
// keep their URL, nothing else of the markup survives.
func HTMLToText(s string) string {
	ctx := &nethtml.Node{Type: nethtml.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := nethtml.ParseFragment(strings.NewReader(s), ctx)
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, n := range nodes {
		textOf(n, &b, false)
	}
	lines := strings.Split(b.String(), "\n")
	var out []string
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blank++
			if blank > 1 || len(out) == 0 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

func textOf(n *nethtml.Node, b *strings.Builder, pre bool) {
	switch n.Type {
	case nethtml.TextNode:
		if pre {
			b.WriteString(n.Data)
		} else {
			b.WriteString(strings.Join(strings.Fields(n.Data), " "))
			if strings.HasSuffix(n.Data, " ") || strings.HasSuffix(n.Data, "\n") {
				b.WriteString(" ")
			}
		}
		return
	case nethtml.ElementNode:
	default:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			textOf(c, b, pre)
		}
		return
	}
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Head, atom.Title:
		return
	case atom.Br:
		b.WriteString("\n")
		return
	case atom.Pre:
		pre = true
	case atom.Li:
		b.WriteString("\n* ")
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		textOf(c, b, pre)
	}
	switch n.DataAtom {
	case atom.A:
		for _, a := range n.Attr {
			if a.Key == "href" && (strings.HasPrefix(a.Val, "http") || strings.HasPrefix(a.Val, "mailto:")) {
				b.WriteString(" <" + a.Val + ">")
			}
		}
	case atom.P, atom.Div, atom.Table, atom.Tr, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Blockquote, atom.Pre, atom.Ul, atom.Ol, atom.Hr, atom.Section, atom.Article, atom.Header, atom.Footer:
		b.WriteString("\n\n")
	case atom.Td, atom.Th:
		b.WriteString(" ")
	}
}
