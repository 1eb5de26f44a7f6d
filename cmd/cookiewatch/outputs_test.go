package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cookiewatch/cookiewatch/internal/gen"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// outputsFile holds, for every run of TestOutputsUnchanged, the SHA-256 of
// its standard output and its exit code, as the writers of session 3 made
// them (go test -run TestOutputsUnchanged -update rewrites it). The report
// writers and the serial tail of a run were rewritten for speed since; this
// holds them to the old bytes on realistic input in every format and mode.
const outputsFile = "testdata/outputs.sha256"

// TestOutputsUnchanged runs cookiewatch over two generated captures (one
// with loss, reordering and retransmission) and the sample captures (messy
// has hostile text: controls, invalid UTF-8, bidi overrides) in every
// format, with --hosts, --explain, --each --all-cookies --show-values, one
// and two workers, two files at once and a baseline, and compares each
// output with the hash the old writers' output had.
func TestOutputsUnchanged(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		cfg  gen.Config
	}{
		{"faults.pcap", gen.Config{Seed: 11, Bytes: 6 << 20, Conns: 200, Faults: true}},
		{"clean.pcap", gen.Config{Seed: 12, Bytes: 4 << 20, Conns: 150}},
	} {
		f, err := os.Create(filepath.Join(dir, c.name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gen.Generate(c.cfg, f, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	samples, _ := filepath.Glob("../../testdata/pcap/*.pcap")
	if len(samples) < 3 {
		t.Fatalf("sample captures missing: %v", samples)
	}
	for _, s := range samples {
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(s)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A baseline: the JSON report of the clean capture, applied below to
	// both generated captures at once (some findings drop, most stay).
	var base bytes.Buffer
	if code := inDir(t, dir, func() int {
		return run([]string{"-r", "clean.pcap", "--format", "json", "--fail-on", "none", "-q"}, nil, &base, &bytes.Buffer{})
	}); code != exitClean {
		t.Fatalf("baseline run: exit %d", code)
	}
	// Keep every other finding line: the baseline then removes some of the
	// clean capture's findings and leaves others.
	var kept bytes.Buffer
	for i, line := range strings.SplitAfter(base.String(), "\n") {
		finding := strings.HasPrefix(line, `{"type":"finding"`)
		if !finding || i%2 == 0 {
			kept.WriteString(line)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "base.json"), kept.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	var runs [][]string
	modes := [][]string{
		{},
		{"--hosts"},
		{"--explain"},
		{"--format", "json"},
		{"--format", "json", "--hosts"},
		{"--format", "csv"},
		{"--format", "sarif"},
		{"--format", "html"},
		{"--each", "--all-cookies", "--show-values"},
		{"--each", "--all-cookies", "--show-values", "--format", "json"},
		{"--each", "--all-cookies", "--show-values", "--format", "sarif"},
		{"--each", "--all-cookies", "--show-values", "--format", "csv"},
	}
	inputs := [][]string{{"-r", "faults.pcap"}, {"-r", "clean.pcap"}, {"-r", "faults.pcap", "-r", "clean.pcap"}}
	for _, s := range samples {
		inputs = append(inputs, []string{"-r", filepath.Base(s)})
	}
	for _, in := range inputs {
		for _, m := range modes {
			for _, w := range []string{"1", "2"} {
				runs = append(runs, slices.Concat(in, m, []string{"--workers", w, "--fail-on", "none"}))
			}
		}
	}
	for _, m := range [][]string{{}, {"--format", "json"}, {"--format", "sarif"}, {"--hosts", "--format", "json"}, {"--hosts"}} {
		runs = append(runs, slices.Concat([]string{"-r", "faults.pcap", "-r", "clean.pcap", "--baseline", "base.json", "--fail-on", "none"}, m))
	}
	// The default --fail-on (high) and --fail-on low decide the exit code
	// from the findings; every other run has none.
	runs = append(runs, []string{"-r", "clean.pcap", "--fail-on", "low"}, []string{"-r", "clean.pcap"},
		[]string{"-r", "login.pcap", "--fail-on", "critical"})

	got := map[string]string{}
	var keys []string
	for _, args := range runs {
		full := append([]string{"-q"}, args...)
		var stdout, stderr bytes.Buffer
		code := inDir(t, dir, func() int { return run(full, nil, &stdout, &stderr) })
		if code == exitError {
			t.Fatalf("%v: exit %d; stderr:\n%s", full, code, stderr.String())
		}
		sum := sha256.Sum256(stdout.Bytes())
		key := strings.Join(full, " ")
		keys = append(keys, key)
		got[key] = fmt.Sprintf("%s %d %d", hex.EncodeToString(sum[:]), code, stdout.Len())
	}
	if *update {
		var b bytes.Buffer
		for _, k := range keys {
			fmt.Fprintf(&b, "%s\t%s\n", got[k], k)
		}
		if err := os.WriteFile(outputsFile, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(outputsFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		h, k, ok := strings.Cut(sc.Text(), "\t")
		if !ok {
			t.Fatalf("%s: bad line %q", outputsFile, sc.Text())
		}
		want[k] = h
	}
	if len(want) != len(keys) {
		t.Errorf("%s has %d runs, the test makes %d (-update after a change of the runs, with the old writers)", outputsFile, len(want), len(keys))
	}
	for _, k := range keys {
		if got[k] != want[k] {
			t.Errorf("cookiewatch %s: output %s (hash, exit code, bytes), want %s", k, got[k], want[k])
		}
	}
}

// TestExitCodeFromCounts: the exit code read from the summary's counts is
// what a look at the findings' severities gave.
func TestExitCodeFromCounts(t *testing.T) {
	for _, c := range []struct {
		by     map[string]int
		failOn rules.Severity
		never  bool
		want   int
	}{
		{nil, rules.Info, false, exitClean},
		{map[string]int{"low": 3}, rules.Medium, false, exitClean},
		{map[string]int{"low": 3, "medium": 1}, rules.Medium, false, exitFindings},
		{map[string]int{"critical": 1}, rules.High, true, exitClean},
		{map[string]int{"high": 0, "info": 2}, rules.High, false, exitClean},
		{map[string]int{"severity(9)": 1}, rules.Critical, false, exitFindings}, // past critical
		{map[string]int{"invalid": 4}, rules.Info, false, exitClean},
	} {
		if got := exitCode(report.Summary{BySeverity: c.by}, c.failOn, c.never); got != c.want {
			t.Errorf("%v, fail-on %v (never %v): exit %d, want %d", c.by, c.failOn, c.never, got, c.want)
		}
	}
}
