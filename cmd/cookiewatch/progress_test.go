package main

import (
	"bytes"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestProgressLine(t *testing.T) {
	tests := []struct {
		name        string
		read, total int64
		elapsed     time.Duration
		findings    int
		want        string
	}{
		{"start", 0, 10 << 20, 0, 0, "[------------------------]   0%  0 B of 10.0 MB, 0 B/s, 0 findings"},
		{"half at 1 MB/s", 5 << 20, 10 << 20, 5 * time.Second, 3, "[############------------]  50%  5.0 MB of 10.0 MB, 1.0 MB/s, 0:05 left, 3 findings"},
		{"done", 2 << 30, 2 << 30, 100 * time.Second, 12, "[########################] 100%  2.0 GB of 2.0 GB, 20.5 MB/s, 12 findings"},
		{"hours left", 1 << 20, 4 << 30, time.Second, 0, "[------------------------]   0%  1.0 MB of 4.0 GB, 1.0 MB/s, 1:08:15 left, 0 findings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := progressLine(tt.read, tt.total, tt.elapsed, tt.findings); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestProgressNotOnPipe: standard error that is not a terminal, or -q,
// gets no bar.
func TestProgressNotOnPipe(t *testing.T) {
	for _, args := range [][]string{{"-r", sample}, {"-r", sample, "-q", "--format", "json"}} {
		code, _, stderr := runCLI(t, nil, args...)
		if code == exitError || strings.ContainsAny(stderr, "\r\x1b") || strings.Contains(stderr, "[###") {
			t.Errorf("%v: exit %d, stderr has a progress bar: %q", args, code, stderr)
		}
	}
	if pb := newProgress(os.Stderr, []string{sample}, true); pb != nil {
		t.Error("-q still draws a bar")
	}
}

// TestProgressDrawn reads a file through the bar (forced on a buffer) and
// checks its final state: every byte of the file read, findings counted.
func TestProgressDrawn(t *testing.T) {
	var buf bytes.Buffer
	cfg := config{files: []string{sample}, format: "json"}
	cfg.progress = startProgress(&buf, cfg.files)
	if cfg.progress == nil {
		t.Fatal("no bar for a regular file")
	}
	_, sorted, err := analyze(cfg, &buf)
	fs := sorted.Materialise() // nil-safe: empty on error
	cfg.progress.Stop()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(sample)
	if err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	want := "100%  " + bytesText(st.Size()) + " of " + bytesText(st.Size())
	if !strings.Contains(out, want) {
		t.Errorf("final bar lacks %q: %q", want, out)
	}
	m := regexp.MustCompile(`(\d+) findings`).FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("no finding count in %q", out)
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	if n == 0 || n > len(fs) {
		t.Errorf("bar counted %d findings; the run reported %d", n, len(fs))
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Errorf("the bar does not clear its line at the end: %q", out)
	}
}
