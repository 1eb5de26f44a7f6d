package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cookiewatch/cookiewatch/rules"
)

// sampleFindings are findings of different kinds, with traffic-derived text
// that needs escaping in every format.
func sampleFindings() []*rules.Finding {
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	mk := func(rule, cookie, host string, sev rules.Severity) rules.Finding {
		r, _ := rules.ByID(rule)
		return rules.Finding{Rule: rule, Title: r.Title, Severity: sev, Confidence: r.Confidence, CWE: r.CWE,
			Fingerprint: rules.Fingerprint(rule, host, cookie), Subject: "set-cookie", Cookie: cookie,
			Value:     &rules.Value{Length: 32, Fingerprint: "sha256:0123456789ab"},
			Session:   rules.Session{Session: true, Confidence: "certain", Reason: "known session cookie name (PHP)"},
			Framework: rules.FrameworkInfo{ID: "php", Name: "PHP", Reason: "cookie name (PHP)"}, Fix: r.Fix,
			Direction: "response", Host: host, Client: netip.MustParseAddrPort("10.0.0.1:5000"),
			Server: netip.MustParseAddrPort("[2001:db8::1]:80"), File: "captures/a b.pcap", Frame: 7, Time: t0,
			LastTime: t0.Add(time.Second), Count: 2, Method: "GET", Path: "/=cmd|calc", Status: 200}
	}
	auth := mk("cleartext-authorization", "Authorization", "api.example", rules.High)
	auth.Value, auth.Subject, auth.Scheme, auth.Direction, auth.Status, auth.Count = nil, "authorization", "Basic", "request", 0, 1
	ms, mh := mk("missing-secure", "PHPSESSID", "shop.example", rules.Medium), mk("missing-httponly", "=HYPERLINK(\"x\")", "shop.example", rules.Info)
	return []*rules.Finding{&ms, &mh, &auth}
}

func sampleSummary(fs []*rules.Finding) Summary {
	s := Summary{Files: []string{"captures/a b.pcap"}, Packets: 10}
	s.Tally(List(fs))
	return s
}

func TestSARIFValidatesAgainstSchema(t *testing.T) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	sch, err := c.Compile("../testdata/sarif/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatalf("compiling the SARIF schema: %v", err)
	}
	for _, fs := range [][]*rules.Finding{sampleFindings(), nil} {
		var buf bytes.Buffer
		if err := NewSARIF(&buf).Close(sampleSummary(fs), List(fs)); err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		if err := sch.Validate(doc); err != nil {
			t.Errorf("SARIF output does not validate: %v\n%s", err, buf.String())
		}
		var log struct {
			Runs []struct {
				Tool struct {
					Driver struct {
						Rules []struct{ ID string }
					}
				}
				Results []struct {
					RuleID    string
					RuleIndex int
					Locations []struct {
						PhysicalLocation struct {
							ArtifactLocation struct{ URI string }
						}
					}
					Properties map[string]any
				}
			}
		}
		if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
			t.Fatal(err)
		}
		run := log.Runs[0]
		if len(run.Results) != len(fs) {
			t.Fatalf("%d results for %d findings", len(run.Results), len(fs))
		}
		for i, r := range run.Results {
			if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID || r.RuleID != fs[i].Rule {
				t.Errorf("result %d: ruleId %s, ruleIndex %d", i, r.RuleID, r.RuleIndex)
			}
			if r.Locations[0].PhysicalLocation.ArtifactLocation.URI != "captures/a%20b.pcap" || r.Properties["frame"] != float64(7) {
				t.Errorf("result %d: location %+v, properties %v", i, r.Locations, r.Properties)
			}
		}
	}
}

// TestSARIFSchemaRejects proves the validation can fail.
func TestSARIFSchemaRejects(t *testing.T) {
	sch, err := jsonschema.NewCompiler().Compile("../testdata/sarif/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{`{"version":"2.0.0","runs":[]}`, `{"version":"2.1.0","runs":[{"results":[]}]}`,
		`{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"x"},"level":"fatal"}]}]}`} {
		doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad))
		if sch.Validate(doc) == nil {
			t.Errorf("schema accepted %s", bad)
		}
	}
}

