package mailview

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emersion/go-imap/v2"
)

func parseFile(t *testing.T, name string, opts Options) *Message {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	m, err := Parse(bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("Parse(%s): %v", name, err)
	}
	return m
}

func partURL(p string) string { return "/part/" + p }

// unsafe lists what must never appear in sanitised HTML, in lower case.
var unsafe = []string{
	"<script", "onerror", "onload", "javascript:", "<style", "<base", "<meta", "<link", "<form", "<input",
	"<iframe", "<object", "<embed", "<svg", "<math", "position", "z-index", "expression", "evil.example.com",
	"data:text", "href=\"/logout\"",
}

func TestCorpusSafety(t *testing.T) {
	files, err := filepath.Glob("testdata/corpus/*.eml")
	if err != nil || len(files) < 8 {
		t.Fatalf("corpus: %v, %d files", err, len(files))
	}
	for _, f := range files {
		for _, remote := range []bool{false, true} {
			m := parseFile(t, filepath.Base(f), Options{RemoteImages: remote, PartURL: partURL})
			low := strings.ToLower(m.HTML)
			for _, bad := range unsafe {
				if strings.Contains(low, bad) {
					t.Errorf("%s (remote %v): HTML contains %q:\n%s", f, remote, bad, m.HTML)
				}
			}
			// data: only as images we embedded ourselves.
			for _, seg := range strings.Split(low, "data:")[1:] {
				if !strings.HasPrefix(seg, "image/png;base64,") && !strings.HasPrefix(seg, "image/gif;base64,") &&
					!strings.HasPrefix(seg, "image/jpeg;base64,") && !strings.HasPrefix(seg, "image/webp;base64,") {
					t.Errorf("%s: foreign data: URI %.40q", f, seg)
				}
			}
			if strings.Count(low, "<a ") != strings.Count(low, `rel="noopener noreferrer"`) {
				t.Errorf("%s: a link without rel=noopener noreferrer:\n%s", f, m.HTML)
			}
			if err := checkHTML(m.HTML); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			if err := checkHTML(string(m.TextHTML)); err != nil || strings.Contains(string(m.TextHTML), "<script") {
				t.Errorf("%s: TextHTML not escaped", f)
			}
		}
	}
}

func TestHostile(t *testing.T) {
	m := parseFile(t, "hostile.eml", Options{PartURL: partURL})
	for _, want := range []string{"Visible text survives.", "click me", "styled", `style="color: red"`} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, m.HTML)
		}
	}
	if m.Subject != "<script>alert(1)</script> hello" {
		t.Errorf("Subject = %q (kept as text, escaped by the template)", m.Subject)
	}
	if strings.Contains(m.HTML, "<img src=") {
		t.Errorf("an image survived: the SVG cid, data: and bogus sources must all go:\n%s", m.HTML)
	}
	var svg *Attachment
	for i, a := range m.Attachments {
		if a.Part == "2" {
			svg = &m.Attachments[i]
		}
	}
	if svg == nil || svg.Filename != "logo.svg" || svg.ContentType != "image/svg+xml" {
		t.Errorf("SVG attachment = %+v, want part 2 logo.svg (directories stripped)", svg)
	}
}

