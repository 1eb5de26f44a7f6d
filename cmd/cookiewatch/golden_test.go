package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files from current output")

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s differs (err %v); got:\n%s", path, err, got)
	}
}

// TestGolden runs cookiewatch on every sample capture in testdata/pcap and
// compares the table and JSON output with testdata/golden.
func TestGolden(t *testing.T) {
	pcaps, err := filepath.Glob("../../testdata/pcap/*.pcap")
	if err != nil || len(pcaps) == 0 {
		t.Fatalf("no sample captures in testdata/pcap (err %v)", err)
	}
	for _, p := range pcaps {
		name := strings.TrimSuffix(filepath.Base(p), ".pcap")
		for _, format := range []string{"table", "json", "csv", "sarif"} {
			t.Run(name+"/"+format, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				// Run from the repository root so the file name in the output is stable.
				args := []string{"-r", "testdata/pcap/" + filepath.Base(p), "--format", format}
				code := inDir(t, "../..", func() int { return run(args, nil, &stdout, &stderr) })
				if code != exitFindings {
					t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
				}
				ext := map[string]string{"table": ".txt", "json": ".jsonl", "csv": ".csv", "sarif": ".sarif"}[format]
				checkGolden(t, filepath.Join("../../testdata/golden", name+ext), stdout.Bytes())
			})
		}
	}
}

func inDir(t *testing.T, dir string, f func() int) int {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(old)
	return f()
}
