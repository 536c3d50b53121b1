package pickup

import (
	"slices"
	"strings"
	"testing"
)

func TestScanAddresses(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"root", []string{"root"}},
		{"root (Cron Daemon)", []string{"root"}},
		{"(comment, with comma) root", []string{"root"}},
		{"Alice <alice@example.org>, bob", []string{"alice@example.org", "bob"}},
		{`"Smith, John" <john>, "quoted@local"@example.org`, []string{"john", `"quoted@local"@example.org`}},
		{"undisclosed-recipients:;", nil},
		{"friends: a@x.example, b; c", []string{"a@x.example", "b", "c"}},
		{"<@relay.example,@r2.example:bob@example.org>", []string{"bob@example.org"}},
		{" a,\r\n\tb ,, <> , two words", []string{"a", "b"}},
		{"=?utf-8?q?J=C3=B6rg?= <jörg@bücher.example>", []string{"jörg@bücher.example"}},
		{"Name <unterminated", nil},
		{"", nil},
	}
	for _, tt := range tests {
		var got []string
		for _, mb := range scanAddresses([]byte(tt.in)) {
			got = append(got, mb.spec)
			if tt.in[mb.end-len(mb.spec):mb.end] != mb.spec {
				t.Errorf("%q: offset %d does not end %q", tt.in, mb.end, mb.spec)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("scanAddresses(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestQualifyList(t *testing.T) {
	tests := []struct{ in, want string }{
		{" root (Cron Daemon)\r\n", " root@host.example (Cron Daemon)\r\n"},
		{" Alice <alice>, bob@example.org, carol", " Alice <alice@host.example>, bob@example.org, carol@host.example"},
		{` "a@b" <x>, "q"`, ` "a@b" <x@host.example>, "q"@host.example`},
		{" bob@example.org\r\n", " bob@example.org\r\n"},
		{" undisclosed-recipients:;", " undisclosed-recipients:;"},
	}
	for _, tt := range tests {
		got, changed := qualifyList([]byte(tt.in), "host.example")
		if string(got) != tt.want || changed != (tt.in != tt.want) {
			t.Errorf("qualifyList(%q) = %q %v, want %q", tt.in, got, changed, tt.want)
		}
	}
}

func TestParseMessage(t *testing.T) {
	tests := []struct {
		name, in string
		fields   []string
		body     string
	}{
		{"plain", "Subject: hi\nTo: root\n\nbody\n", []string{"Subject", "To"}, "body\r\n"},
		{"folded", "Subject: a\n  b\nX: y\r\n\r\nz", []string{"Subject", "X"}, "z"},
		{"no header", "hello world\nsecond\n", nil, "hello world\r\nsecond\r\n"},
		{"no empty line", "Subject: x\nhello world\n", []string{"Subject"}, "hello world\r\n"},
		{"only header", "Subject: x", []string{"Subject"}, ""},
		{"mbox From line", "From alice Mon Jan  2 15:04:05 2006\nSubject: x\n\nb", []string{"Subject"}, "b"},
		{"leading fold", " indented\nSubject: x\n\n", nil, " indented\r\nSubject: x\r\n\r\n"},
		{"obsolete space before colon", "Subject : x\n\nb", []string{"Subject"}, "b"},
		{"bare CR", "Subject: x\r\rb", []string{"Subject"}, "b"},
	}
	for _, tt := range tests {
		m := parseMessage([]byte(tt.in))
		var names []string
		for _, f := range m.fields {
			names = append(names, f.name)
		}
		if !slices.Equal(names, tt.fields) || string(m.body) != tt.body {
			t.Errorf("%s: fields %q body %q, want %q %q", tt.name, names, m.body, tt.fields, tt.body)
		}
	}
	m := parseMessage([]byte("Subject: a\n  b\n\nx"))
	if string(m.fields[0].raw) != "Subject: a\r\n  b\r\n" {
		t.Errorf("folded raw %q", m.fields[0].raw)
	}
	if got := string(m.bytes([]byte("X-Top: 1\r\n"))); got != "X-Top: 1\r\nSubject: a\r\n  b\r\n\r\nx" {
		t.Errorf("bytes: %q", got)
	}
	if got := string(parseMessage([]byte("Subject: x")).bytes(nil)); got != "Subject: x\r\n\r\n" {
		t.Errorf("unterminated last field: %q", got)
	}
}

func TestCleanAndRecipients(t *testing.T) {
	in := "From: root (Cron Daemon)\nTo: bob, Alice <alice@example.org>\nCc: carol\nBcc: secret@example.net,\n  dave\nSubject: To: nobody\n\nBcc: stays in the body\n"
	m := parseMessage([]byte(in))
	if got := m.recipientSpecs(); !slices.Equal(got, []string{"bob", "alice@example.org", "carol", "secret@example.net", "dave"}) {
		t.Errorf("recipientSpecs = %q", got)
	}
	m.clean("host.example")
	out := string(m.bytes(nil))
	want := "From: root@host.example (Cron Daemon)\r\nTo: bob@host.example, Alice <alice@example.org>\r\nCc: carol@host.example\r\nSubject: To: nobody\r\n\r\nBcc: stays in the body\r\n"
	if out != want {
		t.Errorf("clean:\n%s\nwant:\n%s", out, want)
	}

	resent := parseMessage([]byte("To: old@example.org\nResent-To: new\nResent-Bcc: hidden\n\nx"))
	if got := resent.recipientSpecs(); !slices.Equal(got, []string{"new", "hidden"}) {
		t.Errorf("Resent- recipients = %q", got)
	}
	resent.clean("h.example")
	if s := string(resent.bytes(nil)); strings.Contains(s, "hidden") || !strings.Contains(s, "Resent-To: new@h.example") {
		t.Errorf("Resent-Bcc not removed or Resent-To not qualified: %q", s)
	}
}

func FuzzScanAddresses(f *testing.F) {
	for _, s := range []string{"root (Cron Daemon)", `"a,b" <c>, d; g: e, f;`, "<@a,@b:c@d>", "((x) y) z", `"\"" <\>`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, mb := range scanAddresses([]byte(in)) {
			if mb.end < len(mb.spec) || mb.end > len(in) || in[mb.end-len(mb.spec):mb.end] != mb.spec || mb.spec == "" {
				t.Fatalf("%q: bad mailbox %+v", in, mb)
			}
		}
		out, changed := qualifyList([]byte(in), "q.example")
		if !changed && string(out) != in {
			t.Fatalf("unchanged but different: %q", out)
		}
		if changed && len(scanAddresses(out)) != len(scanAddresses([]byte(in))) {
			t.Fatalf("qualifying %q changed the number of mailboxes: %q", in, out)
		}
	})
}
