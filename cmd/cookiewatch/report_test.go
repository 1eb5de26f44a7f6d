package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cookiewatch/cookiewatch/internal/gen"
	"github.com/cookiewatch/cookiewatch/rules"
)

// secretsOf returns every cookie and parameter value of a capture at least
// 6 bytes long (shorter ones like "dark" occur by chance in other text), as
// --show-values --all-cookies --each reports them.
func secretsOf(t *testing.T, pcap string) []string {
	t.Helper()
	cfg := config{files: []string{pcap}, each: true}
	cfg.opts.Classifier.All, cfg.opts.ShowValues = true, true
	_, sorted, err := analyze(cfg, io.Discard)
	fs := sorted.Materialise() // nil-safe: empty on error
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range fs {
		if f.Value != nil && len(f.Value.Raw) >= 6 {
			out = append(out, f.Value.Raw)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no values found: the test would prove nothing", pcap)
	}
	return out
}

// basicCredentials are the Authorization credentials in testdata/pcap/rules.txt,
// encoded and decoded: no output may ever contain them.
var basicCredentials = []string{"YWxpY2U6czNjcjN0LXBhc3N3b3Jk", "s3cr3t-password", "alice:s3cr3t",
	"eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"}

func TestNoValuesInAnyFormat(t *testing.T) {
	pcaps, _ := filepath.Glob("../../testdata/pcap/*.pcap")
	if len(pcaps) < 3 {
		t.Fatalf("sample captures missing: %v", pcaps)
	}
	for _, p := range pcaps {
		secrets := secretsOf(t, p)
		for _, format := range []string{"table", "json", "csv", "sarif"} {
			_, out, _ := runCLI(t, nil, "-r", p, "--format", format, "--each", "--all-cookies", "--fail-on", "none")
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("%s %s: value %q appears without --show-values", filepath.Base(p), format, s)
				}
			}
			_, shown, _ := runCLI(t, nil, "-r", p, "--format", format, "--each", "--all-cookies", "--show-values", "--fail-on", "none")
			found := false
			for _, s := range secrets {
				found = found || strings.Contains(shown, s)
			}
			if !found {
				t.Errorf("%s %s: no value appears with --show-values", filepath.Base(p), format)
			}
			for _, c := range basicCredentials {
				if strings.Contains(out, c) || strings.Contains(shown, c) {
					t.Errorf("%s %s: Authorization credentials %q printed", filepath.Base(p), format, c)
				}
			}
		}
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"default fails on high", []string{"-r", sample}, exitFindings},
		{"none never fails", []string{"-r", sample, "--fail-on", "none"}, exitClean},
		{"critical not reached", []string{"-r", sample, "--fail-on", "critical"}, exitClean},
		{"info reached", []string{"-r", sample, "--fail-on", "info"}, exitFindings},
		{"bad severity", []string{"-r", sample, "--fail-on", "sometimes"}, exitError},
		{"filter leaves no high finding", []string{"-r", sample, "tcp port 9"}, exitClean},
		{"missing policy", []string{"-r", sample, "--policy", "nope.yaml"}, exitError},
		{"missing baseline", []string{"-r", sample, "--baseline", "nope.jsonl"}, exitError},
		{"unwritable output", []string{"-r", sample, "-o", "/nonexistent/dir/out.txt"}, exitError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, _, stderr := runCLI(t, nil, tt.args...); code != tt.want {
				t.Errorf("exit %d, want %d; stderr %s", code, tt.want, stderr)
			}
		})
	}
}

func TestOutputFileAndBaseline(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "base.jsonl")
	code, stdout, stderr := runCLI(t, nil, "-r", sample, "--format", "json", "-o", base)
	if code != exitFindings || stdout != "" || !strings.Contains(stderr, "13 findings") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	data, err := os.ReadFile(base)
	if err != nil || strings.Count(string(data), `"type":"finding"`) != 13 {
		t.Fatalf("report file: %v\n%s", err, data)
	}
	// The same capture against its own baseline: nothing new, exit 0.
	code, out, _ := runCLI(t, nil, "-r", sample, "--format", "json", "--baseline", base)
	if code != exitClean || strings.Contains(out, `"type":"finding"`) || !strings.Contains(out, `"baselined":13`) {
		t.Errorf("with baseline: exit %d\n%s", code, out)
	}
	// Another capture against it: its own findings are new.
	code, out, _ = runCLI(t, nil, "-r", "../../testdata/pcap/messy.pcap", "--format", "json", "--baseline", base)
	if code != exitFindings || !strings.Contains(out, `"cookie":"JSESSIONID"`) {
		t.Errorf("other capture: exit %d\n%s", code, out)
	}
}

