package pop3d

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Command
		err  error
	}{
		{"QUIT", Command{Name: "QUIT"}, nil},
		{"quit", Command{Name: "QUIT"}, nil},
		{"Top 1 10", Command{Name: "TOP", Args: []string{"1", "10"}}, nil},
		{"USER bob@example.test", Command{Name: "USER", Args: []string{"bob@example.test"}}, nil},
		{"USER " + strings.Repeat("a", 60) + "@example.test", Command{Name: "USER", Args: []string{strings.Repeat("a", 60) + "@example.test"}}, nil},
		{"PASS with  spaces ", Command{Name: "PASS", Args: []string{"with  spaces "}}, nil},
		{"AUTH PLAIN " + strings.Repeat("QUFB", 30), Command{Name: "AUTH", Args: []string{"PLAIN", strings.Repeat("QUFB", 30)}}, nil},
		{"", Command{}, errEmptyLine},
		{"QU", Command{}, errBadKeyword},
		{"QUITS", Command{}, errBadKeyword},
		{"QU1T", Command{}, errBadKeyword},
		{" QUIT", Command{}, errBadKeyword},
		{"RETR  1", Command{}, errBadArgument},
		{"RETR 1 ", Command{}, errBadArgument},
		{"RETR\t1", Command{}, errBadKeyword},
		{"RETR 1\x00", Command{}, errBadArgument},
		{"PASS", Command{Name: "PASS"}, nil},
		{"PASS ", Command{}, errBadArgument},
		{"PASS caf\xc3\xa9", Command{}, errBadArgument},
		{"LIST " + strings.Repeat("1", 41), Command{}, errArgTooLong},
		{"LIST 1 2 3 4 5 6 7 8 9", Command{}, errTooManyArgs},
	} {
		got, err := ParseCommand(tc.line)
		if err != tc.err || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseCommand(%q) = %#v, %v; want %#v, %v", tc.line, got, err, tc.want, tc.err)
		}
	}
}

func TestCommandStringHidesSecrets(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{"PASS s3cret word", "PASS <hidden>"},
		{"AUTH PLAIN AGJvYgBzM2NyZXQ=", "AUTH PLAIN <hidden>"},
		{"AUTH LOGIN", "AUTH LOGIN"},
		{"RETR 1", "RETR 1"},
	} {
		c, err := ParseCommand(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		if c.String() != tc.want {
			t.Errorf("%q logged as %q, want %q", tc.line, c.String(), tc.want)
		}
	}
}

func TestParseNumber(t *testing.T) {
	for _, tc := range []struct {
		s  string
		n  int
		ok bool
	}{
		{"1", 1, true}, {"0", 0, true}, {"007", 7, true}, {"2147483647", 2147483647, true},
		{"2147483648", 0, false}, {"99999999999", 0, false}, {"-1", 0, false}, {"+1", 0, false},
		{"1x", 0, false}, {"", 0, false}, {" 1", 0, false},
	} {
		n, ok := parseNumber(tc.s)
		if ok != tc.ok || ok && n != tc.n {
			t.Errorf("parseNumber(%q) = %d, %v", tc.s, n, ok)
		}
	}
}

func TestUIDL(t *testing.T) {
	long := "1764259200.M123456P12345Q1R0123456789abcdef.mx.example.test,S=12345,W=12567"
	for _, tc := range []struct{ key, want string }{
		{"1764259200.M1P2.host,S=10,W=11", "1764259200.M1P2.host,S=10,W=11"},
		{long, "1764259200.M123456P12345Q1R0123456789abcdef.mx.example.test"},
		{"1764259200.M1P2.host name,S=1", "x"},                           // a space: hashed
		{strings.Repeat("k", 71), "x"},                                   // too long, no comma
		{strings.Repeat("k", 71) + ",S=1", "x"},                          // base still too long
		{"1764259200.M1P2.h\\057st,S=1", "1764259200.M1P2.h\\057st,S=1"}, // sanitized host
		{strings.Repeat("a", 70), strings.Repeat("a", 70)},               // exactly 70
		{"caf\xc3\xa9,S=1", "x"},                                         // not ASCII
		{"", "x"},                                                        // nonsense in, valid out
	} {
		got := UIDL(tc.key)
		if !validUIDL(got) {
			t.Errorf("UIDL(%q) = %q: not a valid unique-id", tc.key, got)
		}
		if tc.want == "x" {
			if len(got) != 41 || got[0] != 'x' {
				t.Errorf("UIDL(%q) = %q, want a hash", tc.key, got)
			}
			if UIDL(tc.key) != got {
				t.Errorf("UIDL(%q) not stable", tc.key)
			}
			continue
		}
		if got != tc.want {
			t.Errorf("UIDL(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}
