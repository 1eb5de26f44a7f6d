package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/internal/demoapp"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// jsonReport splits a JSON Lines report into findings and the summary.
func jsonReport(t *testing.T, out string) (fs []map[string]any, summary map[string]any) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		switch rec["type"] {
		case "summary":
			summary = rec
		case "host":
		default:
			fs = append(fs, rec)
		}
	}
	if summary == nil {
		t.Fatalf("no summary record in:\n%s", out)
	}
	return fs, summary
}

// storyOf reduces findings to what a capture of the demo story must show,
// independent of ports, times, frame numbers and cookie values.
func storyOf(fs []map[string]any) []string {
	var out []string
	for _, f := range fs {
		chain, _ := f["chain"].([]any)
		fw, _ := f["framework"].(map[string]any)
		out = append(out, fmt.Sprintf("%v %v %v %v count=%v chain=%d framework=%v",
			f["rule"], f["severity"], f["host"], f["cookie"], f["count"], len(chain), fw["id"]))
	}
	slices.Sort(out)
	return out
}

// TestDemoEmbedded checks that `cookiewatch demo` tells the story the issue
// asks for from the embedded capture, without any file: a session cookie set
// over plain HTTP without Secure, HttpOnly or SameSite by a Flask-style app,
// sent again, and replayed from a second address.
func TestDemoEmbedded(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir) // from any directory, with no files
	var o, e bytes.Buffer
	if code := run([]string{"demo", "--format", "json"}, nil, &o, &e); code != exitClean {
		t.Fatalf("demo exit %d (want 0: --fail-on none is the demo's default); stderr:\n%s", code, e.String())
	}
	fs, summary := jsonReport(t, o.String())
	got := map[string]map[string]any{}
	for _, f := range fs {
		got[f["rule"].(string)] = f
		if f["host"] != demoapp.Host || f["cookie"] != demoapp.CookieName {
			t.Errorf("finding %v on host %v cookie %v, want %s and %s", f["rule"], f["host"], f["cookie"], demoapp.Host, demoapp.CookieName)
		}
	}
	for _, id := range []string{"cleartext-set-cookie", "cleartext-cookie", "missing-secure", "missing-httponly", "missing-samesite", "session-reuse"} {
		f, ok := got[id]
		if !ok {
			t.Errorf("demo has no %s finding; rules seen: %v", id, slices.Sorted(maps.Keys(got)))
			continue
		}
		if fw := f["framework"].(map[string]any); id != "session-reuse" && fw["id"] != "flask" {
			t.Errorf("%s: framework %v, want flask (the app looks like Werkzeug)", id, fw["id"])
		}
	}
	if f := got["session-reuse"]; f != nil {
		if c := f["client"].(string); !strings.HasPrefix(c, demoapp.AttackerAddr.String()+":") {
			t.Errorf("session-reuse evidence is from %s, want the attacker %s", c, demoapp.AttackerAddr)
		}
		if chain, _ := f["chain"].([]any); len(chain) < 2 {
			t.Errorf("session-reuse chain %v, want the victim's and the attacker's requests", chain)
		}
	}
	if files := fmt.Sprint(summary["files"]); files != "["+demoapp.CaptureName+"]" {
		t.Errorf("summary files %s, want [%s]", files, demoapp.CaptureName)
	}
	if strings.Contains(o.String(), "eyJ") { // every value starts with base64 of {"user":…}
		t.Errorf("a cookie value is printed without --show-values:\n%s", o.String())
	}

	o.Reset()
	e.Reset()
	if code := run([]string{"demo"}, nil, &o, &e); code != exitClean {
		t.Fatalf("demo (table) exit %d; stderr:\n%s", code, e.String())
	}
	for _, want := range []string{"what a man in the middle sees", demoapp.AttackerAddr.String(), "session-reuse", "cookiewatch demo --explain"} {
		if !strings.Contains(o.String(), want) {
			t.Errorf("demo table output lacks %q:\n%s", want, o.String())
		}
	}
}

