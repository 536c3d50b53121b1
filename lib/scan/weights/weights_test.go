package weights

import (
	"slices"
	"testing"
)

func TestKnown(t *testing.T) {
	for name, want := range map[string]bool{"bayes": true, "spf_fail": true, "gtube": true, "spf_fial": false, "": false, "BAYES": false} {
		if Known(name) != want {
			t.Errorf("Known(%q) = %v", name, !want)
		}
	}
	if n := Names(); len(n) != len(Default) || !slices.IsSorted(n) {
		t.Errorf("Names() = %v", n)
	}
}
