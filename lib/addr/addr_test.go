package addr

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"bob@example.org", "bob@example.org"},
		{"<Bob@Example.ORG>", "bob@example.org"},
		{"bob@example.org.", "bob@example.org"},
		{`"bob@remote"@local.test`, `"bob@remote"@local.test`},
		{`"bob smith"@example.org`, `"bob smith"@example.org`},
		{"bob+tag@example.org", "bob+tag@example.org"},
		{"jörg@bücher.example", "jörg@xn--bcher-kva.example"},
		{"x@XN--BCHER-KVA.example", "x@xn--bcher-kva.example"},
	}
	for _, tt := range tests {
		a, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if a.String() != tt.want {
			t.Errorf("Parse(%q) = %q, want %q", tt.in, a.String(), tt.want)
		}
	}
}

func TestParseQuotedSplitsAtLastAt(t *testing.T) {
	a := MustParse(`"bob@remote"@local.test`)
	if a.Local != "bob@remote" || a.Domain != "local.test" {
		t.Fatalf("got %+v", a)
	}
}

func TestParseRejects(t *testing.T) {
	bad := []string{
		"", "<>", "bob", "@example.org", "bob@", "bob@@example.org",
		".bob@example.org", "bob.@example.org", "bo..b@example.org",
		"bob@exa mple.org", "bob@-example.org", "bob@[192.0.2.1]",
		"b/ob@example.org", "\"b/ob\"@example.org", "\"a\x00\"@example.org",
		"bob@ex_ample.org", "\"unterminated@example.org",
		"a@" + string(make([]byte, 300)),
		"\xff@example.org",
	}
	for _, s := range bad {
		if a, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %+v, want error", s, a)
		}
	}
}

func TestParsePathNull(t *testing.T) {
	for _, s := range []string{"", "<>", " <> "} {
		a, err := ParsePath(s)
		if err != nil || !a.IsZero() {
			t.Errorf("ParsePath(%q) = %+v, %v", s, a, err)
		}
	}
}

func TestSplitTag(t *testing.T) {
	tests := []struct{ in, base, tag string }{
		{"bob+lists", "bob", "lists"},
		{"bob+a+b", "bob", "a+b"},
		{"bob", "bob", ""},
		{"+bob", "+bob", ""},
		{"bob+", "bob", ""},
	}
	for _, tt := range tests {
		b, tg := SplitTag(tt.in, "+")
		if b != tt.base || tg != tt.tag {
			t.Errorf("SplitTag(%q) = %q,%q want %q,%q", tt.in, b, tg, tt.base, tt.tag)
		}
	}
}

func TestPathSafe(t *testing.T) {
	for _, s := range []string{"", ".", "..", ".hidden", "a/b", "a\x00"} {
		if PathSafe(s) {
			t.Errorf("PathSafe(%q) = true", s)
		}
	}
	for _, s := range []string{"bob", "bob+x", "jörg", "a.b"} {
		if !PathSafe(s) {
			t.Errorf("PathSafe(%q) = false", s)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"bob@example.org", `"a@b"@c.d`, "<x@y.z>", "jörg@bücher.example", "a..b@c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := Parse(s)
		if err != nil {
			return
		}
		// A canonical address must re-parse to itself and be path-safe
		// enough to never contain a slash or NUL.
		b, err := Parse(a.String())
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", a.String(), s, err)
		}
		if b != a {
			t.Fatalf("re-parse of %q gave %+v, want %+v", a.String(), b, a)
		}
		for i := 0; i < len(a.Local); i++ {
			if a.Local[i] == '/' || a.Local[i] == 0 {
				t.Fatalf("unsafe local part %q", a.Local)
			}
		}
	})
}
