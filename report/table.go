package report

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"

	"github.com/cookiewatch/cookiewatch/rules"
)

// Table renders findings as a table at Close, followed by the summary line.
type Table struct {
	w io.Writer
}

// NewTable returns a table writer to w.
func NewTable(w io.Writer) *Table { return &Table{w: w} }

// Write is a no-op: the table is rendered from the sorted findings at Close.
func (t *Table) Write(rules.Finding) error { return nil }

// Close renders the findings and the summary.
func (t *Table) Close(s Summary, fs []rules.Finding) error {
	multi := len(s.Files) > 1
	if len(fs) > 0 {
		tw := tablewriter.NewWriter(t.w)
		tw.Header("Severity", "Rule", "Host", "Cookie", "Value", "Frame", "Request", "N")
		for _, f := range fs {
			frame := strconv.FormatUint(f.Frame, 10)
			if multi {
				frame = filepath.Base(f.File) + ":" + frame
			}
			if len(f.Chain) > 1 {
				frame = chainFrames(f.Chain, multi) // cross-connection evidence: every link
			}
			req := f.Method + " " + f.Path
			if f.Direction == "response" && f.Status != 0 {
				req += " → " + strconv.Itoa(f.Status)
			}
			if f.Truncated {
				frame += " (cut)"
			}
			if err := tw.Append([]string{
				f.Severity.String(), f.Rule, Safe(f.Host, 40), Safe(f.Cookie, 32), Safe(f.Value.String(), 48),
				frame, Safe(strings.TrimSpace(req), 48), strconv.Itoa(f.Count),
			}); err != nil {
				return fmt.Errorf("report: table: %w", err)
			}
		}
		if err := tw.Render(); err != nil {
			return fmt.Errorf("report: table: %w", err)
		}
	} else {
		if _, err := fmt.Fprintln(t.w, "No findings."); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if _, err := fmt.Fprintln(t.w, s.Line()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