func TestNewsletterRemoteImages(t *testing.T) {
	blocked := parseFile(t, "newsletter.eml", Options{})
	if !blocked.RemoteImagesBlocked {
		t.Error("RemoteImagesBlocked = false")
	}
	for _, bad := range []string{"https://cdn.example.com", "track.example.net", "url(", "srcset", "background="} {
		if strings.Contains(blocked.HTML, bad) {
			t.Errorf("blocked HTML contains %q:\n%s", bad, blocked.HTML)
		}
	}
	for _, want := range []string{"Weekly deals – 50% off", `alt="Autumn sale"`, `href="https://shop.example.com/deals?utm=mail"`,
		`target="_blank"`, "font-size: 24px", `bgcolor="#336699"`} {
		if !strings.Contains(blocked.HTML, want) {
			t.Errorf("HTML lacks %q:\n%s", want, blocked.HTML)
		}
	}
	if strings.Contains(blocked.HTML, `target="_self"`) || strings.Contains(blocked.HTML, "class=") {
		t.Errorf("message's own target/class kept:\n%s", blocked.HTML)
	}
	if !strings.Contains(blocked.Text, "Weekly deals – 50% off everything.") {
		t.Errorf("Text = %q", blocked.Text)
	}
	want := `Shop now: <a href="https://shop.example.com/deals?utm=mail" rel="noopener noreferrer" target="_blank">https://shop.example.com/deals?utm=mail</a>.`
	if !strings.Contains(string(blocked.TextHTML), want) {
		t.Errorf("TextHTML = %s\nwant it to contain %s", blocked.TextHTML, want)
	}

	loaded := parseFile(t, "newsletter.eml", Options{RemoteImages: true})
	for _, want := range []string{`src="https://cdn.example.com/hero.jpg"`, `src="http://track.example.net/open.gif?id=42"`,
		"url(&#39;https://cdn.example.com/bg.png&#39;)", `background="https://cdn.example.com/table.png"`} {
		if !strings.Contains(loaded.HTML, want) {
			t.Errorf("with remote images, HTML lacks %q:\n%s", want, loaded.HTML)
		}
	}
	if loaded.RemoteImagesBlocked {
		t.Error("RemoteImagesBlocked with RemoteImages on")
	}
}

func TestCharsets(t *testing.T) {
	tests := []struct {
		file, subject, text, from string
	}{
		{"latin1.eml", "Réunion à l'hôtel demain", "Coût : 80 € (windows-1252 euro).\nGrüße aus Köln.", "François Müller"},
		{"mixed-charsets.eml", "Привет and grüße", "Grüße – 你好 – ✓\n\nПривет, мир", "Multi"},
		{"flowed.eml", "flowed", "wrapped by the sender's mail client at the soft break.\n> Quoted and flowed too.\n\n-- \nSig", "Flow"},
	}
	for _, tt := range tests {
		m := parseFile(t, tt.file, Options{})
		if m.Subject != tt.subject {
			t.Errorf("%s: Subject = %q, want %q", tt.file, m.Subject, tt.subject)
		}
		if !strings.Contains(m.Text, tt.text) {
			t.Errorf("%s: Text = %q, want it to contain %q", tt.file, m.Text, tt.text)
		}
		if len(m.From) != 1 || m.From[0].Name != tt.from {
			t.Errorf("%s: From = %v, want name %q", tt.file, m.From, tt.from)
		}
		if len(m.Problems) != 0 {
			t.Errorf("%s: Problems = %q", tt.file, m.Problems)
		}
	}
	m := parseFile(t, "latin1.eml", Options{})
	if len(m.To) != 2 || m.To[0].Name != "Jürgen" || m.To[1].Address != "anna@example.se" {
		t.Errorf("To = %v (raw 8-bit Latin-1 name)", m.To)
	}
	if len(m.Cc) != 1 || m.Cc[0].Name != "Café € Team" {
		t.Errorf("Cc = %v", m.Cc)
	}
	if m.MessageID != "abc.123@example.fr" || m.InReplyTo != "prev.1@example.de" ||
		strings.Join(m.References, " ") != "root.0@example.se prev.1@example.de" {
		t.Errorf("IDs = %q %q %q", m.MessageID, m.InReplyTo, m.References)
	}
	if m.Date.Unix() != 1793639073 {
		t.Errorf("Date = %v", m.Date)
	}
	mc := parseFile(t, "mixed-charsets.eml", Options{})
	if len(mc.Attachments) != 1 || mc.Attachments[0].Filename != "été-prix.txt" || mc.Attachments[0].Part != "3" {
		t.Fatalf("Attachments = %+v (RFC 2231 Latin-1 continued filename)", mc.Attachments)
	}
	ct, name, body, err := Part(openCorpus(t, "mixed-charsets.eml"), "3")
	if err != nil || ct != "text/plain" || name != "été-prix.txt" || string(body) != "Prix: 10 \xa4" {
		t.Errorf("Part 3 = %q %q %q %v (bytes as sent, charset not converted)", ct, name, body, err)
	}
	h := parseFile(t, "html-only.eml", Options{})
	if h.Text != "" || !strings.Contains(h.HTML, "<h1>Café € news</h1>") {
		t.Errorf("HTML-only: Text %q, HTML %q (meta charset windows-1252)", h.Text, h.HTML)
	}
	if got := h.PlainText(); !strings.Contains(got, "Café € news\n\nFirst paragraph with a link <https://example.com/a>.") || !strings.Contains(got, "* one\n* two") {
		t.Errorf("PlainText = %q", got)
	}
}

