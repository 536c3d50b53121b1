package aliases

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"mailctl/lib/addr"
	"mailctl/lib/corefile"
)

func mp(ss ...string) []addr.Address {
	out := make([]addr.Address, len(ss))
	for i, s := range ss {
		out[i] = addr.MustParse(s)
	}
	return out
}

func TestParse(t *testing.T) {
	in := `# header

# the info desk
Info@Example.ORG:  bob@example.org,carol@example.org ,  <Dave@Elsewhere.Example>
@Example.org: postmaster@example.org
"a: b, c"@example.org: "x, y"@example.org
`
	got, err := Parse(strings.NewReader(in), "aliases")
	if err != nil {
		t.Fatal(err)
	}
	want := []Alias{
		{Address: addr.MustParse("info@example.org"), Targets: mp("bob@example.org", "carol@example.org", "dave@elsewhere.example"), Comments: []string{"the info desk"}},
		{Address: addr.Address{Domain: "example.org"}, Targets: mp("postmaster@example.org")},
		{Address: addr.Address{Local: "a: b, c", Domain: "example.org"}, Targets: []addr.Address{{Local: "x, y", Domain: "example.org"}}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	if !got[1].IsCatchAll() || got[0].IsCatchAll() {
		t.Error("IsCatchAll wrong")
	}
}

// TestParseErrors covers every way a line can be wrong; each error must
// name file:line.
func TestParseErrors(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"no colon", "info@example.org bob@example.org", "no colon"},
		{"empty address", ": bob@example.org", "missing address"},
		{"bare local name", "info: bob@example.org", "missing @"},
		{"bad alias address", "in..fo@example.org: bob@example.org", "alias address"},
		{"bad catch-all domain", "@exa_mple.org: bob@example.org", "catch-all"},
		{"no targets", "info@example.org:", "empty target"},
		{"trailing comma", "info@example.org: bob@example.org,", "empty target"},
		{"double comma", "info@example.org: bob@example.org,, a@example.org", "empty target"},
		{"command", "info@example.org: |/usr/bin/procmail", "command targets"},
		{"command after address", "info@example.org: bob@example.org, |cat", "command targets"},
		{"quoted command", `info@example.org: "|cat"@example.org`, "command targets"},
		{"bracketed command", `info@example.org: <|cat@example.org>`, "command targets"},
		{"file", "info@example.org: /var/mail/info", "file targets"},
		{"include", "info@example.org: :include:/etc/list", ":include:"},
		{"include inside", `info@example.org: ":INCLUDE:x"@example.org`, ":include:"},
		{"catch-all target", "info@example.org: @example.org", "catch-all can't be a target"},
		{"bare local target", "info@example.org: bob", "missing @"},
		{"missing comma", "info@example.org: bob@example.org carol@example.org", "separated by commas"},
		{"bad target domain", "info@example.org: bob@-x.org", "target"},
		{"duplicate target", "info@example.org: bob@example.org, BOB@example.org", "listed twice"},
		{"duplicate alias", "OK@example.org: bob@example.org", "already defined at line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "# comment\nok@example.org: x@example.org\n\n" + tt.line + "\n@example.org: x@example.org\n"
			_, err := Parse(strings.NewReader(in), "/etc/mailctl/aliases")
			var le *corefile.LineError
			if !errors.As(err, &le) || le.Line != 4 {
				t.Fatalf("err = %v, want a LineError at line 4", err)
			}
			if !strings.HasPrefix(err.Error(), "/etc/mailctl/aliases:4: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want aliases:4 and %q", err, tt.want)
			}
		})
	}
}

func TestWriteRoundTrip(t *testing.T) {
	as := []Alias{
		{Address: addr.MustParse("info@example.org"), Targets: mp("bob@example.org", "dave@elsewhere.example"), Comments: []string{"desk", ""}},
		{Address: addr.Address{Domain: "xn--bcher-kva.example"}, Targets: mp("ünï@bücher.example")},
		{Address: addr.Address{Local: "a: b", Domain: "example.org"}, Targets: []addr.Address{{Local: "x, y", Domain: "example.org"}}},
	}
	var b strings.Builder
	if err := Write(&b, as); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, line := range []string{"\ninfo@example.org: bob@example.org, dave@elsewhere.example\n", "\n@xn--bcher-kva.example: ünï@xn--bcher-kva.example\n"} {
		if !strings.Contains(text, line) {
			t.Errorf("missing %q in\n%s", line, text)
		}
	}
	got, err := Parse(strings.NewReader(text), "w")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !reflect.DeepEqual(got, as) {
		t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, as)
	}
}

func TestWriteRefuses(t *testing.T) {
	info := addr.MustParse("info@example.org")
	tests := []struct {
		name string
		as   []Alias
		want string
	}{
		{"no address", []Alias{{Targets: mp("a@example.org")}}, "without an address"},
		{"no targets", []Alias{{Address: info}}, "no targets"},
		{"command target", []Alias{{Address: info, Targets: []addr.Address{{Local: "|cat", Domain: "example.org"}}}}, "can't be written"},
		{"catch-all target", []Alias{{Address: info, Targets: []addr.Address{{Domain: "example.org"}}}}, "can't be written"},
		{"not canonical", []Alias{{Address: addr.Address{Local: "Info", Domain: "example.org"}, Targets: mp("a@example.org")}}, "can't be written"},
		{"duplicate target", []Alias{{Address: info, Targets: mp("a@example.org", "a@example.org")}}, "listed twice"},
		{"duplicate alias", []Alias{{Address: info, Targets: mp("a@example.org")}, {Address: info, Targets: mp("b@example.org")}}, "listed twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(&strings.Builder{}, tt.as)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
