package mailview

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

var remoteCSS = regexp.MustCompile(`(?i)url\(\s*['"]?https?://[^\s'"()\\]+['"]?\s*\)`)

var allowedURL = regexp.MustCompile(`^(https?:|mailto:|tel:|/part/|data:image/(png|gif|jpeg|webp);base64,)`)

// checkHTML parses sanitised HTML as a browser would and refuses elements
// and attributes that could run, load or submit anything.
func checkHTML(s string) error {
	ctx := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(s), ctx)
	if err != nil {
		return err
	}
	var check func(n *html.Node) error
	check = func(n *html.Node) error {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Script, atom.Style, atom.Iframe, atom.Object, atom.Embed, atom.Form, atom.Input, atom.Button,
				atom.Base, atom.Meta, atom.Link, atom.Svg, atom.Math, atom.Frame, atom.Textarea, atom.Select:
				return fmt.Errorf("element <%s>", n.Data)
			}
			if n.Namespace != "" {
				return fmt.Errorf("foreign element <%s>", n.Data)
			}
			for _, a := range n.Attr {
				k := strings.ToLower(a.Key)
				switch {
				case strings.HasPrefix(k, "on"), k == "srcset", k == "formaction", k == "action":
					return fmt.Errorf("attribute %s", k)
				case k == "href" || k == "src" || k == "background":
					if !allowedURL.MatchString(strings.ToLower(a.Val)) {
						return fmt.Errorf("%s=%q", k, a.Val)
					}
				case k == "style":
					if cssURL.MatchString(remoteCSS.ReplaceAllString(a.Val, "")) || strings.Contains(strings.ToLower(a.Val), "position") {
						return fmt.Errorf("style=%q", a.Val)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if err := check(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, n := range nodes {
		if err := check(n); err != nil {
			return err
		}
	}
	return nil
}

// FuzzParse checks that any input renders without panic, yields UTF-8, keeps
// the HTML free of active content, and lists only parts that Part can fetch
// with the size it reported.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/corpus/*.eml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("Content-Type: text/html\n\n<a href=\"java\nscript:x\">x</a><img src=cid:a>"))
	f.Add([]byte("Content-Type: multipart/related; boundary=x\n\n--x\nContent-Type: text/html\n\n<img src=\"cid:a\">\n--x\nContent-ID: <a>\nContent-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n--x--"))
	f.Add([]byte("Subject: =?utf-8?q?a=0D=0Ab?=\nFrom: =?utf-8?b?IkV2aWwi?= <a@b>\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data), Options{PartURL: partURL})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []string{m.Subject, m.Text, string(m.TextHTML), m.HTML} {
			if !utf8.ValidString(s) {
				t.Fatalf("not UTF-8: %q", s)
			}
		}
		control := func(r rune) bool { return r < ' ' || r == 0x7f }
		if strings.IndexFunc(m.Subject, control) >= 0 {
			t.Fatalf("control character in Subject %q", m.Subject)
		}
		if strings.IndexFunc(m.Text, func(r rune) bool { return control(r) && r != '\n' && r != '\t' }) >= 0 {
			t.Fatalf("control character in Text %q", m.Text)
		}
		for _, a := range m.Attachments {
			if a.Filename == "" || strings.ContainsAny(a.Filename, "/\\") || strings.IndexFunc(a.Filename, control) >= 0 {
				t.Fatalf("file name %q", a.Filename)
			}
		}
		if err := checkHTML(m.HTML); err != nil {
			t.Fatalf("%v in %s", err, m.HTML)
		}
		for _, a := range m.Attachments {
			_, name, body, err := Part(bytes.NewReader(data), a.Part)
			if err != nil || name != a.Filename || int64(len(body)) != a.Size {
				t.Fatalf("attachment %+v: Part = %q, %d bytes, %v", a, name, len(body), err)
			}
		}
	})
}