// TestDemoExplain checks --explain: every finding of the demo gets the
// scenario's attack, who can exploit it and Flask's own setting as the fix,
// and the cross-connection finding borrows the framework of its cookie.
func TestDemoExplain(t *testing.T) {
	var o, e bytes.Buffer
	if code := run([]string{"demo", "--explain", "-q"}, nil, &o, &e); code != exitClean {
		t.Fatalf("exit %d; stderr:\n%s", code, e.String())
	}
	out := o.String()
	idx := strings.Index(out, "What these findings mean")
	if idx < 0 {
		t.Fatalf("no explanations in:\n%s", out)
	}
	blocks := strings.Split(out[idx:], "\n\n")
	want := map[string][]string{ // rule → what its block must say
		"missing-httponly":     {"(script theft)", "cross-site scripting", "SESSION_COOKIE_HTTPONLY"},
		"missing-secure":       {"(network theft)", "same Wi-Fi", "SESSION_COOKIE_SECURE"},
		"missing-samesite":     {"(cross-site requests)", "attaches the cookie", "SESSION_COOKIE_SAMESITE"},
		"cleartext-cookie":     {"(network theft)", "Fix (Flask)"},
		"session-reuse":        {"(session replay in progress)", "Fix (Flask)", "SESSION_COOKIE_SECURE"},
		"cleartext-set-cookie": {"(network theft)", "Fix (Flask)"},
	}
	for rule, phrases := range want {
		var block string
		for _, b := range blocks {
			if strings.Contains(b, "] "+rule+" — ") {
				block = strings.Join(strings.Fields(b), " ") // undo the wrapping
			}
		}
		if block == "" {
			t.Errorf("no explanation for %s", rule)
			continue
		}
		for _, p := range phrases {
			if !strings.Contains(block, p) {
				t.Errorf("%s explanation lacks %q:\n%s", rule, p, block)
			}
		}
	}
}

// TestExplainCoversCatalogue: every rule of both catalogues has a scenario
// and a plain explanation, so --explain never prints an empty block.
func TestExplainCoversCatalogue(t *testing.T) {
	var all []rules.Rule
	all = append(all, rules.Catalogue()...)
	for _, r := range correlate.Catalogue() {
		all = append(all, r.Rule)
	}
	for _, r := range all {
		sc, ok := report.ScenarioOf(r.ID)
		if !ok || sc.Who == "" {
			t.Errorf("rule %s has no scenario in report/explain.go", r.ID)
		}
		if got, ok := ruleByID(r.ID); !ok || got.Explanation == "" {
			t.Errorf("ruleByID(%s) finds no explanation", r.ID)
		}
	}
}

