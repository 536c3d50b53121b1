package scan

import (
	"bytes"
	"testing"
)

// FuzzParseMessage: the MIME walk and the header strip never panic, keep
// their limits, and stripping keeps the body.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("From: <a@b.test>\r\nSubject: hi\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b\r\n" +
		"Content-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n--c--\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak =3D\r\n"))
	f.Add([]byte("Authentication-Results: mx.example.org; spf=pass\r\n\tdkim=pass\r\nFrom: x\r\n\r\nAuthentication-Results: mx.example.org\r\n"))
	f.Add([]byte("Subject: =?utf-8?q?ALL_CAPS_=C3=84=C3=96?=\r\n\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := parseMessage(raw)
		if len(m.text) > maxTextSize {
			t.Fatalf("text %d bytes", len(m.text))
		}
		(&AttachmentPolicy{}).check(m)
		_ = m.fromDomain()
		_ = m.subject()
		out, n := stripAuthResults(raw, "mx.example.org")
		if n == 0 && !bytes.Equal(out, raw) {
			t.Fatal("unchanged message rewritten")
		}
		if len(out) > len(raw) {
			t.Fatal("strip grew the message")
		}
		if _, n2 := stripAuthResults(out, "mx.example.org"); n2 != 0 {
			t.Fatalf("a second pass stripped %d more", n2)
		}
	})
}
