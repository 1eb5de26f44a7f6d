package report

import (
	"cmp"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"

	"github.com/cookiewatch/cookiewatch/rules"
)

// Table renders findings at Close as one table per host (hosts in order of
// their first finding), followed by the summary. Severities are coloured
// only when Color is set, which the caller does for a terminal.
type Table struct {
	w       io.Writer
	color   bool
	explain RuleLookup // set by Explain: plain-words explanations after the tables
}

// NewTable returns a table writer to w; color adds ANSI colours to severities.
func NewTable(w io.Writer, color bool) *Table { return &Table{w: w, color: color} }

// Write is a no-op: the table is rendered from the sorted findings at Close.
func (t *Table) Write(rules.Finding) error { return nil }

var severityColor = map[rules.Severity]string{
	rules.Critical: "\x1b[1;35m", rules.High: "\x1b[1;31m", rules.Medium: "\x1b[33m", rules.Low: "\x1b[36m", rules.Info: "\x1b[2m",
}

// Close renders the findings and the summary.
func (t *Table) Close(s Summary, fs []rules.Finding) error {
	multi := len(s.Files) > 1
	// Group by host, hosts in order of their first finding.
	first := map[string]int{}
	for i, f := range fs {
		if _, ok := first[strings.ToLower(f.Host)]; !ok {
			first[strings.ToLower(f.Host)] = i
		}
	}
	sorted := slices.Clone(fs)
	slices.SortStableFunc(sorted, func(a, b rules.Finding) int {
		return cmp.Compare(first[strings.ToLower(a.Host)], first[strings.ToLower(b.Host)])
	})
	for i := 0; i < len(sorted); {
		host := strings.ToLower(sorted[i].Host)
		j := i
		for j < len(sorted) && strings.ToLower(sorted[j].Host) == host {
			j++
		}
		if _, err := fmt.Fprintf(t.w, "%s\n", Safe(sorted[i].Host, 80)); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		tw := tablewriter.NewWriter(t.w)
		tw.Header("Severity", "Rule", "Cookie", "Value", "Frame", "Request", "Framework", "N")
		for _, f := range sorted[i:j] {
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
			sev := f.Severity.String()
			if t.color {
				sev = severityColor[f.Severity] + sev + "\x1b[0m"
			}
			name := f.Cookie
			if f.Scheme != "" {
				name += " (" + f.Scheme + ")"
			}
			if err := tw.Append([]string{
				sev, f.Rule, Safe(name, 32), Safe(f.Value.String(), 48),
				frame, Safe(strings.TrimSpace(req), 48), f.Framework.Name, strconv.Itoa(f.Count),
			}); err != nil {
				return fmt.Errorf("report: table: %w", err)
			}
		}
		if err := tw.Render(); err != nil {
			return fmt.Errorf("report: table: %w", err)
		}
		i = j
	}
	if len(fs) == 0 {
		if _, err := fmt.Fprintln(t.w, "No findings."); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if t.explain != nil {
		if err := WriteExplanations(t.w, fs, NewExplainer(t.explain, fs)); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(t.w, "%s\n%s\n", s.FindingsLine(), s.Line()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