// TestBaselineOfCorrelatedFindings: a JSON report with cross-connection
// findings (mixed-scheme-session, secure-cookie-shadowed, leaks at the end
// of input) is a valid baseline: every finding carries the fingerprint of
// its rule, host and cookie, and the same capture against its own report
// reports nothing new. (Before, those findings had no fingerprint and
// ReadBaseline refused the whole report.)
func TestBaselineOfCorrelatedFindings(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "gen.pcap")
	f, err := os.Create(pcap)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.Generate(gen.Config{Seed: 5, Bytes: 3 << 20, Conns: 120}, f, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.jsonl")
	if code, _, stderr := runCLI(t, nil, "-r", pcap, "--format", "json", "--fail-on", "none", "-o", base); code != exitClean {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data, err := os.ReadFile(base)
	if err != nil {
		t.Fatal(err)
	}
	var findings int
	correlated := map[string]int{}
	for line := range strings.Lines(string(data)) {
		var rec struct {
			Type, Rule, Host, Cookie, Fingerprint string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if rec.Type != "finding" {
			continue
		}
		findings++
		if want := rules.Fingerprint(rec.Rule, rec.Host, rec.Cookie); rec.Fingerprint != want {
			t.Fatalf("%s %s %s: fingerprint %q, want %q", rec.Rule, rec.Host, rec.Cookie, rec.Fingerprint, want)
		}
		switch rec.Rule {
		case "mixed-scheme-session", "secure-cookie-shadowed", "cookie-set-over-tls-leaked":
			correlated[rec.Rule]++
		}
	}
	if len(correlated) < 2 {
		t.Fatalf("the capture gives too few cross-connection findings to test: %v of %d", correlated, findings)
	}
	code, out, stderr := runCLI(t, nil, "-r", pcap, "--format", "json", "--baseline", base)
	if code != exitClean || strings.Contains(out, `"type":"finding"`) || !strings.Contains(out, fmt.Sprintf(`"baselined":%d`, findings)) {
		t.Errorf("against its own baseline: exit %d, stderr %q\n%s", code, stderr, out[max(0, len(out)-600):])
	}
}

func TestPolicyEndToEnd(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "p.yaml")
	os.WriteFile(pol, []byte(`version: 1
ignore:
  - cookie: _ga
    reason: analytics
  - host: forum.example
    rules: [cleartext-set-cookie]
    reason: legacy forum, being retired
severity:
  cleartext-cookie: medium
  cleartext-set-cookie: medium
fail_on: high
`), 0o644)
	code, out, stderr := runCLI(t, nil, "-r", sample, "--format", "json", "--policy", pol)
	if code != exitClean {
		t.Errorf("exit %d (no high finding is left), stderr %s", code, stderr)
	}
	if strings.Contains(out, `"cookie":"_ga"`) || strings.Contains(out, `"rule":"cleartext-set-cookie","title":"Session cookie set over plaintext HTTP","cwe":319,"fingerprint":"`+fingerprintOf("cleartext-set-cookie", "forum.example:8080", "PHPSESSID")) {
		t.Errorf("ignored findings reported:\n%s", out)
	}
	if !strings.Contains(out, `"suppressed":4`) {
		t.Errorf("suppressed count missing (3 _ga rules, 1 forum rule):\n%s", out)
	}
	if code, _, _ := runCLI(t, nil, "-r", sample, "--policy", pol, "--fail-on", "medium"); code != exitFindings {
		t.Errorf("--fail-on does not win over the policy: exit %d", code)
	}
	os.WriteFile(pol, []byte("version: 1\ndisable: [missing-secur]\n"), 0o644)
	if code, _, stderr := runCLI(t, nil, "-r", sample, "--policy", pol); code != exitError || !strings.Contains(stderr, "p.yaml:2: unknown rule ID") {
		t.Errorf("bad policy: exit %d, stderr %s", code, stderr)
	}
}

func TestRulesCommand(t *testing.T) {
	code, out, _ := runCLI(t, nil, "rules")
	if code != exitClean || !strings.Contains(out, "cleartext-authorization") || strings.Count(out, "\n") != 25 {
		t.Errorf("exit %d, %d lines:\n%s", code, strings.Count(out, "\n"), out)
	}
	code, out, _ = runCLI(t, nil, "rules", "missing-httponly")
	if code != exitClean || !strings.Contains(out, "CWE-1004") || !strings.Contains(out, "Script theft") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	if code, _, stderr := runCLI(t, nil, "rules", "nope"); code != exitError || !strings.Contains(stderr, "unknown rule ID") {
		t.Errorf("unknown rule: exit %d, %s", code, stderr)
	}
}

func fingerprintOf(rule, host, cookie string) string { return rules.Fingerprint(rule, host, cookie) }
