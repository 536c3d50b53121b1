package smtpout

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

func TestNormalizeCRLF(t *testing.T) {
	tests := map[string]string{
		"":                  "",
		"a\r\nb\r\n":        "a\r\nb\r\n",
		"a\nb\n":            "a\r\nb\r\n",
		"a\nb":              "a\r\nb\r\n",
		"a\rb\r\n":          "a\r\nb\r\n",
		"a\r\n\rb\n\n":      "a\r\n\r\nb\r\n\r\n",
		"a\r\n.\r\nsmuggle": "a\r\n.\r\nsmuggle\r\n",
		"x\n.\r\n":          "x\r\n.\r\n",
	}
	for in, want := range tests {
		if got := string(normalizeCRLF([]byte(in))); got != want {
			t.Errorf("normalizeCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWriteData(t *testing.T) {
	tests := map[string]string{
		"a\r\n.b\r\n..\r\n.\r\n": "a\r\n..b\r\n...\r\n..\r\n.\r\n",
		"":                       ".\r\n",
		"no end":                 "no end\r\n.\r\n",
	}
	for in, want := range tests {
		var b bytes.Buffer
		w := bufio.NewWriter(&b)
		if err := writeData(w, []byte(in)); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("writeData(%q) = %q, want %q", in, b.String(), want)
		}
	}
}

func TestSplitHeader(t *testing.T) {
	tests := []struct{ in, hdr string }{
		{"A: b\r\n\r\nbody", "A: b\r\n\r\n"},
		{"A: b\n\nbody\n\r\nx", "A: b\n\n"},
		{"\r\nbody", "\r\n"},
		{"only: header\r\n", "only: header\r\n"},
	}
	for _, tt := range tests {
		h, b := splitHeader([]byte(tt.in))
		if string(h) != tt.hdr || string(h)+string(b) != tt.in {
			t.Errorf("splitHeader(%q) = %q, %q", tt.in, h, b)
		}
	}
}

// decodeQP reads a quoted-printable body back.
func decodeQP(t *testing.T, s string) string {
	t.Helper()
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	if err != nil {
		t.Fatalf("bad quoted-printable %q: %v", s, err)
	}
	return string(b)
}

func TestTo7bitSinglePart(t *testing.T) {
	body := "Grüße aus Köln, " + strings.Repeat("ä", 60) + "\r\n.line with dot\r\n"
	in := "From: a@example.org\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body
	out := string(to7bit([]byte(in)))
	if has8bit([]byte(out)) {
		t.Fatalf("output still has 8-bit bytes:\n%s", out)
	}
	hdr, b := splitHeader([]byte(out))
	if headerField(hdr, "Content-Transfer-Encoding") != "quoted-printable" || strings.Count(string(hdr), "Content-Transfer-Encoding") != 1 {
		t.Errorf("header:\n%s", hdr)
	}
	if headerField(hdr, "Subject") != "hi" {
		t.Errorf("other fields lost:\n%s", hdr)
	}
	if got := decodeQP(t, string(b)); got != body {
		t.Errorf("decoded body %q, want %q", got, body)
	}
	for _, l := range strings.Split(string(b), "\r\n") {
		if len(l) > 76 {
			t.Errorf("line longer than 76: %q", l)
		}
	}
}

func TestTo7bitNoMIME(t *testing.T) {
	out := string(to7bit([]byte("Subject: plain\r\n\r\nçà va\r\n")))
	hdr, b := splitHeader([]byte(out))
	if headerField(hdr, "MIME-Version") != "1.0" || !strings.Contains(headerField(hdr, "Content-Type"), "charset=utf-8") {
		t.Errorf("header:\n%s", hdr)
	}
	if decodeQP(t, string(b)) != "çà va\r\n" {
		t.Errorf("body %q", b)
	}
}

func TestTo7bitMultipart(t *testing.T) {
	att := []byte{0x00, 0xff, 0x80, 'x', '\r', '\n'}
	in := "MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"BB\"\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" +
		"preamble\r\n" +
		"--BB\r\n" +
		"Content-Type: text/plain; charset=us-ascii\r\n\r\n" +
		"plain ascii part\r\n" +
		"--BB\r\n" +
		"Content-Type: text/html; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" +
		"<p>naïve</p>\r\n" +
		"--BB\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n" +
		string(att) +
		"--BB\r\n" +
		"Content-Type: message/rfc822\r\n\r\n" +
		"Subject: inner\r\n\r\ninnér\r\n" +
		"--BB--\r\n" +
		"epilogue\r\n"
	out := string(to7bit([]byte(in)))
	if has8bit([]byte(out)) {
		t.Fatalf("output still has 8-bit bytes:\n%s", out)
	}
	for _, want := range []string{
		"preamble\r\n--BB\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nplain ascii part\r\n--BB\r\n", // untouched part
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n<p>na=C3=AFve</p>\r\n--BB\r\n",
		// the CRLF before a delimiter belongs to the delimiter, not the data
		"Content-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(att[:4]) + "\r\n\r\n--BB\r\n",
		"Subject: inner\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ninn=C3=A9r\r\n--BB--\r\nepilogue\r\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	hdr, _ := splitHeader([]byte(out))
	if headerField(hdr, "Content-Transfer-Encoding") != "7bit" {
		t.Errorf("multipart CTE not 7bit:\n%s", hdr)
	}
}

func TestTo7bitLeavesASCII(t *testing.T) {
	in := []byte("Subject: x\r\n\r\nascii only\r\n")
	if out := to7bit(in); !bytes.Equal(out, in) {
		t.Errorf("changed: %q", out)
	}
}

func FuzzTo7bit(f *testing.F) {
	f.Add([]byte("Subject: x\r\n\r\nçà\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n\xff\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: multipart/alternative; boundary=\"q\"\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\né\r\n--q\r\nContent-Type: message/rfc822\r\n\r\nA: b\r\n\r\n\x80\r\n--q--\r\n"))
	f.Add([]byte("Content-Transfer-Encoding: base64\r\n\r\n\xff\xfe\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		msg := normalizeCRLF(in)
		out := to7bit(msg)
		if !has8bit(msg) && !bytes.Equal(out, msg) {
			t.Fatalf("7-bit input changed")
		}
		if again := to7bit(out); !bytes.Equal(again, out) && !has8bit(out) {
			t.Fatalf("not idempotent on 7-bit output")
		}
		// A single-part message with an ASCII header always comes out 7-bit.
		hdr, _ := splitHeader(msg)
		if !has8bit(hdr) && !bytes.Contains(bytes.ToLower(hdr), []byte("content-")) && has8bit(out) {
			t.Fatalf("8-bit output for a plain message:\n%q", out)
		}
	})
}