func openCorpus(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "corpus", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestNested(t *testing.T) {
	m := parseFile(t, "nested.eml", Options{PartURL: partURL})
	if m.Text != "Plain body with logo." {
		t.Errorf("Text = %q", m.Text)
	}
	if !strings.Contains(m.HTML, `<img src="data:image/png;base64,iVBORw0KGgo`) || !strings.Contains(m.HTML, `href="/part/2"`) {
		t.Errorf("HTML = %s (cid image embedded, cid link to the part)", m.HTML)
	}
	want := []Attachment{
		{Part: "1.2.2", Filename: "logo.png", ContentType: "image/png", Size: 70, Inline: true, ContentID: "logo@nest"},
		{Part: "2", Filename: "report.pdf", ContentType: "application/pdf", Size: 13, ContentID: "doc@nest"},
		{Part: "3", Filename: "The original.eml", ContentType: "message/rfc822", Size: 181},
	}
	if len(m.Attachments) != len(want) {
		t.Fatalf("Attachments = %+v", m.Attachments)
	}
	for i := range want {
		if m.Attachments[i] != want[i] {
			t.Errorf("Attachment %d = %+v, want %+v", i, m.Attachments[i], want[i])
		}
	}
	parts := []struct{ path, ct, name, prefix string }{
		{"1.1", "text/plain", "part-1.1.txt", "Plain body"},
		{"1.2.1", "text/html", "part-1.2.1.html", "<p>HTML body"},
		{"1.2.2", "image/png", "logo.png", "\x89PNG"},
		{"2", "application/pdf", "report.pdf", "%PDF-1.4 fake"},
		{"3", "message/rfc822", "The original.eml", "From: Old Sender"},
		{"3.1", "text/plain", "part-3.1.txt", "Original text."},
	}
	for _, p := range parts {
		ct, name, body, err := Part(openCorpus(t, "nested.eml"), p.path)
		if err != nil || ct != p.ct || name != p.name || !bytes.HasPrefix(body, []byte(p.prefix)) {
			t.Errorf("Part(%s) = %q %q %.20q %v", p.path, ct, name, body, err)
		}
	}
	for _, bad := range []string{"", "0", "1", "4", "1.3", "2.1", "3.2", "x", "1..2", "-1"} {
		if _, _, _, err := Part(openCorpus(t, "nested.eml"), bad); !errors.Is(err, ErrNoPart) {
			t.Errorf("Part(%q) error = %v, want ErrNoPart", bad, err)
		}
	}
	// A single-part message has only part 1.
	if _, _, body, err := Part(openCorpus(t, "latin1.eml"), "1"); err != nil || !bytes.HasPrefix(body, []byte("Bonjour \xe0")) {
		t.Errorf("Part(1) of single part = %.20q %v", body, err)
	}
	if _, _, _, err := Part(openCorpus(t, "latin1.eml"), "1.1"); !errors.Is(err, ErrNoPart) {
		t.Errorf("Part(1.1) of single part: %v", err)
	}
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		file     string
		text     string
		problems []string
		parts    []string
	}{
		{"malformed.eml", "Text in an unknown charset.\n\nno boundary here, still text",
			[]string{"malformed header line", "no closing boundary", "without boundary", "x-klingon", "damaged base64", "Date", "From", "Subject in an unknown charset"},
			[]string{"2", "4"}},
		{"no-boundary.eml", "Still readable.", []string{"guessed"}, nil},
	}
	for _, tt := range tests {
		m := parseFile(t, tt.file, Options{})
		if m.Text != tt.text {
			t.Errorf("%s: Text = %q, want %q", tt.file, m.Text, tt.text)
		}
		all := strings.Join(m.Problems, "\n")
		for _, p := range tt.problems {
			if !strings.Contains(all, p) {
				t.Errorf("%s: Problems lack %q:\n%s", tt.file, p, all)
			}
		}
		var got []string
		for _, a := range m.Attachments {
			got = append(got, a.Part)
		}
		if strings.Join(got, ",") != strings.Join(tt.parts, ",") {
			t.Errorf("%s: attachment parts = %v, want %v", tt.file, got, tt.parts)
		}
	}
	m := parseFile(t, "malformed.eml", Options{})
	if len(m.From) != 1 || m.From[0].Address != "broken@example.com" || m.From[0].Name != "Broken" {
		t.Errorf("From = %v (kept from an unclosed angle)", m.From)
	}
	if m.Attachments[0].Size != 11 {
		t.Errorf("bad base64 decoded to %d bytes, want 11 (\"Hello world\")", m.Attachments[0].Size)
	}
}

