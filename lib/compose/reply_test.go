package compose

import (
	"bytes"
	"net/mail"
	"strings"
	"testing"

	"mailctl/lib/mailview"
)

const original = "From: Alice <alice@example.org>\r\n" +
	"Reply-To: list@example.org\r\n" +
	"To: me@example.com, Bob <bob@example.net>\r\n" +
	"Cc: ME@Example.com, carol@example.net\r\n" +
	"Subject: RE: Aw: Re[2]: Plans\r\n" +
	"Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n" +
	"Message-ID: <m3@example.org>\r\n" +
	"References: <m1@example.org> <m2@example.org>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=b\r\n" +
	"\r\n" +
	"--b\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Hi,\r\n> earlier\r\n\r\nsee attached.\r\n" +
	"--b\r\n" +
	"Content-Type: application/octet-stream; name=\"data.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"AAEC/w==\r\n" +
	"--b\r\n" +
	"Content-Type: multipart/related; boundary=r\r\n" +
	"\r\n" +
	"--r\r\n" +
	"Content-Type: text/html\r\n" +
	"\r\n" +
	"<p>logo <img src=\"cid:logo\"></p>\r\n" +
	"--r\r\n" +
	"Content-Type: image/png\r\n" +
	"Content-ID: <logo>\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\r\n" +
	"--r--\r\n" +
	"--b\r\n" +
	"Content-Type: image/jpeg; name=photo.jpg\r\n" +
	"Content-Disposition: inline\r\n" +
	"Content-Transfer-Encoding: base64\r\n" +
	"\r\n" +
	"/9j/4AAQ\r\n" +
	"--b--\r\n"

func parsed(t *testing.T, raw string) *mailview.Message {
	t.Helper()
	m, err := mailview.Parse(strings.NewReader(raw), mailview.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func list(as []*mail.Address) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Address)
	}
	return strings.Join(s, ",")
}

func TestReply(t *testing.T) {
	m := parsed(t, original)
	self := &mail.Address{Name: "Me", Address: "me@example.com"}
	tests := []struct {
		all    bool
		to, cc string
	}{
		{false, "list@example.org", ""},
		{true, "list@example.org,bob@example.net", "carol@example.net"},
	}
	for _, tt := range tests {
		d := Reply(m, self, tt.all)
		if d.Subject != "Re: Plans" {
			t.Errorf("Subject = %q", d.Subject)
		}
		if list(d.To) != tt.to || list(d.Cc) != tt.cc || len(d.Bcc) != 0 {
			t.Errorf("all=%v: To %s Cc %s, want %s / %s", tt.all, list(d.To), list(d.Cc), tt.to, tt.cc)
		}
		if d.From != self || d.InReplyTo != "m3@example.org" || strings.Join(d.References, " ") != "m1@example.org m2@example.org m3@example.org" {
			t.Errorf("From %v InReplyTo %q References %q", d.From, d.InReplyTo, d.References)
		}
		want := "\n\nOn Wed, 25 Nov 2026 at 10:00, Alice wrote:\n> Hi,\n>> earlier\n>\n> see attached.\n"
		if d.Body != want {
			t.Errorf("Body = %q, want %q", d.Body, want)
		}
		if len(d.Attachments) != 0 {
			t.Errorf("a reply carries attachments")
		}
		if _, err := Build(d, now, "h.example"); err != nil {
			t.Errorf("Build(reply): %v", err)
		}
	}

	// Replying to one's own sent message goes to its recipients.
	own := parsed(t, "From: me@example.com\r\nTo: x@example.net\r\nSubject: hi\r\nIn-Reply-To: <p@x>\r\nMessage-ID: <q@x>\r\n\r\nbody\r\n")
	d := Reply(own, self, false)
	if list(d.To) != "x@example.net" || d.Subject != "Re: hi" || strings.Join(d.References, " ") != "p@x q@x" {
		t.Errorf("own: To %s Subject %q References %q", list(d.To), d.Subject, d.References)
	}

	// An HTML-only message is quoted as text.
	html := parsed(t, "From: h@example.net\r\nContent-Type: text/html\r\n\r\n<p>One</p><p>Two</p>")
	if d := Reply(html, self, false); !strings.HasSuffix(d.Body, "wrote:\n> One\n>\n> Two\n") {
		t.Errorf("HTML reply body %q", d.Body)
	}
}

func TestReferencesCapped(t *testing.T) {
	var refs []string
	for i := range 30 {
		refs = append(refs, "<r"+strings.Repeat("x", i)+"@x>")
	}
	m := parsed(t, "Message-ID: <last@x>\r\nReferences: "+strings.Join(refs, " ")+"\r\n\r\n")
	got := references(m)
	if len(got) != maxReferences || got[0] != "r@x" || got[len(got)-1] != "last@x" {
		t.Errorf("references = %d %q … %q", len(got), got[0], got[len(got)-1])
	}
}

