package audit

import (
	"slices"
	"testing"
)

// TestAddNamedSplitsAsParseResources: the verifier's allocation-free
// splitting of an entry's stored resources gives the pairs
// parseResources, sorted and without duplicates, gives.
func TestAddNamedSplitsAsParseResources(t *testing.T) {
	for _, stored := range []string{"", "a", "a\nb", "a\na", "b\na\nb", "a\n", "\na", "a\n\nb\n", "\n", "x\ny\nx\ny\nz"} {
		var v verifier
		v.addNamed(7, []byte(stored))
		var want multisetHash
		var buf []byte
		for _, r := range slices.Compact(slices.Sorted(slices.Values(parseResources(stored)))) {
			want.add(&buf, 7, []byte(r))
		}
		if v.indexWant != want {
			t.Errorf("resources %q: the verifier's pairs differ from parseResources'", stored)
		}
	}
}
