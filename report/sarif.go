package report

import (
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"

	"github.com/cookiewatch/cookiewatch/rules"
)

// SARIF writes a SARIF 2.1.0 log at Close: one run, the catalogue as the
// driver's rules, each capture file an artifact, and one result per finding
// located in its capture file, with frame and time in the result's
// properties (a capture has no lines to point at).
type SARIF struct {
	w io.Writer
}

// NewSARIF returns a SARIF writer to w.
func NewSARIF(w io.Writer) *SARIF { return &SARIF{w: w} }

// Write is a no-op: the log is written at Close.
func (s *SARIF) Write(rules.Finding) error { return nil }

type sarifMessage struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifMessage   `json:"shortDescription"`
	FullDescription      sarifMessage   `json:"fullDescription"`
	Help                 sarifMessage   `json:"help"`
	HelpURI              string         `json:"helpUri"`
	DefaultConfiguration map[string]any `json:"defaultConfiguration"`
	Properties           map[string]any `json:"properties"`
}

type sarifArtifactLocation struct {
	URI   string `json:"uri"`
	Index int    `json:"index"`
}

type sarifLocation struct {
	PhysicalLocation struct {
		ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	} `json:"physicalLocation"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifMessage      `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties"`
}

// sarifLevel maps severities to SARIF levels.
func sarifLevel(s rules.Severity) string {
	switch {
	case s >= rules.High:
		return "error"
	case s == rules.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub code scanning's numeric severity (0–10).
var securitySeverity = map[rules.Severity]string{
	rules.Critical: "9.5", rules.High: "8.0", rules.Medium: "5.5", rules.Low: "3.0", rules.Info: "0.0",
}

// Close writes the log.
func (s *SARIF) Close(sum Summary, fs []rules.Finding) error {
	cat := rules.Catalogue()
	var srules []sarifRule
	index := map[string]int{}
	for i, r := range cat {
		index[r.ID] = i
		srules = append(srules, sarifRule{
			ID: r.ID, Name: r.ID, ShortDescription: sarifMessage{r.Title}, FullDescription: sarifMessage{r.Explanation},
			Help:                 sarifMessage{r.Fix},
			HelpURI:              "https://github.com/cookiewatch/cookiewatch/blob/main/docs/rules.md#" + r.ID,
			DefaultConfiguration: map[string]any{"level": sarifLevel(r.Severity)},
			Properties: map[string]any{
				"tags":              []string{"security", "external/cwe/cwe-" + strconv.Itoa(r.CWE)},
				"precision":         map[rules.Confidence]string{rules.Certain: "very-high", rules.Firm: "high", rules.Tentative: "low"}[r.Confidence],
				"security-severity": securitySeverity[r.Severity],
				"cwe":               "CWE-" + strconv.Itoa(r.CWE),
			},
		})
	}
	files := slices.Clone(sum.Files)
	for _, f := range fs {
		if f.File != "" && !slices.Contains(files, f.File) {
			files = append(files, f.File)
		}
	}
	var artifacts []map[string]any
	for _, f := range files {
		artifacts = append(artifacts, map[string]any{"location": map[string]any{"uri": fileURI(f)}, "roles": []string{"analysisTarget"}})
	}
	results := []sarifResult{}
	for _, f := range fs {
		msg := fmt.Sprintf("%s: %s %q on %s (frame %d", f.Title, f.Subject, f.Cookie, f.Host, f.Frame)
		if f.Count > 1 {
			msg += fmt.Sprintf(", %d occurrences", f.Count)
		}
		msg += "). Fix (" + f.Framework.Name + "): " + f.Fix
		var loc sarifLocation
		loc.PhysicalLocation.ArtifactLocation = sarifArtifactLocation{URI: fileURI(f.File), Index: slices.Index(files, f.File)}
		props := map[string]any{
			"severity": f.Severity.String(), "confidence": f.Confidence.String(), "frame": f.Frame,
			"time": f.Time.UTC().Format(TimeFormat), "host": f.Host, "subject": f.Subject, "cookie": f.Cookie,
			"count": f.Count, "client": f.Client.String(), "server": f.Server.String(), "direction": f.Direction,
			"session": f.Session, "framework": f.Framework, "tls": f.TLS,
		}
		if f.Value != nil {
			props["value"] = f.Value
		}
		if f.Scheme != "" {
			props["scheme"] = f.Scheme
		}
		if f.Count > 1 {
			props["last_time"] = f.LastTime.UTC().Format(TimeFormat)
		}
		if f.Method != "" {
			props["method"], props["path"] = f.Method, f.Path
		}
		if f.Status != 0 {
			props["status"] = f.Status
		}
		results = append(results, sarifResult{
			RuleID: f.Rule, RuleIndex: index[f.Rule], Level: sarifLevel(f.Severity), Message: sarifMessage{msg},
			Locations: []sarifLocation{loc}, PartialFingerprints: map[string]string{"cookiewatch/v1": f.Fingerprint},
			Properties: props,
		})
	}
	log := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []map[string]any{{
			"tool": map[string]any{"driver": map[string]any{
				"name": "cookiewatch", "informationUri": "https://github.com/cookiewatch/cookiewatch",
				"rules": srules,
			}},
			"artifacts":  artifacts,
			"results":    results,
			"properties": map[string]any{"summary": sum},
		}},
	}
	enc := json.NewEncoder(s.w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("report: writing SARIF: %w", err)
	}
	return nil
}

// fileURI makes a capture path a relative or absolute URI reference.
func fileURI(p string) string {
	if p == "" {
		p = "-"
	}
	return (&url.URL{Path: p}).String()
}
