package report

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twcache"
	"github.com/olekukonko/tablewriter/pkg/twwidth"

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
func (t *Table) Write(*rules.Finding) error { return nil }

var severityColor = map[rules.Severity]string{
	rules.Critical: "\x1b[1;35m", rules.High: "\x1b[1;31m", rules.Medium: "\x1b[33m", rules.Low: "\x1b[36m", rules.Info: "\x1b[2m",
}

// tableHeader is the header row of every host's table.
var tableHeader = []string{"Severity", "Rule", "Cookie", "Value", "Frame", "Request", "Framework", "N"}

const tableCols = 8

// colorSeverity is each severity's cell in colour.
var colorSeverity = func() map[rules.Severity]string {
	m := map[rules.Severity]string{}
	for sev, c := range severityColor {
		m[sev] = c + sev.String() + "\x1b[0m"
	}
	return m
}()

// Close renders the findings and the summary.
// The findings are read twice (for their hosts, then for the rows of each
// host in turn), one at a time; only --explain holds them all (All).
func (t *Table) Close(s Summary, fs Findings) error {
	multi := len(s.Files) > 1
	r := newTableRenderer()
	var rows [][tableCols]string // one host's cells, reused
	var lastValue rules.Value    // findings of one cookie share their Value: its text is made once
	var valueText string
	for _, group := range hostGroups(fs) {
		if _, err := fmt.Fprintf(t.w, "%s\n", Safe(fs.At(int(group[0])).Host, 80)); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		rows = rows[:0]
		for _, i := range group {
			f := fs.At(int(i))
			switch {
			case f.Value == nil:
				lastValue, valueText = rules.Value{}, Safe(f.Value.String(), 48)
			case *f.Value != lastValue || valueText == "":
				lastValue, valueText = *f.Value, Safe(f.Value.String(), 48)
			}
			rows = append(rows, t.cells(f, multi, valueText))
		}
		if err := r.render(t.w, rows); err != nil {
			return err
		}
	}
	if fs.Len() == 0 {
		if _, err := fmt.Fprintln(t.w, "No findings."); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if t.explain != nil {
		all := All(fs)
		if err := WriteExplanations(t.w, all, NewExplainer(t.explain, all)); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprintf(t.w, "%s\n%s\n", s.FindingsLine(), s.Line()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// hostGroups returns the indexes of fs grouped by host (case-insensitive),
// hosts in order of their first finding, findings of a host in their order.
func hostGroups(fs Findings) [][]int32 {
	group := map[string]int{}
	var groups [][]int32
	for i := range fs.Len() {
		h := fs.At(i).Host
		g, ok := group[h] // exact spelling first: no lower-casing for most
		if !ok {
			lh := strings.ToLower(h)
			if g, ok = group[lh]; !ok {
				g = len(groups)
				groups = append(groups, nil)
				group[lh] = g
			}
			group[h] = g
		}
		groups[g] = append(groups[g], int32(i))
	}
	return groups
}

// cells is a finding's row; value is its Value cell.
func (t *Table) cells(f *rules.Finding, multi bool, value string) [tableCols]string {
	frame := strconv.FormatUint(f.Frame, 10)
	if multi {
		frame = filepath.Base(f.File) + ":" + frame
	}
	if len(f.Chain) > 1 {
		frame = chainFrames(f.Chain, multi) // cross-connection evidence: every link
	}
	if f.Truncated {
		frame += " (cut)"
	}
	req := f.Method + " " + f.Path
	if f.Direction == "response" && f.Status != 0 {
		req += " → " + strconv.Itoa(f.Status)
	}
	sev := f.Severity.String()
	if t.color {
		sev = colorSeverity[f.Severity]
	}
	name := f.Cookie
	if f.Scheme != "" {
		name += " (" + f.Scheme + ")"
	}
	return [tableCols]string{sev, f.Rule, Safe(name, 32), value,
		frame, Safe(strings.TrimSpace(req), 48), f.Framework.Name, strconv.Itoa(f.Count)}
}

// tableRenderer writes host tables. tablewriter lays each table out: it
// renders the borders and the header for the columns' widths, and a row of
// placeholders from which the rows' frame is taken; the rows are then
// written into that frame, which is what tablewriter would write for them
// (TestTableRowsAsTablewriter), without its cost per cell. A table with a
// cell tablewriter would change (spaces at either end, control characters,
// several lines) is left to tablewriter whole.
type tableRenderer struct {
	tw        *tablewriter.Table // lays out frames, reused (Reset)
	buf       bytes.Buffer       // tw's output
	frames    map[[tableCols]int]frame
	line      []byte
	cellWidth [][tableCols]int32
	arrow     int // display widths of "→" and "…", the non-ASCII text of most rows
	ellipsis  int
}

// twwidth's width cache is a package-level LRU made at init with room for
// 8,192 strings, its map allocated at that size: some 0.7 MB live from the
// start of a run to its end, for a cache this package hardly uses (width
// measures through it only cells with non-ASCII text other than arrows and
// ellipses, tablewriter only the frames' headers and placeholders and the
// rare table left to it whole). 512 strings hold every one of those that
// repeats; the widths do not depend on the cache, only their cost.
func init() { twwidth.SetCacheCapacity(512) }

func newTableRenderer() *tableRenderer {
	r := &tableRenderer{frames: map[[tableCols]int]frame{}, arrow: twwidth.Width("→"), ellipsis: twwidth.Width("…")}
	// Reset purges the stringer cache by making a new one at its size (the
	// default makes that 60 KB a frame); rows here are strings, which it
	// never caches.
	r.tw = tablewriter.NewTable(&r.buf, tablewriter.WithStringerCacheCustom(twcache.NewLRU[reflect.Type, reflect.Value](1)))
	return r
}

// render writes one host's table.
func (r *tableRenderer) render(w io.Writer, rows [][tableCols]string) error {
	var widths [tableCols]int
	for i, h := range tableHeader {
		widths[i] = len(h) // ASCII headers, upper-cased by tablewriter: same width
	}
	r.cellWidth = r.cellWidth[:0]
	for _, row := range rows {
		var cw [tableCols]int32
		for i, c := range row {
			n, ok := r.width(c)
			if !ok {
				return renderWithTablewriter(w, rows)
			}
			cw[i] = int32(n)
			widths[i] = max(widths[i], n)
		}
		r.cellWidth = append(r.cellWidth, cw)
	}
	fr, ok := r.frames[widths]
	if !ok {
		var err error
		if fr, err = r.frame(widths); err != nil {
			return err
		}
		r.frames[widths] = fr
	}
	if _, err := io.WriteString(w, fr.head); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for k, row := range rows {
		line := r.line[:0]
		for i, c := range row {
			line = append(line, fr.sep[i]...)
			line = append(line, c...)
			for n := int(r.cellWidth[k][i]); n < widths[i]; n++ {
				line = append(line, ' ')
			}
		}
		line = append(line, fr.sep[tableCols]...)
		r.line = line
		if _, err := w.Write(line); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	if _, err := io.WriteString(w, fr.foot); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// width is the display width of a cell that tablewriter writes as it is
// (ok false for one it would trim, split or expand), measured as
// tablewriter measures it.
func (r *tableRenderer) width(c string) (int, bool) {
	if c != strings.TrimSpace(c) {
		return 0, false
	}
	n, other := 0, false
	for i := 0; i < len(c); {
		b := c[i]
		switch {
		case b >= 0x20 && b < 0x7f:
			n++
			i++
		case b < 0x20 || b == 0x7f:
			if b != 0x1b { // ANSI colour (severities): measured by tablewriter's width
				return 0, false
			}
			other = true
			i++
		case strings.HasPrefix(c[i:], "→"):
			n += r.arrow
			i += len("→")
		case strings.HasPrefix(c[i:], "…"):
			n += r.ellipsis
			i += len("…")
		default:
			other = true
			i++
		}
	}
	if other {
		return twwidth.Width(c), true
	}
	return n, true
}

// frame is a table's layout for given column widths: everything above the
// first row, the text around each cell of a row, and everything below.
type frame struct {
	head, foot string
	sep        [tableCols + 1]string // sep[i] before cell i; sep[tableCols] ends the line
}

// frame has tablewriter render the header and a row of placeholders as
// wide as each column, and cuts the row into the text around its cells.
func (r *tableRenderer) frame(widths [tableCols]int) (frame, error) {
	var row [tableCols]string
	for i, n := range widths {
		row[i] = strings.Repeat("x", n)
	}
	r.buf.Reset()
	r.tw.Reset()
	r.tw.Header(tableHeader)
	if err := r.tw.Append(row[:]); err != nil {
		return frame{}, fmt.Errorf("report: table: %w", err)
	}
	if err := r.tw.Render(); err != nil {
		return frame{}, fmt.Errorf("report: table: %w", err)
	}
	out := r.buf.String()
	lines := strings.SplitAfter(out, "\n")
	// top border, header, separator, the row, bottom border, "".
	if len(lines) != 6 {
		return frame{}, fmt.Errorf("report: table: unexpected layout %q", out)
	}
	var fr frame
	fr.head = lines[0] + lines[1] + lines[2]
	fr.foot = lines[4]
	rest := lines[3]
	for i, n := range widths {
		j := strings.IndexByte(rest, 'x')
		if j < 0 || len(rest) < j+n || strings.Count(rest[j:j+n], "x") != n {
			return frame{}, fmt.Errorf("report: table: unexpected row %q", lines[3])
		}
		fr.sep[i] = rest[:j]
		rest = rest[j+n:]
	}
	fr.sep[tableCols] = rest
	return fr, nil
}

// renderWithTablewriter writes one host's table with tablewriter alone.
func renderWithTablewriter(w io.Writer, rows [][tableCols]string) error {
	tw := tablewriter.NewWriter(w)
	tw.Header(tableHeader)
	for _, r := range rows {
		if err := tw.Append(r[:]); err != nil {
			return fmt.Errorf("report: table: %w", err)
		}
	}
	if err := tw.Render(); err != nil {
		return fmt.Errorf("report: table: %w", err)
	}
	return nil
}