func TestCSV(t *testing.T) {
	fs := sampleFindings()
	var buf bytes.Buffer
	w := NewCSV(&buf)
	for _, f := range fs {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(sampleSummary(fs), List(fs)); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(fs)+1 || strings.Join(recs[0], ",") != strings.Join(CSVColumns, ",") {
		t.Fatalf("CSV has %d rows, header %v", len(recs), recs[0])
	}
	for _, row := range recs[1:] {
		for _, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
				t.Errorf("cell %q would run as a spreadsheet formula", cell)
			}
		}
	}
	var empty bytes.Buffer
	if err := NewCSV(&empty).Close(Summary{}, List(nil)); err != nil || strings.TrimSpace(empty.String()) != strings.Join(CSVColumns, ",") {
		t.Errorf("empty CSV = %q, %v", empty.String(), err)
	}
}

func TestBaseline(t *testing.T) {
	fs := sampleFindings()
	var buf bytes.Buffer
	j := NewJSONLines(&buf)
	for _, f := range fs[:2] {
		j.Write(f)
	}
	j.Close(sampleSummary(fs[:2]), List(fs[:2]))
	dir := t.TempDir()
	good := filepath.Join(dir, "base.jsonl")
	os.WriteFile(good, buf.Bytes(), 0o644)
	known, err := ReadBaseline(good)
	if err != nil {
		t.Fatal(err)
	}
	if !known[fs[0].Fingerprint] || !known[fs[1].Fingerprint] || known[fs[2].Fingerprint] || len(known) != 2 {
		t.Errorf("baseline = %v", known)
	}
	for name, content := range map[string]string{
		"not json":   "hello\n",
		"old schema": `{"type":"finding","version":1,"rule":"x"}` + "\n" + `{"type":"summary","version":1}` + "\n",
		"cut":        `{"type":"finding","version":2,"fingerprint":"ab"}` + "\n",
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := ReadBaseline(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestTableColour(t *testing.T) {
	fs := sampleFindings()
	var plain, colour bytes.Buffer
	NewTable(&plain, false).Close(sampleSummary(fs), List(fs))
	NewTable(&colour, true).Close(sampleSummary(fs), List(fs))
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("escape codes without colour")
	}
	if !strings.Contains(colour.String(), "\x1b[33mmedium\x1b[0m") {
		t.Errorf("no coloured severity:\n%s", colour.String())
	}
	out := plain.String()
	if strings.Index(out, "shop.example") > strings.Index(out, "api.example") || strings.Count(out, "shop.example\n") != 1 {
		t.Errorf("not grouped by host in order of first finding:\n%s", out)
	}
	if !strings.Contains(out, "3 findings: 1 high, 1 medium, 1 info; 2 hosts, 3 cookies") {
		t.Errorf("summary missing:\n%s", out)
	}
}

// TestJSONFieldsDocumented checks that every field a JSON record can carry
// is named in docs/json.md.
func TestJSONFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/json.md")
	if err != nil {
		t.Fatal(err)
	}
	fs := sampleFindings()
	fs[0].Deletion, fs[0].Truncated, fs[0].Line, fs[0].Attrs = true, true, "x", &rules.Attributes{}
	var buf bytes.Buffer
	j := NewJSONLines(&buf)
	for _, f := range fs {
		j.Write(f)
	}
	s := sampleSummary(fs)
	s.Suppressed, s.Baselined, s.Fragments, s.Reassembled, s.Warnings = 1, 1, 1, 1, []string{"w"}
	s.Skipped, s.Anomalies = []Counter{{"x", 1}}, []Counter{{"y", 1}}
	j.Close(s, List(fs))
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		for k := range rec {
			if !strings.Contains(string(doc), "`"+k+"`") {
				t.Errorf("field %q is not documented in docs/json.md", k)
			}
		}
	}
	for _, c := range CSVColumns {
		if !strings.Contains(string(doc), c) {
			t.Errorf("CSV column %q is not documented", c)
		}
	}
}
