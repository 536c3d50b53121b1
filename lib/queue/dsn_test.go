package queue

import (
	"strings"
	"testing"
	"time"

	"mailctl/lib/addr"
)

func TestReportBuild(t *testing.T) {
	long := "550 5.7.1 " + strings.Repeat("word ", 60) + "end"
	rep := &report{
		hostname: "mx.example.org", queueID: "0006263a1f2c4b00f1a20001a3c9",
		to: addr.MustParse("alice@example.org"), sender: addr.MustParse("alice@example.org"),
		arrival: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), date: time.Date(2025, 1, 2, 4, 0, 0, 0, time.UTC),
		rcpts: []dsnRcpt{
			{addr: addr.MustParse("bob@example.net"), status: "5.7.1", remote: "mx.example.net", diag: long, smtp: true},
			{addr: addr.MustParse("x@nomail.example"), status: "5.1.10", diag: "556 5.1.10 domain accepts no mail (null MX)"},
		},
		header: originalHeader([]byte("From: a\nSubject: s\n\nbody\n")),
	}
	msg := string(rep.build())
	for _, l := range strings.Split(msg, "\r\n") {
		if len(l) > 78 {
			t.Errorf("line of %d bytes: %q", len(l), l)
		}
		if strings.Contains(l, "\n") {
			t.Errorf("bare LF in %q", l)
		}
	}
	d := parseDSN(t, []byte(msg))
	for _, want := range []string{"Diagnostic-Code: smtp; 550 5.7.1 word", "Diagnostic-Code: X-mailctl; 556 5.1.10", "Arrival-Date: Thu, 02 Jan 2025 03:04:05 +0000"} {
		if !strings.Contains(d.status, want) {
			t.Errorf("status lacks %q:\n%s", want, d.status)
		}
	}
	if d.headers != "From: a\r\nSubject: s\r\n" || strings.Contains(msg, "body") {
		t.Errorf("returned header %q", d.headers)
	}
	if !strings.Contains(d.text, "<bob@example.net>: host mx.example.net said:") {
		t.Errorf("text:\n%s", d.text)
	}
}

func TestReportUTF8(t *testing.T) {
	rep := &report{
		hostname: "mx.example.org", queueID: "0006263a1f2c4b00f1a20001a3c9",
		to: addr.MustParse("jörg@example.org"), sender: addr.MustParse("jörg@example.org"),
		rcpts:  []dsnRcpt{{addr: addr.MustParse("zoë@example.net"), status: "5.6.7", diag: "550 5.6.7 needs SMTPUTF8"}},
		header: originalHeader([]byte("Subject: Grüße\r\n\r\n")),
	}
	d := parseDSN(t, rep.build())
	if !strings.Contains(d.status, "Final-Recipient: utf-8; zoë@example.net") || !strings.Contains(d.headers, "Grüße") {
		t.Errorf("status:\n%s\nheaders:\n%s", d.status, d.headers)
	}
}

func TestFromDomain(t *testing.T) {
	tests := map[string]string{
		"From: Alice <Alice@Example.ORG>\r\n\r\nx":         "example.org",
		"Subject: x\nFrom: \"B, C\" <b@lists.example>\n\n": "lists.example",
		"Subject: no from\r\n\r\n":                         "",
		"From: not an address\r\n\r\n":                     "",
	}
	for in, want := range tests {
		if got := fromDomain([]byte(in)); got != want {
			t.Errorf("fromDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
