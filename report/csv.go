package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"

	"github.com/cookiewatch/cookiewatch/rules"
)

// CSV writes one row per finding under a header row. Cells that a
// spreadsheet would run as a formula (starting with = + - @ or a tab) get a
// leading apostrophe: hosts, paths and cookie names come from the traffic.
type CSV struct {
	w      *csv.Writer
	header bool
}

// NewCSV returns a CSV writer to w.
func NewCSV(w io.Writer) *CSV { return &CSV{w: csv.NewWriter(w)} }

// CSVColumns are the CSV header, in order (docs/json.md describes each field).
var CSVColumns = []string{"fingerprint", "severity", "confidence", "rule", "cwe", "host", "subject", "cookie",
	"value_length", "value_fingerprint", "value", "session", "session_confidence", "session_reason", "framework",
	"direction", "file", "frame", "time", "last_time", "count", "client", "server", "method", "path", "status", "tls"}

func (c *CSV) writeHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	return c.w.Write(CSVColumns)
}

// Write writes one finding.
func (c *CSV) Write(f *rules.Finding) error {
	if err := c.writeHeader(); err != nil {
		return fmt.Errorf("report: writing CSV: %w", err)
	}
	var vlen, vfp, vraw string
	if f.Value != nil {
		vlen, vfp, vraw = strconv.Itoa(f.Value.Length), f.Value.Fingerprint, f.Value.Raw
	}
	last := ""
	if f.Count > 1 {
		last = f.LastTime.UTC().Format(TimeFormat)
	}
	status := ""
	if f.Status != 0 {
		status = strconv.Itoa(f.Status)
	}
	row := []string{f.Fingerprint, f.Severity.String(), f.Confidence.String(), f.Rule, strconv.Itoa(f.CWE), f.Host,
		f.Subject, f.Cookie, vlen, vfp, vraw, strconv.FormatBool(f.Session.Session), f.Session.Confidence, f.Session.Reason,
		f.Framework.ID, f.Direction, f.File, strconv.FormatUint(f.Frame, 10), f.Time.UTC().Format(TimeFormat), last,
		strconv.Itoa(f.Count), f.Client.String(), f.Server.String(), f.Method, f.Path, status, strconv.FormatBool(f.TLS)}
	for i, v := range row {
		row[i] = defuse(v)
	}
	if err := c.w.Write(row); err != nil {
		return fmt.Errorf("report: writing CSV: %w", err)
	}
	return nil
}

// Close writes the header if no finding did, and flushes.
func (c *CSV) Close(Summary, Findings) error {
	if err := c.writeHeader(); err != nil {
		return fmt.Errorf("report: writing CSV: %w", err)
	}
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("report: writing CSV: %w", err)
	}
	return nil
}

func defuse(v string) string {
	if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r') {
		return "'" + v
	}
	return v
}
