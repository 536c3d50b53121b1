package userdb

import (
	"reflect"
	"strings"
	"testing"
)

// FuzzParseUsers checks that whatever Parse accepts, Write writes back in a
// form that parses to the same users.
func FuzzParseUsers(f *testing.F) {
	for _, s := range []string{
		"bob@example.org " + argon + " imap,pop3,submit,webmail 2G enabled\n",
		"# c\n\n#x\n\"a b\"@example.org ! - - disabled\n",
		"ann@bücher.example $2y$10$xyz imap 1536K enabled\r\nbob@example.org * - 0 enabled",
		"<Bob@Example.ORG> h WEBMAIL,imap 7t Enabled\n",
		"\"a\\\"b\"@x.example h - 0 enabled\n",
		"bob@example.org h imap 0 enabled\nBOB@example.org h imap 0 enabled\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		users, err := Parse(strings.NewReader(in), "in")
		if err != nil {
			return
		}
		var b strings.Builder
		if err := Write(&b, users); err != nil {
			t.Fatalf("Write refused parsed users: %v\n%+v", err, users)
		}
		again, err := Parse(strings.NewReader(b.String()), "out")
		if err != nil {
			t.Fatalf("written file does not parse: %v\n%s", err, b.String())
		}
		if len(users) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(users, again) {
			t.Fatalf("round trip changed the users:\n%+v\n%+v\n%s", users, again, b.String())
		}
	})
}
