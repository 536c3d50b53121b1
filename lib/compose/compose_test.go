package compose

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/mail"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"

	"mailctl/lib/mailview"
)

func TestParseAddressList(t *testing.T) {
	tests := []struct {
		in   string
		want string // addresses joined by "|", name=address
		bad  bool
	}{
		{"", "", false},
		{"  ", "", false},
		{"a@example.org", "=a@example.org", false},
		{"A <a@example.org>, b@example.net", "A=a@example.org|=b@example.net", false},
		{`"Doe, John" <j@example.org>; k@example.org,`, "Doe, John=j@example.org|=k@example.org", false},
		{"Jürgen Groß <jg@bücher.example>", "Jürgen Groß=jg@bücher.example", false},
		{"=?utf-8?q?Ren=C3=A9?= <r@example.org>", "René=r@example.org", false},
		{"a@example.org\r\nBcc: victim@example.org", "", true},
		{"a@example.org\nb@example.org", "", true},
		{"a@example.org\x00", "", true},
		{"not an address", "", true},
		{"a@", "", true},
		{"<@example.org>", "", true},
		{"a@example.org, <broken", "", true},
		{"a@-bad-.example", "", true},
	}
	for _, tt := range tests {
		list, err := ParseAddressList(tt.in)
		if tt.bad {
			if err == nil || !errors.Is(err, ErrInvalidHeader) {
				t.Errorf("ParseAddressList(%q) = %v, %v; want ErrInvalidHeader", tt.in, list, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseAddressList(%q): %v", tt.in, err)
			continue
		}
		var got []string
		for _, a := range list {
			got = append(got, a.Name+"="+a.Address)
		}
		if strings.Join(got, "|") != tt.want {
			t.Errorf("ParseAddressList(%q) = %q, want %q", tt.in, strings.Join(got, "|"), tt.want)
		}
	}
	if _, err := ParseAddressList("x y z"); err == nil || !strings.Contains(err.Error(), `"x y z"`) {
		t.Errorf("error %v does not name the entry", err)
	}
}

func addrs(t *testing.T, s string) []*mail.Address {
	t.Helper()
	l, err := ParseAddressList(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var now = time.Date(2026, 11, 27, 20, 0, 0, 0, time.FixedZone("", 3600))

func TestBuildRoundTrip(t *testing.T) {
	binary := make([]byte, 70000)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range binary {
		binary[i] = byte(rng.UintN(256))
	}
	d := Draft{
		From:       addrs(t, "Zoë Ärger <zoe@example.org>")[0],
		To:         addrs(t, `"Doe, John" <john@example.net>, ünïcode@bücher.example`),
		Cc:         addrs(t, "cc@example.net"),
		Bcc:        addrs(t, "hidden@example.com"),
		Subject:    "Grüße – über den Bericht, a rather long subject line that must be folded somewhere sensible ✓",
		Body:       "Hallo,\r\nhier ist der Bericht.\nTrailing space \n" + strings.Repeat("long line ", 20) + "\n-- \nZoë",
		InReplyTo:  "parent@example.net",
		References: []string{"<root@example.net>", "parent@example.net"},
		Attachments: []File{
			{Name: "Bericht für März.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4\n\x00\x01\xff")},
			{Name: `C:\Users\zoe\random.bin`, ContentType: "", Data: binary},
			{Name: "empty.txt", ContentType: "text/plain; charset=utf-8", Data: nil},
		},
	}
	msg, err := Build(d, now, "mail.example.org")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range bytes.Split(msg, []byte("\r\n")) {
		if bytes.ContainsAny(line, "\r\n") || len(line) > 998 {
			t.Fatalf("line %d: bare line end or too long (%d): %.80q", i+1, len(line), line)
		}
	}
	hdr := string(msg[:bytes.Index(msg, []byte("\r\n\r\n"))])
	if strings.Contains(strings.ToLower("\n"+hdr), "\nbcc:") || bytes.Contains(msg, []byte("hidden@")) {
		t.Errorf("Bcc leaked:\n%s", hdr)
	}

	// go-message reads it back.
	r, err := gomail.CreateReader(bytes.NewReader(msg))
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := r.Header.Subject(); s != d.Subject {
		t.Errorf("Subject = %q", s)
	}
	if id, _ := r.Header.MessageID(); !strings.HasSuffix(id, "@mail.example.org") || len(id) < 30 {
		t.Errorf("Message-ID = %q", id)
	}
	if dt, _ := r.Header.Date(); !dt.Equal(now) {
		t.Errorf("Date = %v", dt)
	}
	if refs, _ := r.Header.MsgIDList("References"); strings.Join(refs, " ") != "root@example.net parent@example.net" {
		t.Errorf("References = %q", refs)
	}
	if to, _ := r.Header.AddressList("To"); len(to) != 2 || to[0].Name != "Doe, John" || to[1].Address != "ünïcode@xn--bcher-kva.example" {
		t.Errorf("To = %v (IDN domain as A-label)", to)
	}
	var files []File
	var text string
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch h := p.Header.(type) {
		case *gomail.InlineHeader:
			text = string(body)
		case *gomail.AttachmentHeader:
			name, _ := h.Filename()
			ct, _, _ := h.ContentType()
			files = append(files, File{Name: name, ContentType: ct, Data: body})
		}
	}
	wantText := "Hallo,\r\nhier ist der Bericht.\r\nTrailing space \r\n" + strings.Repeat("long line ", 20) + "\r\n-- \r\nZoë\r\n"
	if text != wantText {
		t.Errorf("text = %q\nwant %q", text, wantText)
	}
	wantFiles := []File{
		{"Bericht für März.pdf", "application/pdf", d.Attachments[0].Data},
		{"random.bin", "application/octet-stream", binary},
		{"empty.txt", "text/plain", nil},
	}
	if len(files) != len(wantFiles) {
		t.Fatalf("%d attachments", len(files))
	}
	for i, w := range wantFiles {
		if files[i].Name != w.Name || files[i].ContentType != w.ContentType || !bytes.Equal(files[i].Data, w.Data) {
			t.Errorf("attachment %d = %q %q %d bytes, want %q %q %d", i, files[i].Name, files[i].ContentType, len(files[i].Data), w.Name, w.ContentType, len(w.Data))
		}
	}

	// And so does mailview, the way the reader will show it.
	m, err := mailview.Parse(bytes.NewReader(msg), mailview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != d.Subject || m.From[0].Name != "Zoë Ärger" || len(m.Problems) != 0 {
		t.Errorf("mailview: Subject %q From %v Problems %q", m.Subject, m.From, m.Problems)
	}
	if m.Text != strings.ReplaceAll(wantText, "\r\n", "\n") {
		t.Errorf("mailview Text = %q", m.Text)
	}
	for i, a := range m.Attachments {
		_, name, data, err := mailview.Part(bytes.NewReader(msg), a.Part)
		if err != nil || name != wantFiles[i].Name || !bytes.Equal(data, wantFiles[i].Data) {
			t.Errorf("mailview attachment %d: %q %d bytes %v", i, name, len(data), err)
		}
	}
}

func TestBuildPlain(t *testing.T) {
	tests := []struct {
		body, cte, want string
	}{
		{"Hi.\nBye.", "7bit", "Hi.\r\nBye.\r\n"},
		{"", "7bit", ""},
		{"naïve", "quoted-printable", "na=C3=AFve\r\n"},
		{"trailing \nx", "quoted-printable", "trailing=20\r\nx\r\n"},
		{strings.Repeat("x", 100), "quoted-printable", strings.Repeat("x", 75) + "=\r\n" + strings.Repeat("x", 25) + "\r\n"},
	}
	for _, tt := range tests {
		msg, err := Build(Draft{From: &mail.Address{Address: "a@example.org"}, Subject: "s", Body: tt.body}, now, "h.example")
		if err != nil {
			t.Fatal(err)
		}
		hdr, body, _ := strings.Cut(string(msg), "\r\n\r\n")
		hdr += "\r\n"
		if !strings.Contains(hdr, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: "+tt.cte+"\r\n") {
			t.Errorf("%q: header\n%s", tt.body, hdr)
		}
		if body != tt.want {
			t.Errorf("%q: body %q, want %q", tt.body, body, tt.want)
		}
		if !strings.HasPrefix(hdr, "Date: Fri, 27 Nov 2026 20:00:00 +0100\r\nMessage-ID: <") || strings.Contains(hdr, "To:") {
			t.Errorf("header\n%s", hdr)
		}
	}
}

func TestBuildRefusesInjection(t *testing.T) {
	ok := func() Draft {
		return Draft{From: &mail.Address{Address: "a@example.org"}, To: []*mail.Address{{Address: "b@example.org"}}, Subject: "s"}
	}
	tests := []struct {
		name   string
		change func(d *Draft)
		host   string
	}{
		{"subject CRLF", func(d *Draft) { d.Subject = "hi\r\nBcc: x@example.org" }, ""},
		{"subject LF", func(d *Draft) { d.Subject = "hi\nX: y" }, ""},
		{"subject NUL", func(d *Draft) { d.Subject = "a\x00b" }, ""},
		{"from name", func(d *Draft) { d.From.Name = "Eve\r\nBcc: x@example.org" }, ""},
		{"to address", func(d *Draft) { d.To[0].Address = "b@example.org\r\nBcc: x@example.org" }, ""},
		{"bcc address", func(d *Draft) { d.Bcc = []*mail.Address{{Address: "bad"}} }, ""},
		{"nil address", func(d *Draft) { d.Cc = []*mail.Address{nil} }, ""},
		{"no from", func(d *Draft) { d.From = nil }, ""},
		{"in-reply-to", func(d *Draft) { d.InReplyTo = "<x@y>\r\nBcc: z@example.org" }, ""},
		{"in-reply-to space", func(d *Draft) { d.InReplyTo = "<x@y> <z@w>" }, ""},
		{"references", func(d *Draft) { d.References = []string{"a@b", "c@d\nX: 1"} }, ""},
		{"attachment name", func(d *Draft) { d.Attachments = []File{{Name: "a\r\nContent-Type: text/html"}} }, ""},
		{"attachment type", func(d *Draft) { d.Attachments = []File{{Name: "a", ContentType: "text/plain\r\nX: 1"}} }, ""},
		{"bad UTF-8", func(d *Draft) { d.Subject = "\xff" }, ""},
		{"hostname", func(d *Draft) {}, "evil>\r\nX: 1"},
		{"empty hostname", func(d *Draft) {}, "-"},
	}
	for _, tt := range tests {
		d := ok()
		tt.change(&d)
		host := "h.example"
		switch tt.host {
		case "":
		case "-":
			host = ""
		default:
			host = tt.host
		}
		msg, err := Build(d, now, host)
		if !errors.Is(err, ErrInvalidHeader) {
			t.Errorf("%s: err = %v, message %q", tt.name, err, msg)
		}
	}
	if _, err := Build(ok(), now, "h.example"); err != nil {
		t.Errorf("the unchanged draft fails: %v", err)
	}
}

func TestBuildEncodesLookalikes(t *testing.T) {
	msg, err := Build(Draft{From: &mail.Address{Address: "a@example.org"}, Subject: "=?utf-8?q?fake?= word"}, now, "h.example")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := mailview.Parse(bytes.NewReader(msg), mailview.Options{})
	if m.Subject != "=?utf-8?q?fake?= word" {
		t.Errorf("Subject read back as %q", m.Subject)
	}
}

func TestRecipients(t *testing.T) {
	d := Draft{
		To:  addrs(t, "A <a@example.org>, b@Bücher.example"),
		Cc:  addrs(t, "A@EXAMPLE.org, c@example.org"),
		Bcc: addrs(t, "c@example.org, d@example.org"),
	}
	got := strings.Join(Recipients(d), " ")
	if got != "a@example.org b@xn--bcher-kva.example c@example.org d@example.org" {
		t.Errorf("Recipients = %s", got)
	}
}

func TestFolding(t *testing.T) {
	var refs []string
	for i := range 20 {
		refs = append(refs, fmt.Sprintf("<%d.%s@example.org>", i, strings.Repeat("x", i)))
	}
	d := Draft{
		From:       &mail.Address{Address: "a@example.org"},
		To:         addrs(t, strings.Repeat("Some Person <some.person@example.org>, ", 10)+"last@example.org"),
		Subject:    strings.Repeat("word   ", 30) + strings.Repeat("y", 300),
		References: refs,
		Attachments: []File{
			{Name: strings.Repeat("日本語", 40) + ".txt", Data: []byte("a")},
			{Name: `say "hi" there.txt`, Data: []byte("b")},
			{Name: strings.Repeat("long-ascii-name-", 7) + ".txt", Data: []byte("c")},
		},
	}
	msg, err := Build(d, now, "h.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(msg), "\r\n") {
		if len(line) > 78 || (line != "" && strings.TrimSpace(line) == "") {
			t.Errorf("header line of %d bytes or blank: %q", len(line), line)
		}
	}
	m, err := mailview.Parse(strings.NewReader(string(msg)), mailview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.To) != 11 || len(m.References) != 20 || m.Subject != d.Subject {
		t.Errorf("read back: %d To, %d References, Subject %q", len(m.To), len(m.References), m.Subject)
	}
	wantNames := []string{fileName(d.Attachments[0].Name), d.Attachments[1].Name, d.Attachments[2].Name}
	if len(m.Attachments) != 3 {
		t.Fatalf("attachments %+v", m.Attachments)
	}
	for i, a := range m.Attachments {
		if a.Filename != wantNames[i] {
			t.Errorf("mailview name %q, want %q", a.Filename, wantNames[i])
		}
	}
	if []rune(wantNames[0])[0] != '日' || len([]rune(wantNames[0])) != maxNameRunes || !strings.HasSuffix(wantNames[0], ".txt") {
		t.Errorf("long name cut to %q", wantNames[0])
	}
	r, err := gomail.CreateReader(strings.NewReader(string(msg)))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		p, err := r.NextPart()
		if err != nil {
			break
		}
		if h, ok := p.Header.(*gomail.AttachmentHeader); ok {
			if name, err := h.Filename(); err != nil || name != wantNames[i-1] {
				t.Errorf("go-message name %q %v, want %q", name, err, wantNames[i-1])
			}
		}
	}
}
