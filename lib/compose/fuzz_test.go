package compose

import (
	"bufio"
	"bytes"
	"errors"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/emersion/go-message/textproto"

	"mailctl/lib/mailview"
)

// asShown is the subject as mailview shows it: white space and other
// invisible controls as spaces, trimmed.
func asShown(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < ' ' || (r >= 0x7f && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s))
}

// FuzzBuild feeds form input to ParseAddressList and Build and checks that
// a built message has exactly the header fields Build writes, that the
// subject and file name read back unchanged, and that the attachment bytes
// survive.
func FuzzBuild(f *testing.F) {
	f.Add("A <a@example.org>", "b@example.net, C <c@example.net>", "Hello", "file.txt", "text/plain", []byte("data"))
	f.Add("a@example.org", "b@example.net", "Grüße\r\nBcc: x@example.org", "x\r\n.pdf", "", []byte{0, 1})
	f.Add("\"Q\\\" <x>\" <a@example.org>", "=?utf-8?q?b?= <b@example.net>", "=?utf-8?q?x?=", "../../a\x00b", "text/html; x=\"\r\n\"", []byte(nil))
	f.Fuzz(func(t *testing.T, from, to, subject, name, ctype string, data []byte) {
		fromList, err1 := ParseAddressList(from)
		toList, err2 := ParseAddressList(to)
		if err1 != nil || err2 != nil || len(fromList) != 1 {
			return
		}
		d := Draft{From: fromList[0], To: toList, Subject: subject, Body: subject,
			Bcc:         []*mail.Address{{Address: "hidden@example.com"}},
			Attachments: []File{{Name: name, ContentType: ctype, Data: data}}}
		msg, err := Build(d, now, "h.example")
		if err != nil {
			if !errors.Is(err, ErrInvalidHeader) {
				t.Fatalf("Build: %v", err)
			}
			return
		}
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(msg)))
		if err != nil {
			t.Fatalf("header does not parse: %v\n%q", err, msg)
		}
		var keys []string
		for f := h.Fields(); f.Next(); {
			keys = append(keys, strings.ToLower(f.Key()))
		}
		want := []string{"date", "message-id", "from", "subject", "mime-version", "content-type"}
		if len(toList) > 0 {
			want = slices.Insert(want, 3, "to")
		}
		if !slices.Equal(keys, want) {
			t.Fatalf("header fields %q, want %q", keys, want)
		}
		if bytes.Contains(bytes.ToLower(msg), []byte("hidden@")) {
			t.Fatal("Bcc leaked")
		}
		m, err := mailview.Parse(bytes.NewReader(msg), mailview.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != asShown(subject) || len(m.Problems) != 0 || len(m.Attachments) != 1 {
			t.Fatalf("read back: Subject %q (want %q), Problems %q, %d attachments", m.Subject, subject, m.Problems, len(m.Attachments))
		}
		_, gotName, got, err := mailview.Part(bytes.NewReader(msg), m.Attachments[0].Part)
		if err != nil || !bytes.Equal(got, data) || gotName != fileName(name) {
			t.Fatalf("attachment read back as %q (%d bytes, want %q %d): %v", gotName, len(got), fileName(name), len(data), err)
		}
	})
}
