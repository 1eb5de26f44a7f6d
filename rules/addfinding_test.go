package rules

import (
	"reflect"
	"slices"
	"testing"
)

// TestAddFinding: AddFinding keeps what Add keeps, says what Add says,
// and leaves the findings it reads as they were.
func TestAddFinding(t *testing.T) {
	occ := foldOccurrences(400, 11)
	before := slices.Clone(occ)
	var byValue, inPlace Aggregator
	for k := range occ {
		if a, b := byValue.Add(occ[k]), inPlace.AddFinding(&occ[k]); a != b {
			t.Fatalf("occurrence %d: Add %v, AddFinding %v", k, a, b)
		}
	}
	if !reflect.DeepEqual(occ, before) {
		t.Error("AddFinding changed the findings it read")
	}
	want, got := byValue.Findings(), inPlace.Findings()
	if len(want) < 10 || !reflect.DeepEqual(got, want) {
		t.Errorf("%d findings with AddFinding, %d with Add, equal %v", len(got), len(want), reflect.DeepEqual(got, want))
	}
}