func TestParseSmall(t *testing.T) {
	tests := []struct {
		name, msg, text, html string
		problem               string
	}{
		{"empty", "", "", "", ""},
		{"header only", "Subject: x\r\n", "", "", ""},
		{"no header", "just a body line\n", "just a body line\n", "", ""},
		{"qp soft breaks", "Content-Transfer-Encoding: quoted-printable\n\nlong=\nline=3D1 =\n\ttail  \nend=", "longline=1 \ttail\nend", "", ""},
		{"bad qp", "Content-Transfer-Encoding: quoted-printable\n\na=ZZb", "a=ZZb", "", "damaged quoted-printable"},
		{"unknown cte", "Content-Transfer-Encoding: x-uuencode\n\nbody", "body", "", "unknown Content-Transfer-Encoding"},
		{"base64 concatenated", "Content-Transfer-Encoding: base64\n\naGk=\nIHRoZXJl\n", "hi there", "", ""},
		{"utf8 invalid", "Content-Type: text/plain; charset=utf-8\n\na\xffb", "a\ufffdb", "", ""},
		{"undeclared latin1", "\na\xe9b", "aéb", "", ""},
		{"controls", "\na\x00b\rc\x1b[31md\te\x7f\x0c", "ab\nc[31md\te", "", ""},
		{"html single", "Content-Type: text/html\n\n<b onclick=x>bold</b>", "", "<b>bold</b>", ""},
		{"alt picks last html and text", "Content-Type: multipart/alternative; boundary=b\n\n--b\n\none\n--b\nContent-Type: text/html\n\n<i>two</i>\n--b\n\nthree\n--b--\n",
			"three", "<i>two</i>", ""},
		{"mixed two texts", "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b--\n", "one\n\ntwo", "", ""},
		{"cid case differs", "Content-Type: multipart/related; boundary=b\n\n--b\nContent-Type: text/html\n\n<img src=\"cid:Logo@X\">\n--b\nContent-ID: <logo@x>\nContent-Transfer-Encoding: base64\n\nR0lGODlhAQABAAAAACw=\n--b--\n",
			"", `<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="/>`, ""},
		{"missing cid", "Content-Type: text/html\n\n<img src=\"cid:nope\">", "", "<img/>", "missing part"},
		{"deep nesting", deep(30), "", "", "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse(strings.NewReader(tt.msg), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if m.Text != tt.text || m.HTML != tt.html {
				t.Errorf("Text %q HTML %q, want %q %q", m.Text, m.HTML, tt.text, tt.html)
			}
			all := strings.Join(m.Problems, "\n")
			if (tt.problem == "") != (all == "") || !strings.Contains(all, tt.problem) {
				t.Errorf("Problems = %q, want %q", m.Problems, tt.problem)
			}
		})
	}
}

