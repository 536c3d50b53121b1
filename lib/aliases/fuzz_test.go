package aliases

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseAliases checks that whatever Parse accepts, Write writes back in
// a form that parses to the same aliases.
func FuzzParseAliases(f *testing.F) {
	for _, s := range []string{
		"info@example.org: bob@example.org, carol@example.org\n",
		"# c\n\n#x\n@Example.ORG: postmaster@example.org\r\n",
		`"a: b, c"@example.org: "x, y"@example.org, <Dave@Elsewhere.Example>` + "\n",
		"ünï@bücher.example:bob@bücher.example",
		"info@example.org: |/bin/cat\n",
		"info@example.org: :include:/etc/list\n",
		`x@example.org: "|cat"@example.org` + "\n",
		"a@example.org: b@example.org\nA@example.org: c@example.org\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		as, err := Parse(strings.NewReader(in), "in")
		if err != nil {
			return
		}
		var b strings.Builder
		if err := Write(&b, as); err != nil {
			t.Fatalf("Write refused parsed aliases: %v\n%+v", err, as)
		}
		again, err := Parse(strings.NewReader(b.String()), "out")
		if err != nil {
			t.Fatalf("written file does not parse: %v\n%s", err, b.String())
		}
		if len(as) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(as, again) {
			t.Fatalf("round trip changed the aliases:\n%+v\n%+v\n%s", as, again, b.String())
		}
	})
}
