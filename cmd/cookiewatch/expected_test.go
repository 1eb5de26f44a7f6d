package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const expectedPath = "../../testdata/corpus/expected.tsv"

// TestCorpusExpectedFindings runs cookiewatch with default options on every
// capture of ../shared/corpus and compares its findings, one row per
// (rule, host, cookie) with severity and session classification, with
// testdata/corpus/expected.tsv, whose rows were read and judged by hand
// (testdata/corpus/README.md). -update rewrites the file: read the diff.
func TestCorpusExpectedFindings(t *testing.T) {
	if testing.Short() {
		t.Skip("corpus run")
	}
	dir := corpusDir(t)
	pcaps, err := filepath.Glob(filepath.Join(dir, "pcaps", "*"))
	if err != nil || len(pcaps) == 0 {
		t.Fatalf("no captures in %s (err %v)", dir, err)
	}
	var got []string
	for _, p := range pcaps {
		_, sorted, err := analyze(config{files: []string{p}}, io.Discard)
		fs := sorted.Materialise() // nil-safe: empty on error
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		name := filepath.Base(p)
		if len(fs) == 0 {
			got = append(got, name+"\t(none)\t\t\t\t\t")
		}
		for _, f := range fs {
			got = append(got, strings.Join([]string{name, f.Rule, f.Severity.String(), f.Host, f.Cookie,
				fmt.Sprint(f.Session.Session), f.Session.Reason}, "\t"))
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	header := "capture\trule\tseverity\thost\tcookie\tsession\tsession_reason"
	text := header + "\n" + strings.Join(got, "\n") + "\n"
	if *update {
		if err := os.WriteFile(expectedPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(expectedPath)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(want) == 0 || want[0] != header {
		t.Fatalf("%s: bad header", expectedPath)
	}
	want = want[1:]
	for _, w := range want {
		if _, ok := slices.BinarySearch(got, w); !ok {
			t.Errorf("expected finding missing: %s", w)
		}
	}
	for _, g := range got {
		if _, ok := slices.BinarySearch(want, g); !ok {
			t.Errorf("unexpected finding: %s", g)
		}
	}
	for _, p := range pcaps {
		if !slices.ContainsFunc(want, func(w string) bool { return strings.HasPrefix(w, filepath.Base(p)+"\t") }) {
			t.Errorf("%s has no row in %s", filepath.Base(p), expectedPath)
		}
	}
}