// deep nests n multiparts, each closed properly.
func deep(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i)
	}
	b.WriteString("\nbottom\n")
	for i := n - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\n", i)
	}
	return b.String()
}

func TestMaxSize(t *testing.T) {
	msg := "Subject: big\n\n" + strings.Repeat("0123456789\n", 100)
	m, err := Parse(strings.NewReader(msg), Options{MaxSize: 200})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Text) > 200 || len(m.Problems) != 1 || !strings.Contains(m.Problems[0], "larger than 200") {
		t.Errorf("Text %d bytes, Problems %q", len(m.Text), m.Problems)
	}
	if _, err := Parse(iotest.ErrReader(errors.New("disk on fire")), Options{}); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("read error = %v", err)
	}
}

func TestLinkify(t *testing.T) {
	tests := []struct{ in, want string }{
		{"see https://a.example/x?y=1&z=2.", `see <a href="https://a.example/x?y=1&amp;z=2" rel="noopener noreferrer" target="_blank">https://a.example/x?y=1&amp;z=2</a>.`},
		{"(http://a.example/p)", `(<a href="http://a.example/p" rel="noopener noreferrer" target="_blank">http://a.example/p</a>)`},
		{"http://en.example/Foo_(bar)", `<a href="http://en.example/Foo_(bar)" rel="noopener noreferrer" target="_blank">http://en.example/Foo_(bar)</a>`},
		{"<mailto:a@b.example>", `&lt;<a href="mailto:a@b.example" rel="noopener noreferrer" target="_blank">mailto:a@b.example</a>&gt;`},
		{"javascript:alert(1) <b>", "javascript:alert(1) &lt;b&gt;"},
		{`https://x.example/"onmouseover="alert(1)`, `<a href="https://x.example/" rel="noopener noreferrer" target="_blank">https://x.example/</a>&#34;onmouseover=&#34;alert(1)`},
		{"https://", "https://"},
	}
	for _, tt := range tests {
		if got := string(linkify(tt.in)); got != tt.want {
			t.Errorf("linkify(%q) =\n %s\nwant\n %s", tt.in, got, tt.want)
		}
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		in, value, key, want string
	}{
		{`text/plain; charset="UTF-8"`, "text/plain", "charset", "UTF-8"},
		{`Text/HTML;charset=iso-8859-1 (comment)`, "text/html", "charset", "iso-8859-1 (comment)"},
		{`attachment; filename="a \"b\".txt"`, "attachment", "filename", `a "b".txt`},
		{`attachment; filename=my file.pdf`, "attachment", "filename", "my file.pdf"},
		{`attachment; filename*=UTF-8''%E2%82%AC%20rates.pdf`, "attachment", "filename", "€ rates.pdf"},
		{`attachment; filename="=?UTF-8?B?w6l0w6kucGRm?="`, "attachment", "filename", "été.pdf"},
		{`attachment; filename="plain.txt"; filename*=utf-8''%C3%A9.txt`, "attachment", "filename", "é.txt"},
		{`attachment; filename*0="long"; filename*1="name.txt"`, "attachment", "filename", "longname.txt"},
		{`multipart/mixed; boundary="----=_Part_1"`, "multipart/mixed", "boundary", "----=_Part_1"},
		{``, "", "x", ""},
	}
	for _, tt := range tests {
		v, p := parseParams(tt.in)
		if v != tt.value || p[tt.key] != tt.want {
			t.Errorf("parseParams(%q) = %q %q, want %q %q", tt.in, v, p[tt.key], tt.value, tt.want)
		}
	}
}

