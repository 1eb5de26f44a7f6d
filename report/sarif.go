package report

import (
	"bytes"
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
func (s *SARIF) Write(*rules.Finding) error { return nil }

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
func (s *SARIF) Close(sum Summary, fs Findings) error {
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
	for i := range fs.Len() {
		if f := fs.At(i).File; f != "" && !slices.Contains(files, f) {
			files = append(files, f)
		}
	}
	var artifacts []map[string]any
	for _, f := range files {
		artifacts = append(artifacts, map[string]any{"location": map[string]any{"uri": fileURI(f)}, "roles": []string{"analysisTarget"}})
	}
	// The log is encoded with a placeholder for the results, which are then
	// streamed in its place one by one, indented as the encoder indents
	// them: the whole log is never held in memory.
	const placeholder = "\x00results\x00"
	log := map[string]any{
		"$schema": "https://json.schemastore.org/sarif-2.1.0.json",
		"version": "2.1.0",
		"runs": []map[string]any{{
			"tool": map[string]any{"driver": map[string]any{
				"name": "cookiewatch", "informationUri": "https://github.com/cookiewatch/cookiewatch",
				"rules": srules,
			}},
			"artifacts":  artifacts,
			"results":    placeholder,
			"properties": map[string]any{"summary": sum},
		}},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(log); err != nil {
		return fmt.Errorf("report: writing SARIF: %w", err)
	}
	head, tail, ok := bytes.Cut(buf.Bytes(), []byte(`"\u0000results\u0000"`))
	if !ok {
		return fmt.Errorf("report: writing SARIF: no place for the results")
	}
	if _, err := s.w.Write(head); err != nil {
		return fmt.Errorf("report: writing SARIF: %w", err)
	}
	if err := s.writeResults(fs, files, index); err != nil {
		return err
	}
	if _, err := s.w.Write(tail); err != nil {
		return fmt.Errorf("report: writing SARIF: %w", err)
	}
	return nil
}

// resultIndent is the indentation of the log's results (log, runs, run,
// results).
const resultIndent = "        "

// writeResults writes the results array, as the log's encoder would.
func (s *SARIF) writeResults(fs Findings, files []string, index map[string]int) error {
	if fs.Len() == 0 {
		_, err := io.WriteString(s.w, "[]")
		return err
	}
	var compact bytes.Buffer
	enc := json.NewEncoder(&compact)
	enc.SetEscapeHTML(false)
	buf := make([]byte, 0, 128<<10)
	buf = append(buf, "[\n"...)
	for i := range fs.Len() {
		if i > 0 {
			buf = append(buf, ",\n"...)
		}
		buf = append(buf, resultIndent...)
		compact.Reset()
		if err := enc.Encode(sarifResultOf(fs.At(i), files, index)); err != nil {
			return fmt.Errorf("report: writing SARIF: %w", err)
		}
		buf = appendIndent(buf, bytes.TrimSuffix(compact.Bytes(), []byte("\n")), resultIndent, "  ")
		if len(buf) >= 64<<10 {
			if _, err := s.w.Write(buf); err != nil {
				return fmt.Errorf("report: writing SARIF: %w", err)
			}
			buf = buf[:0]
		}
	}
	buf = append(buf, "\n"+resultIndent[:len(resultIndent)-2]+"]"...)
	if _, err := s.w.Write(buf); err != nil {
		return fmt.Errorf("report: writing SARIF: %w", err)
	}
	return nil
}

// appendIndent is json.Indent for the compact JSON encoding/json writes
// (no space outside strings), appended to dst: what an indenting Encoder
// writes, without its scanner's cost per byte (TestAppendIndentAsJSON).
func appendIndent(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	open := false // just after '{' or '[': the next byte decides on a newline
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for i := 0; i < len(src); i++ {
		c := src[i]
		if open && c != '}' && c != ']' {
			open = false
			depth++
			newline()
		}
		switch c {
		case '"':
			// A string, escapes included, copied as it is.
			j := i + 1
			for {
				k := -1
				if j < len(src) {
					k = bytes.IndexAny(src[j:], `"\`)
				}
				if k < 0 {
					j = len(src) - 1 // not from encoding/json: copy the rest
					break
				}
				j += k
				if src[j] == '"' {
					break
				}
				j += 2 // an escape: skip the escaped byte
			}
			dst = append(dst, src[i:j+1]...)
			i = j
		case '{', '[':
			open = true
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, c, ' ')
		case '}', ']':
			if open {
				open = false // empty: no newline inside
			} else {
				depth--
				newline()
			}
			dst = append(dst, c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

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

func sarifResultOf(f *rules.Finding, files []string, index map[string]int) *sarifResultRecord {
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

// fileURI makes a capture path a relative or absolute URI reference.
func fileURI(p string) string {
	if p == "" {
		p = "-"
	}
	return (&url.URL{Path: p}).String()
}
