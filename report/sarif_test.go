package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cookiewatch/cookiewatch/rules"
)

// TestSARIFResultsAsJSON: sarifResults writes a result as encoding/json
// wrote its record (HTML escaping off), indented as in the log, for
// findings with every field set or left out, text that needs escaping in
// every field (the message's parts too) and addresses of every kind.
func TestSARIFResultsAsJSON(t *testing.T) {
	fs := append(append(sampleFindings(), benchFindings(100)...), randomFindings(3000)...)
	files := []string{"captures/a b.pcap"}
	index := map[string]int{}
	for i, r := range rules.Catalogue() {
		index[r.ID] = i
	}
	for _, f := range fs {
		if !slices.Contains(files, f.File) {
			files = append(files, f.File)
		}
	}
	sr := sarifResults{files: files, index: index, uris: map[string][]byte{}}
	var compact, want bytes.Buffer
	enc := json.NewEncoder(&compact)
	enc.SetEscapeHTML(false)
	for i, f := range fs {
		compact.Reset()
		want.Reset()
		if err := enc.Encode(oldSarifResultOf(f, files, index)); err != nil {
			t.Fatal(err)
		}
		if err := json.Indent(&want, bytes.TrimSuffix(compact.Bytes(), []byte("\n")), resultIndent, "  "); err != nil {
			t.Fatal(err)
		}
		if got := sr.appendResult([]byte("x"), f); string(got[1:]) != want.String() {
			t.Fatalf("finding %d:\ngot:\n%s\nwant:\n%s", i, got[1:], want.String())
		}
	}
}

// The result records and sarifResultOf below are how SARIF results were
// written before sarifResults (encoding/json, then indented): the
// reference TestSARIFResultsAsJSON holds sarifResults to.

// sarifProperties are a result's properties. Their fields are in the order
// of their names, as the map they replace was encoded, and present on the
// same conditions.
type sarifProperties struct {
	Client     string              `json:"client"`
	Confidence string              `json:"confidence"`
	Cookie     string              `json:"cookie"`
	Count      int                 `json:"count"`
	Direction  string              `json:"direction"`
	Frame      uint64              `json:"frame"`
	Framework  rules.FrameworkInfo `json:"framework"`
	Host       string              `json:"host"`
	LastTime   string              `json:"last_time,omitempty"` // with Count > 1
	Method     string              `json:"method,omitempty"`
	Path       *string             `json:"path,omitempty"` // with Method
	Scheme     string              `json:"scheme,omitempty"`
	Server     string              `json:"server"`
	Session    rules.Session       `json:"session"`
	Severity   string              `json:"severity"`
	Status     int                 `json:"status,omitempty"`
	Subject    string              `json:"subject"`
	Time       string              `json:"time"`
	TLS        bool                `json:"tls"`
	Value      *rules.Value        `json:"value,omitempty"`
}

type sarifFingerprints struct {
	V1 string `json:"cookiewatch/v1"`
}

type sarifResultRecord struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           [1]sarifLocation  `json:"locations"`
	PartialFingerprints sarifFingerprints `json:"partialFingerprints"`
	Properties          *sarifProperties  `json:"properties"`
}

func oldSarifResultOf(f *rules.Finding, files []string, index map[string]int) *sarifResultRecord {
	msg := fmt.Sprintf("%s: %s %q on %s (frame %d", f.Title, f.Subject, f.Cookie, f.Host, f.Frame)
	if f.Count > 1 {
		msg += fmt.Sprintf(", %d occurrences", f.Count)
	}
	msg += "). Fix (" + f.Framework.Name + "): " + f.Fix
	r := &sarifResultRecord{
		RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity), Message: sarifMessage{msg},
		PartialFingerprints: sarifFingerprints{f.Fingerprint},
		Properties: &sarifProperties{
			Severity: f.Severity.String(), Confidence: f.Confidence.String(), Frame: f.Frame,
			Time: f.Time.UTC().Format(TimeFormat), Host: f.Host, Subject: f.Subject, Cookie: f.Cookie,
			Count: f.Count, Client: f.Client.String(), Server: f.Server.String(), Direction: f.Direction,
			Session: f.Session, Framework: f.Framework, TLS: f.TLS, Value: f.Value, Scheme: f.Scheme, Status: f.Status,
		},
	}
	r.Locations[0].PhysicalLocation.ArtifactLocation = sarifArtifactLocation{URI: fileURI(f.File), Index: slices.Index(files, f.File)}
	p := r.Properties
	if f.Count > 1 {
		p.LastTime = f.LastTime.UTC().Format(TimeFormat)
	}
	if f.Method != "" {
		p.Method, p.Path = f.Method, &f.Path
	}
	return r
}

// TestSARIFCloseAlone: a log whose findings Close reads itself is the log
// of the same findings given to Write first, with capture files the
// summary does not list (artifacts in order of their first finding).
func TestSARIFCloseAlone(t *testing.T) {
	fs := List(append(benchFindings(300), sampleFindings()...))
	for i, f := range fs {
		g := *f
		g.File = []string{"b.pcap", "a.pcap", "bench.pcap", ""}[i%7%4]
		fs[i] = &g
	}
	sum := Summary{Files: []string{"bench.pcap"}}
	sum.Tally(fs)
	var written, alone bytes.Buffer
	w := NewSARIF(&written)
	for _, f := range fs {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(sum, fs); err != nil {
		t.Fatal(err)
	}
	if err := NewSARIF(&alone).Close(sum, fs); err != nil {
		t.Fatal(err)
	}
	if written.String() != alone.String() {
		t.Errorf("Close alone wrote\n%s\nwant\n%s", alone.String(), written.String())
	}
	if !strings.Contains(written.String(), `"uri": "a.pcap"`) {
		t.Errorf("no artifact for a.pcap")
	}
}
