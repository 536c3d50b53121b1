package userdb

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"mailctl/lib/addr"
	"mailctl/lib/corefile"
)

const argon = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdA$aGFzaA"

func TestParseServices(t *testing.T) {
	tests := []struct {
		in      string
		want    Services
		str     string
		wantErr string
	}{
		{in: "-", want: 0, str: "-"},
		{in: "imap", want: 1, str: "imap"},
		{in: "webmail,IMAP", want: AllServices.Without(POP3).Without(Submit), str: "imap,webmail"},
		{in: "imap,pop3,submit,webmail", want: AllServices, str: "imap,pop3,submit,webmail"},
		{in: "", wantErr: "empty name"},
		{in: "imap,", wantErr: "empty name"},
		{in: "smtp", wantErr: `unknown service "smtp"`},
		{in: "imap,imap", wantErr: "listed twice"},
	}
	for _, tt := range tests {
		got, err := ParseServices(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseServices(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want || got.String() != tt.str {
			t.Errorf("ParseServices(%q) = %v (%s), %v; want %v (%s)", tt.in, uint8(got), got, err, uint8(tt.want), tt.str)
		}
	}
	s := Services(0).With(POP3).With(Webmail)
	if !s.Has(POP3) || s.Has(IMAP) || s.Has("bogus") || !reflect.DeepEqual(s.List(), []Service{POP3, Webmail}) {
		t.Errorf("set %s: Has/List wrong", s)
	}
}

func TestSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		out  string
		bad  bool
	}{
		{in: "0", want: 0, out: "0"},
		{in: "-", want: 0, out: "0"},
		{in: "1000", want: 1000, out: "1000"},
		{in: "1024", want: 1024, out: "1K"},
		{in: "2G", want: 2 << 30, out: "2G"},
		{in: "2g", want: 2 << 30, out: "2G"},
		{in: "1536K", want: 1536 << 10, out: "1536K"},
		{in: "3T", want: 3 << 40, out: "3T"},
		{in: "8388607T", want: 8388607 << 40, out: "8388607T"},
		{in: "8388608T", bad: true},
		{in: "99999999999999999999", bad: true},
		{in: "", bad: true},
		{in: "G", bad: true},
		{in: "-1", bad: true},
		{in: "1.5G", bad: true},
		{in: "2X", bad: true},
		{in: "+2", bad: true},
		{in: " 2", bad: true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.bad {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want || FormatSize(got) != tt.out {
			t.Errorf("ParseSize(%q) = %d (%s), %v; want %d (%s)", tt.in, got, FormatSize(got), err, tt.want, tt.out)
		}
	}
}

func TestParse(t *testing.T) {
	in := `# header

# Bob is the boss
bob@Example.ORG  ` + argon + `  imap,pop3,submit,webmail  2G  enabled
	"joe doe"@example.org	!	-	0	DISABLED   
carol@example.org $2y$10$abc pop3 - enabled
`
	users, err := Parse(strings.NewReader(in), "users")
	if err != nil {
		t.Fatal(err)
	}
	want := []User{
		{Address: addr.MustParse("bob@example.org"), Hash: argon, Services: AllServices, Quota: 2 << 30, Comments: []string{"Bob is the boss"}},
		{Address: addr.Address{Local: "joe doe", Domain: "example.org"}, Hash: "!", Disabled: true},
		{Address: addr.MustParse("carol@example.org"), Hash: "$2y$10$abc", Services: Services(0).With(POP3)},
	}
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("got  %+v\nwant %+v", users, want)
	}
}

// TestParseErrors covers every way a line can be wrong; each error must
// name file:line.
func TestParseErrors(t *testing.T) {
	ok := "ok@example.org " + argon + " imap 0 enabled\n"
	tests := []struct {
		name, line, want string
	}{
		{"too few fields", "bob@example.org " + argon + " imap 0", "want 5 fields"},
		{"too many fields", "bob@example.org " + argon + " imap 0 enabled extra", "want 5 fields"},
		{"trailing comment", "bob@example.org " + argon + " imap 0 enabled # boss", "want 5 fields"},
		{"bad address", "bob " + argon + " imap 0 enabled", "address"},
		{"bad domain", "bob@exa_mple.org " + argon + " imap 0 enabled", "address"},
		{"unterminated quote", `"bob@example.org ` + argon + " imap 0 enabled", "want 5 fields"},
		{"hash with unicode space", "bob@example.org ab\u00a0cd imap 0 enabled", "white space"},
		{"hash with control", "bob@example.org ab\x01cd imap 0 enabled", "control"},
		{"hash not utf-8", "bob@example.org ab\xffcd imap 0 enabled", "UTF-8"},
		{"unknown service", "bob@example.org " + argon + " imap,smtp 0 enabled", "unknown service"},
		{"empty service", "bob@example.org " + argon + " imap,,pop3 0 enabled", "empty name"},
		{"bad quota", "bob@example.org " + argon + " imap 2X enabled", "quota"},
		{"negative quota", "bob@example.org " + argon + " imap -5 enabled", "quota"},
		{"bad state", "bob@example.org " + argon + " imap 0 on", `state "on"`},
		{"duplicate", "OK@example.org " + argon + " imap 0 enabled", "already defined at line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := "# comment\n" + ok + "\n" + tt.line + "\n" + ok
			_, err := Parse(strings.NewReader(in), "/etc/mailctl/users")
			var le *corefile.LineError
			if !errors.As(err, &le) || le.Line != 4 {
				t.Fatalf("err = %v, want a LineError at line 4", err)
			}
			if !strings.HasPrefix(err.Error(), "/etc/mailctl/users:4: ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want users:4 and %q", err, tt.want)
			}
		})
	}
}

