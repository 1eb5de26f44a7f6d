package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
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
	// The capture files of the findings given to Write, in order of
	// their first finding (n of them given): Close then need not read
	// every finding for them before it writes the results.
	files    []string
	n        int
	lastFile string
}

// NewSARIF returns a SARIF writer to w.
func NewSARIF(w io.Writer) *SARIF { return &SARIF{w: w} }

// Write notes the capture file of the next finding: the log is written
// at Close, which must be given the findings Write was given, in the same
// order (as cmd/cookiewatch does), unless Write was given none.
func (s *SARIF) Write(f *rules.Finding) error {
	if s.n == 0 || f.File != s.lastFile {
		if f.File != "" && !slices.Contains(s.files, f.File) {
			s.files = append(s.files, f.File)
		}
		s.lastFile = f.File
	}
	s.n++
	return nil
}

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
	seen := s.files
	if s.n != fs.Len() { // Write was not given the findings: read them
		seen = nil
		for i := range fs.Len() {
			if f := fs.At(i).File; f != "" && !slices.Contains(seen, f) {
				seen = append(seen, f)
			}
		}
	}
	for _, f := range seen {
		if !slices.Contains(files, f) {
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

// writeResults writes the results array, as the log's encoder would
// (sarifResults writes each result in the encoder's indentation).
func (s *SARIF) writeResults(fs Findings, files []string, index map[string]int) error {
	if fs.Len() == 0 {
		_, err := io.WriteString(s.w, "[]")
		return err
	}
	sr := sarifResults{files: files, index: index, uris: map[string][]byte{}}
	buf := make([]byte, 0, 128<<10)
	buf = append(buf, "[\n"...)
	for i := range fs.Len() {
		if i > 0 {
			buf = append(buf, ",\n"...)
		}
		buf = append(buf, resultIndent...)
		buf = sr.appendResult(buf, fs.At(i))
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

// sarifResults writes SARIF results as encoding/json writes a result
// record (ruleId, ruleIndex, level, message, locations,
// partialFingerprints, properties; HTML escaping off) indented in the log
// (json.Indent with resultIndent and two spaces), field by field and
// without reflection: the encoder and the indentation cost some 80% of a
// SARIF log. TestSARIFResultsAsJSON holds it to encoding/json's bytes.
type sarifResults struct {
	files []string
	index map[string]int
	uris  map[string][]byte // by capture file: its "uri" and "index" lines
	times findingTimes
	quote []byte
}

func (sr *sarifResults) appendResult(b []byte, f *rules.Finding) []byte {
	b = append(b, "{\n          \"ruleId\": "...)
	b = appendJSONString(b, f.Rule)
	b = append(b, ",\n          \"ruleIndex\": "...)
	b = strconv.AppendInt(b, int64(sr.index[f.Rule]), 10)
	b = append(b, ",\n          \"level\": "...)
	b = appendJSONString(b, sarifLevel(f.Severity))
	// The message, "%s: %s %q on %s (frame %d[, %d occurrences]). Fix
	// (%s): %s", escaped a part at a time: every part is text between
	// ASCII characters, so escaping the parts is escaping the whole.
	b = append(b, ",\n          \"message\": {\n            \"text\": \""...)
	b = appendStringBody(b, f.Title, false)
	b = append(b, ": "...)
	b = appendStringBody(b, f.Subject, false)
	b = append(b, ' ')
	sr.quote = strconv.AppendQuote(sr.quote[:0], f.Cookie)
	b = appendStringBody(b, sr.quote, false)
	b = append(b, " on "...)
	b = appendStringBody(b, f.Host, false)
	b = append(b, " (frame "...)
	b = strconv.AppendUint(b, f.Frame, 10)
	if f.Count > 1 {
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(f.Count), 10)
		b = append(b, " occurrences"...)
	}
	b = append(b, "). Fix ("...)
	b = appendStringBody(b, f.Framework.Name, false)
	b = append(b, "): "...)
	b = appendStringBody(b, f.Fix, false)
	b = append(b, "\"\n          },\n          \"locations\": [\n            {\n              \"physicalLocation\": {\n                \"artifactLocation\": {\n                  \"uri\": "...)
	b = append(b, sr.location(f.File)...)
	b = append(b, "\n                }\n              }\n            }\n          ],\n          \"partialFingerprints\": {\n            \"cookiewatch/v1\": "...)
	b = appendJSONString(b, f.Fingerprint)
	b = append(b, "\n          },\n          \"properties\": {\n            \"client\": "...)
	b = appendAddrPortString(b, f.Client)
	b = append(b, ",\n            \"confidence\": "...)
	b = appendJSONString(b, f.Confidence.String())
	b = append(b, ",\n            \"cookie\": "...)
	b = appendJSONString(b, f.Cookie)
	b = append(b, ",\n            \"count\": "...)
	b = strconv.AppendInt(b, int64(f.Count), 10)
	b = append(b, ",\n            \"direction\": "...)
	b = appendJSONString(b, f.Direction)
	b = append(b, ",\n            \"frame\": "...)
	b = strconv.AppendUint(b, f.Frame, 10)
	b = append(b, ",\n            \"framework\": {\n              \"id\": "...)
	b = appendJSONString(b, f.Framework.ID)
	b = append(b, ",\n              \"name\": "...)
	b = appendJSONString(b, f.Framework.Name)
	b = append(b, ",\n              \"reason\": "...)
	b = appendJSONString(b, f.Framework.Reason)
	b = append(b, "\n            },\n            \"host\": "...)
	b = appendJSONString(b, f.Host)
	if f.Count > 1 {
		b = append(b, ",\n            \"last_time\": \""...)
		b = sr.times.last.append(b, f.LastTime)
		b = append(b, '"')
	}
	if f.Method != "" { // the path with it, even empty
		b = append(b, ",\n            \"method\": "...)
		b = appendJSONString(b, f.Method)
		b = append(b, ",\n            \"path\": "...)
		b = appendJSONString(b, f.Path)
	}
	if f.Scheme != "" {
		b = append(b, ",\n            \"scheme\": "...)
		b = appendJSONString(b, f.Scheme)
	}
	b = append(b, ",\n            \"server\": "...)
	b = appendAddrPortString(b, f.Server)
	b = append(b, ",\n            \"session\": {\n              \"session\": "...)
	b = strconv.AppendBool(b, f.Session.Session)
	b = append(b, ",\n              \"confidence\": "...)
	b = appendJSONString(b, f.Session.Confidence)
	b = append(b, ",\n              \"reason\": "...)
	b = appendJSONString(b, f.Session.Reason)
	b = append(b, "\n            },\n            \"severity\": "...)
	b = appendJSONString(b, f.Severity.String())
	if f.Status != 0 {
		b = append(b, ",\n            \"status\": "...)
		b = strconv.AppendInt(b, int64(f.Status), 10)
	}
	b = append(b, ",\n            \"subject\": "...)
	b = appendJSONString(b, f.Subject)
	b = append(b, ",\n            \"time\": \""...)
	b = sr.times.time.append(b, f.Time)
	b = append(b, "\",\n            \"tls\": "...)
	b = strconv.AppendBool(b, f.TLS)
	if v := f.Value; v != nil {
		b = append(b, ",\n            \"value\": {\n              \"length\": "...)
		b = strconv.AppendInt(b, int64(v.Length), 10)
		b = append(b, ",\n              \"fingerprint\": "...)
		b = appendJSONString(b, v.Fingerprint)
		if v.Raw != "" {
			b = append(b, ",\n              \"raw\": "...)
			b = appendJSONString(b, v.Raw)
		}
		b = append(b, "\n            }"...)
	}
	return append(b, "\n          }\n        }"...)
}

// location is the artifact location of capture file: its "uri" value and
// the "index" line, made once per file.
func (sr *sarifResults) location(file string) []byte {
	if l, ok := sr.uris[file]; ok {
		return l
	}
	l := appendJSONString(nil, fileURI(file))
	l = append(l, ",\n                  \"index\": "...)
	l = strconv.AppendInt(l, int64(slices.Index(sr.files, file)), 10)
	sr.uris[file] = l
	return l
}

// appendAddrPortString appends p.String() as a JSON string.
func appendAddrPortString(b []byte, p netip.AddrPort) []byte {
	if !p.Addr().IsValid() {
		return appendJSONString(b, p.String()) // "invalid AddrPort"; its text is empty
	}
	return appendAddrPort(b, p)
}

// fileURI makes a capture path a relative or absolute URI reference.
func fileURI(p string) string {
	if p == "" {
		p = "-"
	}
	return (&url.URL{Path: p}).String()
}