func TestForward(t *testing.T) {
	m := parsed(t, original)
	d, err := Forward(m, []byte(original))
	if err != nil {
		t.Fatal(err)
	}
	if d.Subject != "Fwd: RE: Aw: Re[2]: Plans" {
		t.Errorf("Subject = %q", d.Subject)
	}
	for _, want := range []string{"---------- Forwarded message ----------\nFrom: Alice <alice@example.org>\n",
		"Subject: RE: Aw: Re[2]: Plans\n", "To: me@example.com, Bob <bob@example.net>\n", "\nHi,\n> earlier\n"} {
		if !strings.Contains(d.Body, want) {
			t.Errorf("Body lacks %q:\n%s", want, d.Body)
		}
	}
	if len(d.Attachments) != 2 || d.Attachments[0].Name != "data.bin" || !bytes.Equal(d.Attachments[0].Data, []byte{0, 1, 2, 0xff}) ||
		d.Attachments[1].Name != "photo.jpg" || !bytes.Equal(d.Attachments[1].Data, []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10}) {
		t.Fatalf("Attachments = %+v (the HTML's own logo stays behind, the photo goes)", d.Attachments)
	}
	again := parsed(t, "Subject: Fwd: fwd: FW: x\r\n\r\n")
	if d, _ := Forward(again, nil); d.Subject != "Fwd: x" {
		t.Errorf("Subject = %q", d.Subject)
	}

	// The forward, built and read back, carries the same bytes.
	d.From = &mail.Address{Address: "me@example.com"}
	d.To = []*mail.Address{{Address: "dave@example.net"}}
	msg, err := Build(d, now, "h.example")
	if err != nil {
		t.Fatal(err)
	}
	back := parsed(t, string(msg))
	if len(back.Attachments) != 2 {
		t.Fatalf("read back: %+v", back.Attachments)
	}
	_, name, data, err := mailview.Part(bytes.NewReader(msg), back.Attachments[0].Part)
	if err != nil || name != "data.bin" || !bytes.Equal(data, []byte{0, 1, 2, 0xff}) {
		t.Errorf("read back: %q %v %v", name, data, err)
	}

	// A part that is not in original is an error, not an empty file.
	if _, err := Forward(m, []byte("Subject: other\r\n\r\nbody")); err == nil {
		t.Error("Forward with the wrong original succeeded")
	}
}

func TestDraftResume(t *testing.T) {
	d := Draft{
		From:        &mail.Address{Name: "Zoë", Address: "zoe@example.org"},
		To:          []*mail.Address{{Address: "to@example.net"}},
		Cc:          []*mail.Address{{Name: "C", Address: "cc@example.net"}},
		Bcc:         []*mail.Address{{Name: "Hidden Person", Address: "bcc@example.net"}},
		Subject:     "Draft – unfinished",
		Body:        "First line\n\nsecond paragraph with trailing space \nend",
		InReplyTo:   "p@x",
		References:  []string{"r@x", "p@x"},
		Attachments: []File{{Name: "notes.txt", ContentType: "text/plain", Data: []byte("latin-1 \xe9 bytes\r\n")}},
	}
	saved, err := BuildDraft(d, now, "h.example")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(saved, []byte("\r\nBcc: \"Hidden Person\" <bcc@example.net>\r\n")) {
		t.Errorf("draft lacks its Bcc:\n%s", saved)
	}
	sent, err := Build(d, now, "h.example")
	if err != nil || bytes.Contains(sent, []byte("bcc@")) {
		t.Errorf("Build leaks Bcc or fails: %v", err)
	}
	m := parsed(t, string(saved))
	back, err := Resume(m, saved)
	if err != nil {
		t.Fatal(err)
	}
	if back.From.Address != d.From.Address || back.From.Name != d.From.Name || list(back.To) != "to@example.net" ||
		list(back.Cc) != "cc@example.net" || list(back.Bcc) != "bcc@example.net" || back.Bcc[0].Name != "Hidden Person" {
		t.Errorf("addresses: From %v To %v Cc %v Bcc %v", back.From, back.To, back.Cc, back.Bcc)
	}
	if back.Subject != d.Subject || back.Body != d.Body || back.InReplyTo != "p@x" || strings.Join(back.References, " ") != "r@x p@x" {
		t.Errorf("Subject %q Body %q InReplyTo %q References %q", back.Subject, back.Body, back.InReplyTo, back.References)
	}
	if len(back.Attachments) != 1 || back.Attachments[0].Name != "notes.txt" || back.Attachments[0].ContentType != "text/plain" ||
		!bytes.Equal(back.Attachments[0].Data, d.Attachments[0].Data) {
		t.Errorf("attachments %+v", back.Attachments)
	}
}
