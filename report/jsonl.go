package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/cookiewatch/cookiewatch/rules"
)

// SchemaVersion is the version of the JSON Lines record layout (docs/json.md).
const SchemaVersion = 2

// JSONLines writes one JSON object per finding as soon as it is given, then
// a final summary record. Each line has "type": "finding" or "summary".
type JSONLines struct {
	w     terminalSafeJSON
	enc   *json.Encoder
	line  []byte // reused
	times findingTimes
}

// NewJSONLines returns a writer of JSON Lines to w.
func NewJSONLines(w io.Writer) *JSONLines {
	enc := json.NewEncoder(terminalSafeJSON{w})
	enc.SetEscapeHTML(false)
	return &JSONLines{w: terminalSafeJSON{w}, enc: enc}
}

type findingRecord struct {
	Type     string `json:"type"`
	Version  int    `json:"version"`
	Severity string `json:"severity"`
	rules.Finding
	Confidence string `json:"confidence"`
	Time       string `json:"time"`
	LastTime   string `json:"last_time,omitempty"`
}

// TimeFormat is RFC 3339 with microseconds, in UTC.
const TimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// Write writes one finding: its line is built by appendFinding, the bytes
// encoding/json writes for its findingRecord (encoding/json writes it
// should appendFinding ever leave one to it).
func (j *JSONLines) Write(f *rules.Finding) error {
	if line, ok := j.times.appendFinding(j.line[:0], f); ok {
		j.line = line
		if _, err := j.w.Write(line); err != nil {
			return fmt.Errorf("report: writing JSON: %w", err)
		}
		return nil
	}
	if err := j.enc.Encode(newFindingRecord(f)); err != nil {
		return fmt.Errorf("report: writing JSON: %w", err)
	}
	return nil
}

// WriteAll is Write for each finding of fs in order, on two goroutines
// when there are many (writeParts): each renders its parts' lines with
// times cached and an encoding/json Encoder of its own, and the lines go
// through the terminal escaping as they are written, in order (it works
// rune by rune, and lines end in a newline: the same bytes as line by
// line).
func (j *JSONLines) WriteAll(fs Findings) error {
	wrap := func(err error) error { return fmt.Errorf("report: writing JSON: %w", err) }
	return writeParts(j.w, fs, wrap, func() func([]byte, Findings, int) ([]byte, error) {
		var times findingTimes
		var buf bytes.Buffer
		var enc *json.Encoder
		return func(b []byte, fs Findings, i int) ([]byte, error) {
			f := fs.At(i)
			if line, ok := times.appendFinding(b, f); ok {
				return line, nil
			}
			if enc == nil {
				enc = json.NewEncoder(&buf)
				enc.SetEscapeHTML(false)
			}
			buf.Reset()
			if err := enc.Encode(newFindingRecord(f)); err != nil {
				return b, fmt.Errorf("report: writing JSON: %w", err)
			}
			return append(b, buf.Bytes()...), nil
		}
	})
}

func newFindingRecord(f *rules.Finding) findingRecord {
	rec := findingRecord{Type: "finding", Version: SchemaVersion, Severity: f.Severity.String(), Finding: *f,
		Confidence: f.Confidence.String(), Time: f.Time.UTC().Format(TimeFormat)}
	if f.Count > 1 && !f.LastTime.Equal(f.Time) {
		rec.LastTime = f.LastTime.UTC().Format(TimeFormat)
	}
	return rec
}

type summaryRecord struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	Summary
}

// Close writes the summary record.
func (j *JSONLines) Close(s Summary, _ Findings) error {
	if err := j.enc.Encode(summaryRecord{Type: "summary", Version: SchemaVersion, Summary: s}); err != nil {
		return fmt.Errorf("report: writing JSON: %w", err)
	}
	return nil
}