// TestDemoCaptureReproducible records the story again with the generator's
// code (real app, victim and attacker on loopback, libpcap on lo) and checks
// it tells what the embedded capture tells. Needs root or CAP_NET_RAW; under
// CI=true a missing privilege fails.
func TestDemoCaptureReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a live capture")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b bytes.Buffer
	// Another loopback address than the live demo's, so a demo running on
	// this machine does not collide; port 80 so the Host header has no port.
	err := demoapp.Record(ctx, &b, netip.MustParseAddrPort("127.0.0.81:80"), 50*time.Millisecond)
	if errors.Is(err, demoapp.ErrNoPrivilege) {
		needPrivilege(t, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fresh.pcap")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, fresh, stderr := runCLI(t, nil, "-r", path, "--format", "json", "--fail-on", "none")
	if code != exitClean {
		t.Fatalf("fresh capture: exit %d, stderr:\n%s", code, stderr)
	}
	var o, e bytes.Buffer
	if code := run([]string{"demo", "--format", "json"}, nil, &o, &e); code != exitClean {
		t.Fatalf("demo: exit %d, stderr:\n%s", code, e.String())
	}
	freshFs, _ := jsonReport(t, fresh)
	embFs, _ := jsonReport(t, o.String())
	if got, want := storyOf(freshFs), storyOf(embFs); !slices.Equal(got, want) {
		t.Errorf("a fresh recording differs from the embedded capture (run go run ./internal/demoapp/gen?)\nfresh:\n%s\nembedded:\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestDemoLive runs `cookiewatch demo --live` briefly: findings must be
// printed as they happen (session reuse included), and the final report must
// hold them. Needs root or CAP_NET_RAW; under CI=true a missing privilege fails.
func TestDemoLive(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a live capture")
	}
	var o, e bytes.Buffer
	start := time.Now()
	code := run([]string{"demo", "--live", "--duration", "2s", "--every", "150ms", "--port", "0", "--format", "json"}, nil, &o, &e)
	if code == exitError && strings.Contains(e.String(), "CAP_NET_RAW") {
		needPrivilege(t, errors.New(e.String()))
	}
	if code != exitClean {
		t.Fatalf("exit %d, stderr:\n%s", code, e.String())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a 2s demo took %v to stop", d)
	}
	events := e.String() // the report is JSON on stdout, so the story goes to stderr
	for _, want := range []string{"victim logs in", "attacker is in alice's account", "FINDING high     session-reuse", "FINDING high     cleartext-cookie", "stopped after 2s"} {
		if !strings.Contains(events, want) {
			t.Errorf("live events lack %q:\n%s", want, events)
		}
	}
	fs, summary := jsonReport(t, o.String())
	rulesSeen := map[string]bool{}
	for _, f := range fs {
		rulesSeen[f["rule"].(string)] = true
	}
	for _, id := range []string{"cleartext-set-cookie", "cleartext-cookie", "missing-httponly", "session-reuse"} {
		if !rulesSeen[id] {
			t.Errorf("final report lacks %s (summary %v)", id, summary)
		}
	}
}

// TestHelpExamples: the main help and the demo's help carry examples for
// the three uses (forensics on a file, live on a mirror port, classroom).
func TestHelpExamples(t *testing.T) {
	var o, e bytes.Buffer
	if code := run([]string{"--help"}, nil, &o, &e); code != exitClean {
		t.Fatalf("--help exit %d", code)
	}
	for _, want := range []string{"Forensics on a capture file", "cookiewatch -r incident.pcapng", "mirror (SPAN) port", "cookiewatch -i eth1", "Classroom", "cookiewatch demo --explain", "--format html -o report.html", "-explain", "-q"} {
		if !strings.Contains(e.String(), want) {
			t.Errorf("cookiewatch --help lacks %q", want)
		}
	}
	e.Reset()
	if code := run([]string{"demo", "-h"}, nil, &o, &e); code != exitClean {
		t.Fatalf("demo -h exit %d", code)
	}
	for _, want := range []string{"Examples:", "cookiewatch demo --explain", "--format html -o report.html", "sudo cookiewatch demo --live", "-duration", "-attacker", "cookiewatch -r capture.pcapng", "| cookiewatch -r -"} {
		if !strings.Contains(e.String(), want) {
			t.Errorf("cookiewatch demo -h lacks %q", want)
		}
	}
	e.Reset()
	if code := run([]string{"rules", "-h"}, nil, &o, &e); code != exitClean {
		t.Fatalf("rules -h exit %d", code)
	}
	for _, want := range []string{"Examples:", "cookiewatch rules session-reuse", "cookiewatch -r capture.pcapng", "| cookiewatch -r -", "cookiewatch demo"} {
		if !strings.Contains(e.String(), want) {
			t.Errorf("cookiewatch rules -h lacks %q", want)
		}
	}
}

// TestDemoLiveWithoutPrivilege runs `demo --live` as an unprivileged user
// (as root, the test binary re-executes itself as nobody with setpriv) and
// checks that it stops with exit 2 and says how to get the privilege.
func TestDemoLiveWithoutPrivilege(t *testing.T) {
	if os.Getenv("COOKIEWATCH_HELPER") == "demo-live" {
		os.Exit(run([]string{"demo", "--live", "--duration", "1s", "--port", "0"}, nil, os.Stdout, os.Stderr))
	}
	if testing.Short() {
		t.Skip("runs a helper process")
	}
	dir, err := os.MkdirTemp("", "cookiewatch-nopriv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "cookiewatch.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{bin, "-test.run=^TestDemoLiveWithoutPrivilege$"}
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("root without setpriv (util-linux): cannot drop the privilege to test its absence")
		}
		args = append([]string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "COOKIEWATCH_HELPER=demo-live")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitError {
		t.Fatalf("unprivileged demo --live: %v (want exit %d)\n%s", err, exitError, out)
	}
	for _, want := range []string{"needs root or CAP_NET_RAW", "sudo cookiewatch demo --live", "setcap cap_net_raw"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