func TestHasAttachment(t *testing.T) {
	text := &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain"}
	html := &imap.BodyStructureSinglePart{Type: "text", Subtype: "html"}
	img := &imap.BodyStructureSinglePart{Type: "image", Subtype: "png", ID: "<logo>"}
	inlineImg := &imap.BodyStructureSinglePart{Type: "image", Subtype: "png",
		Extended: &imap.BodyStructureSinglePartExt{Disposition: &imap.BodyStructureDisposition{Value: "inline"}}}
	pdf := &imap.BodyStructureSinglePart{Type: "application", Subtype: "pdf"}
	namedText := &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Params: map[string]string{"name": "notes.txt"}}
	attachedText := &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain",
		Extended: &imap.BodyStructureSinglePartExt{Disposition: &imap.BodyStructureDisposition{Value: "ATTACHMENT"}}}
	msg := &imap.BodyStructureSinglePart{Type: "message", Subtype: "rfc822"}
	multi := func(sub string, c ...imap.BodyStructure) imap.BodyStructure {
		return &imap.BodyStructureMultiPart{Subtype: sub, Children: c}
	}
	tests := []struct {
		name string
		bs   imap.BodyStructure
		want bool
	}{
		{"plain", text, false},
		{"alternative", multi("alternative", text, html), false},
		{"related image", multi("alternative", text, multi("related", html, img)), false},
		{"inline photo in mixed", multi("mixed", text, inlineImg), true},
		{"calendar alternative", multi("alternative", text, &imap.BodyStructureSinglePart{Type: "text", Subtype: "calendar"}), true},
		{"pdf", multi("mixed", text, pdf), true},
		{"image without disposition in mixed", multi("mixed", text, img), true},
		{"named text", multi("mixed", text, namedText), true},
		{"text attachment", multi("mixed", text, attachedText), true},
		{"attached message", multi("mixed", text, msg), true},
		{"pdf in related", multi("related", html, pdf), true},
	}
	for _, tt := range tests {
		if got := HasAttachment(tt.bs); got != tt.want {
			t.Errorf("%s: HasAttachment = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestCorpusStructure(t *testing.T) {
	tests := []struct {
		file, text, html string
		attachments      []string // part filename type inline
	}{
		{"apple-inline.eml", "Look at this:\n\nSent from my phone", "",
			[]string{"2 IMG_0001.jpeg image/jpeg false"}},
		{"invite.eml", "You are invited to Review.", "<p>You are invited to <b>Review</b>.</p>",
			[]string{"3 part-3.ics text/calendar false"}},
		{"digest.eml", "", "",
			[]string{"1 First post.eml message/rfc822 false", "2 Second post.eml message/rfc822 false"}},
		{"signed.eml", "Signed text ✓", "",
			[]string{"2 smime.p7s application/pkcs7-signature false"}},
		{"nested.eml", "Plain body with logo.", "",
			[]string{"1.2.2 logo.png image/png true", "2 report.pdf application/pdf false", "3 The original.eml message/rfc822 false"}},
	}
	for _, tt := range tests {
		m := parseFile(t, tt.file, Options{})
		if m.Text != tt.text || (tt.html != "" && m.HTML != tt.html) {
			t.Errorf("%s: Text %q HTML %q", tt.file, m.Text, m.HTML)
		}
		var got []string
		for _, a := range m.Attachments {
			got = append(got, fmt.Sprintf("%s %s %s %v", a.Part, a.Filename, a.ContentType, a.Inline))
		}
		if strings.Join(got, "|") != strings.Join(tt.attachments, "|") {
			t.Errorf("%s: attachments\n %q\nwant\n %q", tt.file, got, tt.attachments)
		}
		if len(m.Problems) > 0 {
			t.Errorf("%s: Problems %q", tt.file, m.Problems)
		}
	}
}
