package main

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCLI(t *testing.T, stdin []byte, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, bytes.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

const sample = "../../testdata/pcap/login.pcap"

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no input", nil, "no input"},
		{"unknown format", []string{"-r", sample, "--format", "xml"}, `unknown -format "xml"`},
		{"unknown flag", []string{"--frobnicate"}, "flag provided but not defined"},
		{"missing file", []string{"-r", "does-not-exist.pcap"}, "does-not-exist.pcap"},
		{"bad filter", []string{"-r", sample, "tcp port banana"}, "banana"},
		{"filter twice", []string{"-r", sample, "-f", "tcp", "port", "80"}, "either with -f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, nil, tt.args...)
			if code != exitError {
				t.Errorf("exit %d, want %d", code, exitError)
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.wantErr)
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, err := os.ReadFile(sample)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("not a capture", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "-r", write("notes.txt", []byte("hello, this is not a capture file\n")))
		if code != exitError || !strings.Contains(stderr, "not a pcap or pcapng") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("empty file", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "-r", write("empty.pcap", nil))
		if code != exitError || stderr == "" {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("truncated file reports what came before", func(t *testing.T) {
		cut := write("cut.pcap", good[:len(good)-7])
		code, stdout, stderr := runCLI(t, nil, "-r", cut, "--format", "json")
		if code != exitFindings {
			t.Fatalf("exit %d, stderr %q", code, stderr)
		}
		if !strings.Contains(stderr, "truncated") || !strings.Contains(stderr, "offset") {
			t.Errorf("no truncation warning with offset: %q", stderr)
		}
		if !strings.Contains(stdout, `"rule":"cleartext-set-cookie"`) {
			t.Errorf("findings before the cut lost:\n%s", stdout)
		}
	})
	t.Run("gzip from stdin", func(t *testing.T) {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(good)
		zw.Close()
		code, stdout, stderr := runCLI(t, z.Bytes(), "-r", "-", "--format", "json")
		if code != exitFindings || !strings.Contains(stdout, `"cookie":"session"`) {
			t.Errorf("exit %d, stderr %q, stdout:\n%s", code, stderr, stdout)
		}
	})
	t.Run("same file twice keeps frames per file", func(t *testing.T) {
		code, stdout, _ := runCLI(t, nil, "-r", sample, "-r", sample, "--format", "json", "--each", "--fail-on", "none")
		if code != exitClean {
			t.Fatalf("exit %d", code)
		}
		_, one, _ := runCLI(t, nil, "-r", sample, "--format", "json", "--each")
		if n1, n2 := strings.Count(one, `"type":"finding"`), strings.Count(stdout, `"type":"finding"`); n2 != 2*n1 || n1 == 0 {
			t.Errorf("findings: one file %d, twice %d", n1, n2)
		}
	})
}

func TestFilterOnFile(t *testing.T) {
	// The sample has HTTP on ports 80 and 8080; a filter keeps only 8080.
	_, all, _ := runCLI(t, nil, "-r", sample, "--format", "json", "--each")
	code, only, stderr := runCLI(t, nil, "-r", sample, "--format", "json", "--each", "tcp", "port", "8080")
	if code != exitFindings {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(all, `"cookie":"session"`) || strings.Contains(only, `"cookie":"session"`) {
		t.Errorf("filter did not remove port-80 findings")
	}
	if !strings.Contains(only, `"cookie":"PHPSESSID"`) {
		t.Errorf("filter removed port-8080 findings:\n%s", only)
	}
}

func TestNoValuesWithoutShowValues(t *testing.T) {
	secret := "eyJ1c2VyIjoiYWxpY2UifQ"
	for _, format := range []string{"table", "json"} {
		_, out, _ := runCLI(t, nil, "-r", sample, "--format", format, "--each", "--all-cookies")
		if strings.Contains(out, secret) || strings.Contains(out, "GA1.2.1234567890") {
			t.Errorf("%s output contains a cookie value:\n%s", format, out)
		}
		_, shown, _ := runCLI(t, nil, "-r", sample, "--format", format, "--show-values")
		if !strings.Contains(shown, secret) {
			t.Errorf("%s output with --show-values lacks the value", format)
		}
	}
}
