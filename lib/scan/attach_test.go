package scan

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/base64"
	"strings"
	"testing"
)

// withAttachment is a message carrying data as a base64 attachment.
func withAttachment(disposition string, data []byte) []byte {
	return []byte("From: <a@pass.test>\r\nSubject: files\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\nMessage-ID: <2@x>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhere\r\n" +
		"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: " + disposition +
		"\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64.StdEncoding.EncodeToString(data) + "\r\n--b--\r\n")
}

type zipEntry struct {
	name string
	data []byte
}

func makeZip(t *testing.T, entries ...zipEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	w := zip.NewWriter(&b)
	for _, e := range entries {
		f, err := w.Create(e.name)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(e.data)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestAttachments(t *testing.T) {
	d := newZone(t)
	s := newScanner(t, d, Options{Attachments: &AttachmentPolicy{}})
	nested := makeZip(t, zipEntry{"readme.txt", []byte("hi")})
	for range 4 {
		nested = makeZip(t, zipEntry{"inner.zip", nested})
	}
	for _, tc := range []struct {
		name, disposition string
		data              []byte
		refused           string // part of the reason; "" accepted
	}{
		{"pdf", `attachment; filename="report.pdf"`, []byte("%PDF-1.4"), ""},
		{"exe by name", `attachment; filename="setup.exe"`, []byte("data"), ".exe files"},
		{"double extension", `attachment; filename="invoice.pdf.exe"`, []byte("data"), "double extension"},
		{"trailing dot and space", `attachment; filename="run.bat. "`, []byte("data"), ".bat files"},
		{"RFC 2231 name", `attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.js`, []byte("x"), ".js files"},
		{"program under a harmless name", `attachment; filename="notes.txt"`, []byte("MZ\x90\x00rest"), "Windows program"},
		{"script by content", `attachment; filename="notes"`, []byte("#!/bin/sh\nrm -rf ~\n"), "script"},
		{"script in a zip", `attachment; filename="docs.zip"`, makeZip(t, zipEntry{"a.txt", []byte("x")}, zipEntry{"b.vbs", []byte("x")}), `in docs.zip: "b.vbs"`},
		{"program in a zip", `attachment; filename="docs.zip"`, makeZip(t, zipEntry{"photo.jpg", []byte("MZ...")}), "Windows program"},
		{"clean zip", `attachment; filename="docs.zip"`, makeZip(t, zipEntry{"a.txt", []byte("x")}), ""},
		{"nested too deep", `attachment; filename="deep.zip"`, nested, "nested too deep"},
		{"zip bomb", `attachment; filename="big.zip"`, makeZip(t, zipEntry{"zeros.bin", make([]byte, 65<<20)}), "unpacks to too much"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := s.Check(context.Background(), env("a@pass.test"), withAttachment(tc.disposition, tc.data))
			if err != nil {
				t.Fatal(err)
			}
			r := find(rep, "attachment")
			if tc.refused == "" {
				if r.Result != "ok" || rep.Action != "accept" {
					t.Errorf("refused: %+v %s", r, rep.Reason)
				}
				return
			}
			if r.Result != "refused" || rep.Action != "reject" || !strings.Contains(rep.Reason, tc.refused) {
				t.Errorf("got %+v, %s %q; want refused for %q", r, rep.Action, rep.Reason, tc.refused)
			}
			if strings.ContainsFunc(rep.Reason, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
				t.Errorf("reason not printable ASCII: %q", rep.Reason)
			}
		})
	}
	// Without a policy, attachments are not judged.
	plain := newScanner(t, d, Options{})
	rep, _ := plain.Check(context.Background(), env("a@pass.test"), withAttachment(`attachment; filename="setup.exe"`, []byte("MZ")))
	if rep.Action != "accept" || find(rep, "attachment").Result != "(missing)" {
		t.Errorf("no policy: %s %+v", rep.Action, find(rep, "attachment"))
	}
}