func TestWriteRoundTrip(t *testing.T) {
	users := []User{
		{Address: addr.MustParse("bob@example.org"), Hash: argon, Services: AllServices, Quota: 2 << 30, Comments: []string{"boss", "", "  two"}},
		{Address: addr.Address{Local: "joe doe", Domain: "example.org"}, Hash: "!", Disabled: true},
		{Address: addr.MustParse("ünï@xn--bcher-kva.example"), Hash: "*", Quota: 1000},
	}
	var b strings.Builder
	if err := Write(&b, users); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	if !strings.HasPrefix(text, "# mailctl users") {
		t.Errorf("no header:\n%s", text)
	}
	if !strings.Contains(text, "\nbob@example.org            "+argon+"  imap,pop3,submit,webmail  2G    enabled\n") {
		t.Errorf("columns not as expected:\n%s", text)
	}
	got, err := Parse(strings.NewReader(text), "w")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !reflect.DeepEqual(got, users) {
		t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, users)
	}
}

func TestWriteRefuses(t *testing.T) {
	good := User{Address: addr.MustParse("bob@example.org"), Hash: argon}
	tests := []struct {
		name string
		mod  func(*User)
		want string
	}{
		{"no address", func(u *User) { u.Address = addr.Address{} }, "without an address"},
		{"catch-all address", func(u *User) { u.Address.Local = "" }, "without an address"},
		{"not canonical", func(u *User) { u.Address.Local = "Bob" }, "not canonical"},
		{"comment-like address", func(u *User) { u.Address.Local = "#bob" }, "one field"},
		{"empty hash", func(u *User) { u.Hash = "" }, "empty password hash"},
		{"hash with space", func(u *User) { u.Hash = "a b" }, "white space"},
		{"hash with newline", func(u *User) { u.Hash = "a\nb" }, "white space"},
		{"unknown service bit", func(u *User) { u.Services = 0x80 }, "unknown services"},
		{"negative quota", func(u *User) { u.Quota = -1 }, "negative quota"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := good
			tt.mod(&u)
			err := Write(&strings.Builder{}, []User{u})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if err := Write(&strings.Builder{}, []User{good, good}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("duplicate: err = %v", err)
	}
}
