package maildir

import (
	"fmt"
	"slices"
	"strings"

	gomaildir "github.com/emersion/go-maildir"
)

// systemFlags are the Maildir info letters for IMAP's system flags, as
// go-maildir names them: Draft, Flagged, Passed, Replied, Seen, Trashed.
var systemFlags = string([]rune{
	rune(gomaildir.FlagDraft), rune(gomaildir.FlagFlagged), rune(gomaildir.FlagPassed),
	rune(gomaildir.FlagReplied), rune(gomaildir.FlagSeen), rune(gomaildir.FlagTrashed),
})

// checkFlags accepts only system flag letters.
func checkFlags(letters string) error {
	for i := 0; i < len(letters); i++ {
		if strings.IndexByte(systemFlags, letters[i]) < 0 {
			return fmt.Errorf("%w: %q (allowed: %s)", ErrBadFlags, letters, systemFlags)
		}
	}
	return nil
}

// sortLetters sorts and de-duplicates info letters, as the Maildir spec
// wants them.
func sortLetters(s string) string {
	if len(s) <= 1 {
		return s
	}
	b := []byte(s)
	slices.Sort(b)
	return string(slices.Compact(b))
}

// splitLetters separates system letters (upper case) from keyword letters.
func splitLetters(letters string) (system, keywords string) {
	for i := 0; i < len(letters); i++ {
		if c := letters[i]; c >= 'a' && c <= 'z' {
			keywords += string(c)
		} else if c >= 'A' && c <= 'Z' {
			system += string(c)
		}
	}
	return system, keywords
}

// imapFlag maps IMAP system flags to Maildir letters. \Recent is not stored
// in the file name; Passed ('P') has no IMAP flag.
var imapFlag = []struct {
	name   string
	letter byte
}{
	{`\Answered`, 'R'}, {`\Deleted`, 'T'}, {`\Draft`, 'D'}, {`\Flagged`, 'F'}, {`\Seen`, 'S'},
}

// FromIMAP splits IMAP flags into Maildir letters and keywords. System flags
// match case-insensitively; \Recent and unknown backslash flags are dropped.
func FromIMAP(flags []string) (letters string, keywords []string) {
	for _, fl := range flags {
		if strings.HasPrefix(fl, `\`) {
			for _, m := range imapFlag {
				if strings.EqualFold(fl, m.name) {
					letters += string(m.letter)
				}
			}
			continue
		}
		keywords = append(keywords, fl)
	}
	return sortLetters(letters), keywords
}

// ToIMAP is the inverse of FromIMAP.
func ToIMAP(letters string, keywords []string) []string {
	var out []string
	for _, m := range imapFlag {
		if strings.IndexByte(letters, m.letter) >= 0 {
			out = append(out, m.name)
		}
	}
	return append(out, keywords...)
}
