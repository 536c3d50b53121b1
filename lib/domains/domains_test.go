package domains

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"mailctl/lib/corefile"
)

func TestParse(t *testing.T) {
	in := "# header\n\nExample.ORG.\n# the shop\nbücher.example\n"
	s, err := Parse(strings.NewReader(in), "domains")
	if err != nil {
		t.Fatal(err)
	}
	want := Set{"example.org": nil, "xn--bcher-kva.example": {"the shop"}}
	if !reflect.DeepEqual(s, want) {
		t.Fatalf("got %#v, want %#v", s, want)
	}
	for _, d := range []string{"example.org", "EXAMPLE.org.", "BÜCHER.example", "xn--bcher-kva.example"} {
		if !s.Contains(d) {
			t.Errorf("Contains(%q) = false", d)
		}
	}
	for _, d := range []string{"other.example", "", "exa_mple.org"} {
		if s.Contains(d) {
			t.Errorf("Contains(%q) = true", d)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"two words", "example.org other.org", "invalid domain"},
		{"underscore", "exa_mple.org", "invalid domain"},
		{"leading hyphen", "-example.org", "invalid domain"},
		{"address literal", "[192.0.2.1]", "address literals"},
		{"address", "bob@example.org", "invalid domain"},
		{"trailing comment", "example.net # ours", "invalid domain"},
		{"duplicate", "OK.example.", "already listed at line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "# c\nok.example\n\n" + tt.line + "\nlast.example\n"
			_, err := Parse(strings.NewReader(in), "/etc/mailctl/domains")
			var le *corefile.LineError
			if !errors.As(err, &le) || le.Line != 4 || !strings.HasPrefix(err.Error(), "/etc/mailctl/domains:4: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want domains:4 and %q", err, tt.want)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	s := Set{"zz.example": {"last", "", "x"}, "aa.example": nil, "xn--bcher-kva.example": nil}
	var b strings.Builder
	if err := Write(&b, s); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(b.String(), "\naa.example\nxn--bcher-kva.example\n# last\n#\n# x\nzz.example\n") {
		t.Fatalf("unexpected output:\n%s", b.String())
	}
	back, err := Parse(strings.NewReader(b.String()), "w")
	if err != nil || !reflect.DeepEqual(back, s) {
		t.Fatalf("round trip: %#v, %v", back, err)
	}
	for _, bad := range []string{"Example.org", "bücher.example", "", "a..b"} {
		if err := Write(&strings.Builder{}, Set{bad: nil}); err == nil {
			t.Errorf("Write accepted %q", bad)
		}
	}
}

func TestFileAddRemove(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "domains")
	f := Open(path)
	if ok, err := f.Contains("example.org"); ok || err != nil {
		t.Fatalf("missing file: %v %v", ok, err)
	}
	for _, d := range []string{"Example.ORG", "bücher.example"} {
		if err := Add(ctx, path, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := Add(ctx, path, "example.org."); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: err = %v", err)
	}
	if err := Add(ctx, path, "bad_domain"); err == nil {
		t.Fatal("added an invalid domain")
	}
	all, err := f.All()
	if err != nil || !reflect.DeepEqual(all, []string{"example.org", "xn--bcher-kva.example"}) {
		t.Fatalf("All = %v, %v", all, err)
	}
	if ok, _ := f.IsLocalDomain("BÜCHER.example"); !ok {
		t.Error("IsLocalDomain(BÜCHER.example) = false")
	}
	if err := Remove(ctx, path, "EXAMPLE.org"); err != nil {
		t.Fatal(err)
	}
	if err := Remove(ctx, path, "example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second remove: err = %v", err)
	}
	if ok, _ := f.Contains("example.org"); ok {
		t.Error("removed domain still listed")
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != FileMode {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), FileMode)
	}

	// A hand edit that breaks the file is reported with file:line.
	os.WriteFile(path, []byte("ok.example\nnot a domain\n"), 0o644)
	if _, err := f.Contains("ok.example"); err == nil || !strings.HasPrefix(err.Error(), path+":2:") {
		t.Fatalf("broken file: err = %v", err)
	}
}

// FuzzParseDomains: whatever Parse accepts, Write writes back the same.
func FuzzParseDomains(f *testing.F) {
	for _, s := range []string{"example.org\n", "# c\nBÜCHER.example.\n\n#x\n", "a.example\nA.example\n", "xn--bcher-kva.example\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Parse(strings.NewReader(in), "in")
		if err != nil {
			return
		}
		var b strings.Builder
		if err := Write(&b, s); err != nil {
			t.Fatalf("Write refused parsed domains: %v", err)
		}
		back, err := Parse(strings.NewReader(b.String()), "out")
		if err != nil || !reflect.DeepEqual(back, s) {
			t.Fatalf("round trip: %#v, %v\n%s", back, err, b.String())
		}
	})
}
