package rules

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/rules.md from the declarations")

// TestRulesDoc fails when docs/rules.md is not what the declarations
// generate; -update rewrites it.
func TestRulesDoc(t *testing.T) {
	const path = "../docs/rules.md"
	got := Markdown()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != got {
		t.Errorf("%s is stale (err %v): run go test ./rules -run TestRulesDoc -update", path, err)
	}
	for _, r := range catalogue {
		if !contains(got, "## "+r.ID+"\n") {
			t.Errorf("rule %s has no section", r.ID)
		}
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
