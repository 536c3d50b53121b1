package imapd

import (
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"mailctl/lib/maildir"
)

// TestFlagTable: the shared flag lists say what the general path says.
func TestFlagTable(t *testing.T) {
	sel := &selected{}
	sel.recent.AddNum(7)
	for _, letters := range []string{"", "S", "FS", "DFPRST", "PS", "RT", "D"} {
		for _, uid := range []uint32{1, 7} {
			m := &maildir.Message{UID: uid, Flags: letters}
			got := sel.flags(m, false)
			var want []imap.Flag
			for _, n := range maildir.ToIMAP(letters, nil) {
				want = append(want, imap.Flag(n))
			}
			if uid == 7 {
				want = append(want, flagRecent)
			}
			if !slices.Equal(got, want) || cap(got) != len(got) {
				t.Errorf("flags(%q, uid %d) = %v (cap %d), want %v", letters, uid, got, cap(got), want)
			}
		}
	}
	withKw := sel.flags(&maildir.Message{UID: 7, Flags: "S", Keywords: []string{"$Work"}}, true)
	if !slices.Equal(withKw, []imap.Flag{imap.FlagSeen, "$Work"}) {
		t.Errorf("with a keyword, IMAP4rev2: %v", withKw)
	}
}
