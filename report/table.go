package report

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/pkg/twcache"
	"github.com/olekukonko/tablewriter/pkg/twwidth"

	"github.com/cookiewatch/cookiewatch/rules"
)

// Table renders findings at Close as one table per host (hosts in order of
// their first finding), followed by the summary. Severities are coloured
// only when Color is set, which the caller does for a terminal.
//
// A table's column widths must be known before its first row is written,
// so Write puts each finding in its host's table and renders and measures
// its row, and Close writes the rows: those Write kept (up to
// tableRowBudget bytes of them), and the others rendered again from their
// findings, read a second time. (A rules.Sorted decodes a finding each
// time it is read: reading and rendering are most of what the table
// costs.) Close reads the findings once more only when Write was not given
// them (live capture's final table).
type Table struct {
	w       io.Writer
	color   bool
	explain RuleLookup // set by Explain: plain-words explanations after the tables

	n      int          // findings given to Write
	groups []tableGroup // by host, in order of their first finding
	next   []int32      // by finding: the next finding of its group, -1 for none
	group  map[string]int
	last   string // host of the last finding gathered, whose group is lastG
	lastG  int
	rc     rowCells
	r      *tableRenderer

	// The rows Write renders to measure them are kept (with one file:
	// Close renders them alike), so Close writes them without reading
	// their findings again, as long as they fit in rowBudget bytes; the
	// rows past that Close renders again. A row is its cells' ends and
	// widths (16 bits each) and its cells, in chunks of rowChunk bytes;
	// rowAt is each finding's row as chunk*rowChunk+offset, noRow for one
	// not kept.
	rowChunks [][]byte
	rowAt     []uint32
	rowBytes  int
	rowBudget int // 0: tableRowBudget

	// frameManyWidth's file (set) and its base name's length (-1: not
	// printable ASCII, or a space first).
	baseOf  string
	baseSet bool
	baseLen int
}

// tableRowBudget is the most bytes of rows a table keeps between Write
// and Close: some 130 bytes a row, the rows of some 120,000 findings
// (the 1 GB benchmark capture has 54,780). Reading and rendering a
// finding's row again costs as much as the first time.
const tableRowBudget = 16 << 20

const (
	rowChunk = 256 << 10
	rowHead  = 4 * tableCols // a kept row's ends and widths
	noRow    = ^uint32(0)
)

// keepRow keeps rc's row (its cells up to end[tableCols-1]), if it fits
// the budget and its 16-bit fields, and returns where (for rowAt), or
// noRow.
func (t *Table) keepRow(rc *rowCells) uint32 {
	n := int(rc.end[tableCols-1])
	budget := t.rowBudget
	if budget == 0 {
		budget = tableRowBudget
	}
	ok := n <= 0xffff && t.rowBytes+rowHead+n <= budget
	for i := range tableCols {
		ok = ok && rc.w[i] >= 0 && rc.w[i] <= 0xffff
	}
	last := len(t.rowChunks) - 1
	if ok && (last < 0 || len(t.rowChunks[last])+rowHead+n > rowChunk) {
		if len(t.rowChunks) >= math.MaxUint32/rowChunk-1 {
			ok = false
		} else {
			t.rowChunks = append(t.rowChunks, make([]byte, 0, max(rowChunk, rowHead+n)))
			last++
		}
	}
	if !ok {
		return noRow
	}
	c := t.rowChunks[last]
	k := len(c)
	c = c[:k+rowHead+n] // within its capacity (checked above)
	h := (*[rowHead]byte)(c[k:])
	for i := range tableCols {
		binary.LittleEndian.PutUint16(h[2*i:], uint16(rc.end[i]))
		binary.LittleEndian.PutUint16(h[2*tableCols+2*i:], uint16(rc.w[i]))
	}
	copy(c[k+rowHead:], rc.b[:n])
	t.rowChunks[last] = c
	t.rowBytes += rowHead + n
	return uint32(last*rowChunk + k)
}

// warmRows reads the first bytes of the kept rows of n findings from i
// (following next) before any is written, and returns their sum (kept by
// the caller, so that the reads are made): the rows were kept in the
// order the findings were gathered in (gatherStored), not report order,
// and their cache misses then overlap, instead of each row's read
// waiting for its own. Over 40 ops of BenchmarkRender/table on the 1 GB
// capture (loaded machine, two profiles each), keptRow took 0.18-0.27 s
// of samples without warmRows, the two 0.11-0.18 s with it.
func (t *Table) warmRows(i int32, n int32) byte {
	var x byte
	for range n {
		if at := t.rowAt[i]; at != noRow {
			c := t.rowChunks[at/rowChunk][at%rowChunk:]
			x += c[0] + c[min(rowHead, len(c)-1)] // its head, and its cells after
		}
		i = t.next[i]
	}
	return x
}

// keptRow sets rc to the row kept for finding i, and reports whether
// there is one. rc.b is then the kept bytes themselves (not a copy, at
// full capacity: not to be appended to).
func (t *Table) keptRow(i int32, rc *rowCells) bool {
	if int(i) >= len(t.rowAt) || t.rowAt[i] == noRow {
		return false
	}
	at := t.rowAt[i]
	c := t.rowChunks[at/rowChunk][at%rowChunk:]
	for k := range tableCols {
		rc.end[k] = int32(binary.LittleEndian.Uint16(c[2*k:]))
		rc.w[k] = int32(binary.LittleEndian.Uint16(c[2*tableCols+2*k:]))
	}
	n := rowHead + int(rc.end[tableCols-1])
	rc.b = c[rowHead:n:n]
	rc.bad = 0
	return true
}

// tableGroup is one host's table: its findings and its columns' widths.
type tableGroup struct {
	host        string // the host of its first finding: the table's heading
	first, last int32  // its first and last findings (Table.next links them)
	n           int
	width       [tableCols]int32
	// Frame cells name the capture file when there are several (Close
	// knows, Write does not): the frame column's width then.
	frameMany int32
	// Some cell tablewriter would change (other than a frame cell; a
	// frame cell with one file; with several): tablewriter renders the
	// whole table.
	whole, wholeOne, wholeMany bool
}

// widen makes g's columns as wide as u's where u's are wider, and its
// cells needing tablewriter those of either: g and u are the same host's
// table gathered in two parts.
func (g *tableGroup) widen(u *tableGroup) {
	for i := range tableCols {
		g.width[i] = max(g.width[i], u.width[i])
	}
	g.frameMany = max(g.frameMany, u.frameMany)
	g.whole, g.wholeOne, g.wholeMany = g.whole || u.whole, g.wholeOne || u.wholeOne, g.wholeMany || u.wholeMany
}

// NewTable returns a table writer to w; color adds ANSI colours to severities.
func NewTable(w io.Writer, color bool) *Table { return &Table{w: w, color: color} }

// Write takes the next finding in report order: it has its place in its
// host's table and its cells measured. Close must then be given the
// findings Write was given, in the same order (as cmd/cookiewatch does),
// unless Write was given none.
func (t *Table) Write(f *rules.Finding) error {
	t.gather(f)
	return nil
}

// gather is Write's work: f is finding t.n.
func (t *Table) gather(f *rules.Finding) {
	if t.r == nil {
		t.r = newTableRenderer()
	}
	if t.group == nil {
		t.group = map[string]int{}
	}
	gi := t.lastG
	if t.n == 0 || f.Host != t.last {
		gi = t.groupOf(f.Host)
		t.last, t.lastG = f.Host, gi
	}
	g := &t.groups[gi]
	i := int32(t.n)
	t.next = append(t.next, -1)
	if g.n == 0 {
		g.first = i
	} else {
		t.next[g.last] = i
	}
	g.last = i
	g.n++
	t.n++
	t.rowAt = append(t.rowAt, t.measure(g, f))
}

// measure renders f's row, adds its cells' widths to g's and keeps it
// (keepRow: it returns where).
func (t *Table) measure(g *tableGroup, f *rules.Finding) uint32 {
	rc := &t.rc
	t.row(f, false, rc)
	at := t.keepRow(rc)
	for i := range tableCols {
		g.width[i] = max(g.width[i], rc.w[i])
	}
	g.whole = g.whole || rc.bad&^(1<<frameCol) != 0
	g.wholeOne = g.wholeOne || rc.bad&(1<<frameCol) != 0
	n, ok := t.frameManyWidth(f, rc)
	g.frameMany = max(g.frameMany, int32(n))
	g.wholeMany = g.wholeMany || !ok
	return at
}

// frameManyWidth is cellWidth of f's Frame cell with several files
// (appendFrame's multi), which Write measures for every finding in case
// Close is given several: for a finding without a chain whose file's base
// name is printable ASCII without a space first (as capture names are),
// that name's length, a colon and the frame's digits (and " (cut)"), not
// made and measured; else made (after rc's row) and measured.
func (t *Table) frameManyWidth(f *rules.Finding, rc *rowCells) (int, bool) {
	n := -1
	if len(f.Chain) <= 1 {
		if bl := t.baseLenOf(f.File); bl >= 0 {
			n = bl + 1 + decimalLen(f.Frame)
		}
	} else { // every link's, between arrows (the correlator's findings, 16% of the 1 GB capture's)
		n = (len(f.Chain) - 1) * t.r.arrow
		for _, l := range f.Chain {
			bl := t.baseLenOf(l.File)
			if bl < 0 {
				n = -1
				break
			}
			n += bl + 1 + decimalLen(l.Frame)
		}
	}
	if n >= 0 {
		if f.Truncated {
			n += len(" (cut)")
		}
		return n, true
	}
	start := len(rc.b)
	rc.b = appendFrame(rc.b, f, true)
	n, ok := cellWidth(t.r, rc.b[start:])
	rc.b = rc.b[:start]
	return n, ok
}

// baseLenOf returns the length of file's base name (as appendFrame
// writes it) when it is printable ASCII without a space first, else -1;
// the last file's is kept.
func (t *Table) baseLenOf(file string) int {
	if !t.baseSet || file != t.baseOf {
		b := filepath.Base(file)
		t.baseOf, t.baseSet, t.baseLen = file, true, -1
		if printablePrefix(unsafe.Slice(unsafe.StringData(b), len(b))) == len(b) && b[0] != ' ' {
			t.baseLen = len(b) // Base gives "." for ""
		}
	}
	return t.baseLen
}

// decimalLen is the number of decimal digits of u.
func decimalLen(u uint64) int {
	n := 1
	for ; u >= 10; u /= 10 {
		n++
	}
	return n
}

// WriteAll is Write for each finding of fs in order (writeAll's path,
// which gives the table every finding at once). From parallelFrom findings
// and when fs can be read by two goroutines at once (concurrentReader), a
// second goroutine gathers the second half of the findings into tables of
// its own while this one gathers the first, and its tables are then
// joined to the first half's: a host's table is the same one whichever
// half its rows were gathered in (hosts are grouped without regard to
// case, its heading is the spelling of its first finding, tables come in
// order of their first finding). Reading the findings is most of what
// this pass costs; it was the serial half of the table's time.
func (t *Table) WriteAll(fs Findings) error {
	n := fs.Len()
	if so, ok := fs.(storeOrdered); ok && t.n == 0 {
		t.gatherStored(fs, so.StoreOrder())
		return nil
	}
	fs, other := tableReaders(fs)
	if other == nil || n < parallelFrom || t.n != 0 {
		for i := range n {
			t.gather(fs.At(i))
		}
		return nil
	}
	if t.r == nil {
		t.r = newTableRenderer() // shared: measuring cells only reads it
	}
	m := n / 2
	ub, restore := t.splitRowBudget()
	defer restore()
	u := &Table{color: t.color, r: t.r, rowBudget: ub}
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := m; i < n; i++ {
			u.gather(other.At(i))
		}
	})
	for i := range m {
		t.gather(fs.At(i))
	}
	wg.Wait()
	t.join(u)
	return nil
}

// storeOrdered is Findings that can say in what order reading them costs
// least (rules.Sorted.StoreOrder: their positions, in the order of their
// records in memory).
type storeOrdered interface {
	StoreOrder() []int32
}

// gatherStored is WriteAll for findings read in order (a permutation of
// fs's positions, StoreOrder's) rather than report order: a table's rows
// and widths do not depend on the order they are measured in, and a
// rules.Sorted decodes its findings in the order of their records about
// twice as fast (StoreOrder). Each host's table is the same as gathering
// in report order makes: its findings are linked in report order after,
// it is headed by the spelling of its first finding in report order, and
// tables come in order of their first finding. From parallelFrom
// findings, when fs can be read by two goroutines at once, a second one
// gathers the second half of order into tables of its own, joined after.
//
// With readers that leave out what the table does not show (tableReaders):
// the 1 GB capture's gather phase (CLI, temporary timing hook, 8 runs each
// alternating on a heavily loaded machine) took 36.2 ms at best, 58.8 ms
// median, against 40.1 and 73.6 ms in report order with whole findings.
func (t *Table) gatherStored(fs Findings, order []int32) {
	n := fs.Len()
	rd, other := tableReaders(fs)
	if t.r == nil {
		t.r = newTableRenderer() // shared: measuring cells only reads it
	}
	if t.group == nil {
		t.group = map[string]int{}
	}
	t.rowAt = make([]uint32, n)
	// The group of finding k among those of the Table that gathered it:
	// t's (k >= 0), or u's (-1 - its index).
	gid := make([]int32, n)
	gather := func(g *Table, rd Findings, part []int32, mark int32) {
		for _, k := range part {
			f := rd.At(int(k))
			gi := g.lastG
			if g.n == 0 || f.Host != g.last {
				gi = g.groupOf(f.Host)
				g.last, g.lastG = f.Host, gi
			}
			gr := &g.groups[gi]
			if gr.n == 0 || k < gr.first {
				gr.first, gr.host = k, f.Host
			}
			gr.n++
			g.n++
			t.rowAt[k] = g.measure(gr, f)
			gid[k] = mark ^ int32(gi) // mark -1: -1 - gi
		}
	}
	var u *Table
	if other == nil || n < parallelFrom {
		gather(t, rd, order, 0)
	} else {
		ub, restore := t.splitRowBudget()
		defer restore()
		u = &Table{color: t.color, r: t.r, rowBudget: ub, group: map[string]int{}}
		m := len(order) / 2
		var wg sync.WaitGroup
		wg.Go(func() { gather(u, other, order[m:], -1) })
		gather(t, rd, order[:m], 0)
		wg.Wait()
	}

	// u's tables join t's: a host's is one (hosts without regard to case).
	var uGroup []int
	rowBase := uint32(len(t.rowChunks)) * rowChunk
	if u != nil {
		if len(u.rowChunks) > math.MaxUint32/rowChunk-1-len(t.rowChunks) {
			panic("report: the kept rows' chunks overflow") // the budgets keep them far below
		}
		t.rowChunks = append(t.rowChunks, u.rowChunks...)
		t.rowBytes += u.rowBytes
		uGroup = make([]int, len(u.groups))
		for ui := range u.groups {
			ug := &u.groups[ui]
			lh := strings.ToLower(ug.host)
			gi, ok := t.group[lh]
			if !ok {
				gi = len(t.groups)
				t.group[lh] = gi
				t.groups = append(t.groups, *ug)
				uGroup[ui] = gi
				continue
			}
			uGroup[ui] = gi
			g := &t.groups[gi]
			if ug.first < g.first {
				g.first, g.host = ug.first, ug.host
			}
			g.n += ug.n
			g.widen(ug)
		}
		for h, ui := range u.group {
			t.group[h] = uGroup[ui]
		}
	}
	// Tables in order of their first finding.
	byFirst := make([]int, len(t.groups))
	for i := range byFirst {
		byFirst[i] = i
	}
	slices.SortFunc(byFirst, func(a, b int) int { return cmp.Compare(t.groups[a].first, t.groups[b].first) })
	rank := make([]int, len(t.groups))
	groups := make([]tableGroup, len(t.groups))
	for r, gi := range byFirst {
		rank[gi] = r
		groups[r] = t.groups[gi]
	}
	t.groups = groups
	for h, gi := range t.group {
		t.group[h] = rank[gi]
	}
	// Each table's findings linked in report order.
	t.next = make([]int32, n)
	for k := range int32(n) {
		var gi int
		if x := gid[k]; x >= 0 {
			gi = rank[x]
		} else {
			gi = rank[uGroup[-1-x]]
			if t.rowAt[k] != noRow {
				t.rowAt[k] += rowBase
			}
		}
		g := &t.groups[gi]
		t.next[k] = -1
		if k != g.first {
			t.next[g.last] = k
		}
		g.last = k
		t.last, t.lastG = g.host, gi // a host of the group: Write's shortcut holds
	}
	t.n = n
}

// join appends the findings u gathered (numbered from 0 in u) to t's, as
// if t had gathered them after its own.
func (t *Table) join(u *Table) {
	base := int32(t.n)
	rowBase := uint32(len(t.rowChunks)) * rowChunk
	if len(u.rowChunks) > math.MaxUint32/rowChunk-1-len(t.rowChunks) {
		panic("report: the kept rows' chunks overflow") // the budgets keep them far below
	}
	for _, at := range u.rowAt {
		if at != noRow {
			at += rowBase
		}
		t.rowAt = append(t.rowAt, at)
	}
	t.rowChunks = append(t.rowChunks, u.rowChunks...)
	t.rowBytes += u.rowBytes
	for _, nx := range u.next {
		if nx >= 0 {
			nx += base
		}
		t.next = append(t.next, nx)
	}
	if t.group == nil {
		t.group = map[string]int{}
	}
	remap := make([]int, len(u.groups))
	for ui := range u.groups {
		ug := u.groups[ui]
		ug.first += base
		ug.last += base
		gi, ok := t.group[strings.ToLower(ug.host)]
		remap[ui] = gi
		if !ok { // a host t has not seen: a table after t's
			remap[ui] = len(t.groups)
			t.group[strings.ToLower(ug.host)] = len(t.groups)
			t.groups = append(t.groups, ug)
			continue
		}
		g := &t.groups[gi]
		t.next[g.last] = ug.first
		g.last = ug.last
		g.n += ug.n
		g.widen(&ug)
	}
	for h, ui := range u.group {
		t.group[h] = remap[ui]
	}
	if u.n > 0 {
		t.last, t.lastG = u.last, remap[u.lastG]
	}
	t.n += u.n
}

// groupOf returns the index of host h's group (hosts are grouped without
// regard to case), making it if there is none.
func (t *Table) groupOf(h string) int {
	g, ok := t.group[h] // exact spelling first: no lower-casing for most
	if !ok {
		lh := strings.ToLower(h)
		if g, ok = t.group[lh]; !ok {
			g = len(t.groups)
			ng := tableGroup{host: h, frameMany: int32(len(tableHeader[frameCol]))}
			for i, name := range tableHeader {
				ng.width[i] = int32(len(name)) // ASCII headers, upper-cased by tablewriter: same width
			}
			t.groups = append(t.groups, ng)
			t.group[lh] = g
		}
		t.group[h] = g
	}
	return g
}

var severityColor = map[rules.Severity]string{
	rules.Critical: "\x1b[1;35m", rules.High: "\x1b[1;31m", rules.Medium: "\x1b[33m", rules.Low: "\x1b[36m", rules.Info: "\x1b[2m",
}

// tableHeader is the header row of every host's table.
var tableHeader = []string{"Severity", "Rule", "Cookie", "Value", "Frame", "Request", "Framework", "N"}

const (
	tableCols = 8
	frameCol  = 4 // the column that depends on the number of files
)

// colorSeverity is each severity's cell in colour.
var colorSeverity = func() map[rules.Severity]string {
	m := map[rules.Severity]string{}
	for sev, c := range severityColor {
		m[sev] = c + sev.String() + "\x1b[0m"
	}
	return m
}()

// Close renders the findings and the summary.
func (t *Table) Close(s Summary, fs Findings) error {
	if t.n != fs.Len() { // Write was not given them: gather them now
		t.n, t.groups, t.group, t.next = 0, nil, nil, nil
		t.rowChunks, t.rowAt, t.rowBytes = nil, nil, 0
		rd, _ := tableReaders(fs)
		for i := range rd.Len() {
			t.gather(rd.At(i))
		}
	}
	if t.r == nil {
		t.r = newTableRenderer()
	}
	if err := t.writeTables(len(s.Files) > 1, fs); err != nil {
		return err
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

// tablePart is a run of rows of one host's table (its heading and frame
// with its first rows, the bottom border with its last), rendered at once.
type tablePart struct {
	g          int32 // group
	first, n   int32 // finding of its first row, and rows
	head, foot bool
}

// tablePartRows is the most rows in a part: some 60 KB of text.
const tablePartRows = 256

// parallelFrom is the number of findings from which two goroutines
// render the tables, parts in turn (each decodes its own findings).
var parallelFrom = 4096 // a variable: tests lower it

// writeTables writes every host's table: its heading, then the table,
// written into the frame of its columns' widths (or by tablewriter, for a
// table with a cell it would change).
//
// The tables are cut into parts of at most tablePartRows rows. When fs
// can be read by two goroutines at once (a rules.Sorted through a Reader
// of its own, or a List) and is large, a second goroutine renders every
// other part while this one renders the others and writes all of them in
// order: reading and rendering the rows is most of what the table costs,
// and the run's serial tail has the second core to itself. At most
// tableBuffers parts wait to be written.
func (t *Table) writeTables(multi bool, fs Findings) error {
	widths := make([][tableCols]int, len(t.groups))
	frames := make([]frame, len(t.groups))
	whole := make([]bool, len(t.groups))
	var parts []tablePart
	for gi := range t.groups {
		g := &t.groups[gi]
		for i, n := range g.width {
			widths[gi][i] = int(n)
		}
		whole[gi] = g.whole || g.wholeOne
		if multi {
			widths[gi][frameCol], whole[gi] = int(g.frameMany), g.whole || g.wholeMany
		}
		if whole[gi] { // one part: tablewriter lays it out whole
			parts = append(parts, tablePart{g: int32(gi), first: g.first, n: int32(g.n), head: true, foot: true})
			continue
		}
		fr, ok := t.r.frames[widths[gi]]
		if !ok {
			var err error
			if fr, err = t.r.frame(widths[gi]); err != nil {
				return err
			}
			t.r.frames[widths[gi]] = fr
		}
		frames[gi] = fr
		i := g.first
		for k := 0; k < g.n; k += tablePartRows {
			p := tablePart{g: int32(gi), first: i, n: int32(min(tablePartRows, g.n-k)), head: k == 0, foot: k+tablePartRows >= g.n}
			parts = append(parts, p)
			for range p.n {
				i = t.next[i]
			}
		}
	}
	render := func(p tablePart, rd Findings, rc *rowCells, out []byte) ([]byte, error) {
		g := &t.groups[p.g]
		if p.head {
			out = append(out, Safe(g.host, 80)...)
			out = append(out, '\n')
		}
		if whole[p.g] {
			var b bytes.Buffer
			err := renderWithTablewriter(&b, t.rowStrings(rd, p, multi, rc))
			return append(out, b.Bytes()...), err
		}
		fr := &frames[p.g]
		if p.head {
			out = append(out, fr.head...)
		}
		i := p.first
		if !multi {
			rc.warmed += t.warmRows(i, p.n)
		}
		var kept rowCells // a kept row's cells: its chunk's bytes
		for range p.n {
			row := &kept
			if multi || !t.keptRow(i, row) {
				row = rc
				t.row(rd.At(int(i)), multi, row)
			}
			out = appendRow(out, fr, &widths[p.g], row)
			i = t.next[i]
		}
		if p.foot {
			out = append(out, fr.foot...)
		}
		return out, nil
	}
	fs, other := tableReaders(fs)
	if other == nil || fs.Len() < parallelFrom || len(parts) < 2 {
		out := make([]byte, 0, 80<<10)
		write := func() error {
			if _, err := t.w.Write(out); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			out = out[:0]
			return nil
		}
		for _, p := range parts {
			var err error
			if out, err = render(p, fs, &t.rc, out); err != nil {
				return err
			}
			if len(out) >= 64<<10 {
				if err := write(); err != nil {
					return err
				}
			}
		}
		return write()
	}

	var rc rowCells // the second goroutine's
	return renderInTurn(len(parts), 80<<10,
		func(j int, b []byte) ([]byte, error) { return render(parts[j], fs, &t.rc, b) },
		func(j int, b []byte) ([]byte, error) { return render(parts[j], other, &rc, b) },
		func(b []byte) error {
			if _, err := t.w.Write(b); err != nil {
				return fmt.Errorf("report: %w", err)
			}
			return nil
		})
}

// tableBuffers is the most parts the second goroutine renders ahead.
const tableBuffers = 2

// tableOmits are the parts of a finding that a table does not show
// (rules.Omit): its readers of a rules.Sorted leave them out.
const tableOmits = rules.OmitHead | rules.OmitAttrs | rules.OmitLine | rules.OmitAddrs | rules.OmitTimes

// tableReaders returns a reader of fs for a table, and a second one that
// another goroutine can use at once (nil when fs has none): readers of a
// rules.Sorted of their own that leave out tableOmits, which was some
// half of decoding a finding (BenchmarkRender/table on the 1 GB capture),
// and fs itself otherwise.
func tableReaders(fs Findings) (Findings, Findings) {
	if x, ok := fs.(*rules.Sorted); ok {
		return x.Omitting(tableOmits), x.Omitting(tableOmits)
	}
	return fs, concurrentReader(fs)
}

// concurrentReader returns a reader of fs that a goroutine can use while
// another reads fs, or nil when fs has none.
func concurrentReader(fs Findings) Findings {
	switch x := fs.(type) {
	case List:
		return x // a slice: read by any number at once
	case *rules.Sorted:
		return x.Reader()
	}
	return nil
}

// rowStrings returns the cells of p's rows, for tablewriter.
func (t *Table) rowStrings(fs Findings, p tablePart, multi bool, rc *rowCells) [][tableCols]string {
	out := make([][tableCols]string, p.n)
	i := p.first
	for k := range out {
		t.row(fs.At(int(i)), multi, rc)
		for c := range out[k] {
			out[k][c] = string(rc.cell(c))
		}
		i = t.next[i]
	}
	return out
}

// rowCells is a row's cells, one after another in b, with their display
// widths. bad has bit i set when tablewriter would change cell i (it then
// renders the table itself).
type rowCells struct {
	b   []byte
	end [tableCols]int32
	w   [tableCols]int32
	bad uint8

	warmed byte // warmRows' sums
}

func (rc *rowCells) cell(i int) []byte {
	start := int32(0)
	if i > 0 {
		start = rc.end[i-1]
	}
	return rc.b[start:rc.end[i]]
}

// doneKnown is done for a cell known to be printable ASCII when plain
// (appendSafeTail's): it is then a column a byte, and tablewriter would
// change it only for a space at either end.
func (rc *rowCells) doneKnown(i int, r *tableRenderer, plain bool) {
	if !plain {
		rc.done(i, r)
		return
	}
	start := int32(0)
	if i > 0 {
		start = rc.end[i-1]
	}
	end := int32(len(rc.b))
	rc.end[i], rc.w[i] = end, end-start
	if end > start && (rc.b[start] == ' ' || rc.b[end-1] == ' ') {
		rc.bad |= 1 << i
	}
}

// done ends cell i, the bytes b holds after cell i-1, and measures it.
func (rc *rowCells) done(i int, r *tableRenderer) {
	start := int32(0)
	if i > 0 {
		start = rc.end[i-1]
	}
	rc.end[i] = int32(len(rc.b))
	n, ok := cellWidth(r, rc.b[start:])
	rc.w[i] = int32(n)
	if !ok {
		rc.bad |= 1 << i
	}
}

// appendValue appends f's Value cell: Safe(v.String(), 48), and reports
// whether it is printable ASCII (appendSafeTail).
func appendValue(b []byte, v *rules.Value) ([]byte, bool) {
	start := len(b)
	switch {
	case v == nil:
		b = append(b, v.String()...)
	case v.Raw != "":
		b = append(b, v.Raw...)
	default:
		b = append(b, v.Fingerprint...)
		b = append(b, " ("...)
		b = strconv.AppendInt(b, int64(v.Length), 10)
		b = append(b, " bytes)"...)
	}
	return appendSafeTail(b, start, 48, false)
}

// row sets rc to the cells of f's row (multi: frames name their file).
func (t *Table) row(f *rules.Finding, multi bool, rc *rowCells) {
	r := t.r
	rc.b, rc.bad = rc.b[:0], 0
	if t.color {
		rc.b = append(rc.b, colorSeverity[f.Severity]...)
	} else {
		rc.b = append(rc.b, f.Severity.String()...) // a name, or "severity(9)"
	}
	rc.doneKnown(0, r, !t.color)
	rc.b = append(rc.b, f.Rule...)
	rc.done(1, r)
	start := len(rc.b)
	rc.b = append(rc.b, f.Cookie...)
	if f.Scheme != "" {
		rc.b = append(rc.b, " ("...)
		rc.b = append(rc.b, f.Scheme...)
		rc.b = append(rc.b, ')')
	}
	var plain bool
	rc.b, plain = appendSafeTail(rc.b, start, 32, false)
	rc.doneKnown(2, r, plain)
	rc.b, plain = appendValue(rc.b, f.Value)
	rc.doneKnown(3, r, plain)
	rc.b = appendFrame(rc.b, f, multi)
	switch {
	case multi:
		rc.done(frameCol, r)
	case len(f.Chain) <= 1:
		rc.doneKnown(frameCol, r, true) // digits, and " (cut)"
	default: // digits between arrows, and " (cut)"
		end := int32(len(rc.b))
		arrows := int32(len(f.Chain) - 1)
		rc.end[frameCol] = end
		rc.w[frameCol] = end - rc.end[frameCol-1] - arrows*int32(len("→")) + arrows*int32(r.arrow)
	}
	start = len(rc.b)
	rc.b = append(rc.b, f.Method...)
	rc.b = append(rc.b, ' ')
	rc.b = append(rc.b, f.Path...)
	if f.Direction == "response" && f.Status != 0 {
		rc.b = append(rc.b, " → "...)
		rc.b = strconv.AppendInt(rc.b, int64(f.Status), 10)
	}
	rc.b, plain = appendSafeTail(rc.b, start, 48, true)
	rc.doneKnown(5, r, plain)
	rc.b = append(rc.b, f.Framework.Name...)
	rc.done(6, r)
	rc.b = strconv.AppendInt(rc.b, int64(f.Count), 10)
	rc.doneKnown(7, r, true)
}

// appendFrame appends f's Frame cell.
func appendFrame(b []byte, f *rules.Finding, multi bool) []byte {
	switch {
	case len(f.Chain) > 1:
		b = appendChainFrames(b, f.Chain, multi) // cross-connection evidence: every link
	case multi:
		b = append(b, filepath.Base(f.File)...)
		b = append(b, ':')
		b = strconv.AppendUint(b, f.Frame, 10)
	default:
		b = strconv.AppendUint(b, f.Frame, 10)
	}
	if f.Truncated {
		b = append(b, " (cut)"...)
	}
	return b
}

// appendSafeTail makes b[start:] what Safe makes of it (of its
// strings.TrimSpace, with trim): in place when it is printable (as it
// nearly always is), with no string made. It reports whether the cell it
// made is printable ASCII (for doneKnown).
func appendSafeTail(b []byte, start, max int, trim bool) ([]byte, bool) {
	c := b[start:]
	i := printablePrefix(c)
	plain := i == len(c)
	for i < len(c) {
		if x := c[i]; x >= 0x20 && x < 0x7f {
			i++
			continue
		}
		if c[i] == 0xe2 && i+2 < len(c) && (c[i+1] == 0x86 && c[i+2] == 0x92 || c[i+1] == 0x80 && c[i+2] == 0xa6) {
			i += 3 // "→" (a response's status), "…": printable
			continue
		}
		r, n := utf8.DecodeRune(c[i:])
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			s := string(c)
			if trim {
				s = strings.TrimSpace(s)
			}
			return append(b[:start], Safe(s, max)...), false
		}
		i += n
	}
	// Printable: Safe leaves it as it is, and the only space TrimSpace
	// removes from it is ' ' (other spaces and controls are not printable).
	if trim {
		i, j := 0, len(c)
		for i < j && c[i] == ' ' {
			i++
		}
		for j > i && c[j-1] == ' ' {
			j--
		}
		if i > 0 || j < len(c) {
			b = append(b[:start], c[i:j]...) // copies forward within b: safe
			c = b[start:]
		}
	}
	if max > 0 && len(c) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(c[cut]) {
			cut--
		}
		b = append(b[:start+cut], "…"...)
		plain = false
	}
	return b, plain
}

// printablePrefix returns the length of the longest prefix of c that is
// printable ASCII (0x20 to 0x7e), read 8 bytes at a time: a word has a
// byte outside that range exactly when one of its bytes is below 0x20
// (subtracting 0x20 from each then sets a top bit, or borrows from a byte
// above, which only a byte below 0x20 does), above 0x7e (adding 1 then
// sets a top bit) or has its top bit set.
func printablePrefix(c []byte) int {
	i := 0
	for ; len(c)-i >= 8; i += 8 {
		w := binary.LittleEndian.Uint64(c[i:])
		if ((w-0x2020202020202020)|(w+0x0101010101010101)|w)&0x8080808080808080 != 0 {
			break
		}
	}
	for i < len(c) && c[i] >= 0x20 && c[i] < 0x7f {
		i++
	}
	return i
}

// tableRenderer writes host tables. tablewriter lays each table out: it
// renders the borders and the header for the columns' widths, and a row of
// placeholders from which the rows' frame is taken; the rows are then
// written into that frame, which is what tablewriter would write for them
// (TestTableRowsAsTablewriter), without its cost per cell. A table with a
// cell tablewriter would change (spaces at either end, control characters,
// several lines) is left to tablewriter whole.
type tableRenderer struct {
	tw     *tablewriter.Table // lays out frames, reused (Reset)
	buf    bytes.Buffer       // tw's output
	frames map[[tableCols]int]frame
	// drawn: frames are drawn by drawFrame, not laid out by tablewriter:
	// the first frame tablewriter laid out is the one drawFrame draws
	// (0: not known yet, 1: yes, -1: no).
	drawn    int8
	rc       rowCells // the row being written
	arrow    int      // display widths of "→" and "…", the non-ASCII text of most rows
	ellipsis int
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

// render writes one host's table of rows (Table.Close makes its rows one
// at a time, for writeTable).
func (r *tableRenderer) render(w io.Writer, rows [][tableCols]string) error {
	var widths [tableCols]int
	for i, h := range tableHeader {
		widths[i] = len(h) // ASCII headers, upper-cased by tablewriter: same width
	}
	for _, row := range rows {
		for i, c := range row {
			n, ok := r.width(c)
			if !ok {
				return renderWithTablewriter(w, rows)
			}
			widths[i] = max(widths[i], n)
		}
	}
	out, err := r.writeTable(w, nil, widths, len(rows), func(k int, rc *rowCells) {
		rc.b, rc.bad = rc.b[:0], 0
		for i, c := range rows[k] {
			rc.b = append(rc.b, c...)
			rc.done(i, r)
		}
	})
	if err != nil {
		return err
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// spaces pads cells.
var spaces = bytes.Repeat([]byte{' '}, 128)

// writeTable appends to out a table of n rows in columns of widths, row k
// made by row, and writes out to w whenever it has grown large: out is
// returned with what is left to write. The cells are written as they are:
// none may be one tablewriter would change (width's ok).
func (r *tableRenderer) writeTable(w io.Writer, out []byte, widths [tableCols]int, n int, row func(k int, rc *rowCells)) ([]byte, error) {
	fr, ok := r.frames[widths]
	if !ok {
		var err error
		if fr, err = r.frame(widths); err != nil {
			return out, err
		}
		r.frames[widths] = fr
	}
	out = append(out, fr.head...)
	rc := &r.rc
	for k := range n {
		row(k, rc)
		out = appendRow(out, &fr, &widths, rc)
		if len(out) >= 64<<10 {
			if _, err := w.Write(out); err != nil {
				return out[:0], fmt.Errorf("report: %w", err)
			}
			out = out[:0]
		}
	}
	return append(out, fr.foot...), nil
}

// appendRow appends the row of rc's cells in frame fr of columns widths:
// each cell's padding and the separator after it are one append, the end
// of fr.pad[i] (appendRow was 12.7 of the 55 million instructions of the
// table of the 100 MB benchmark capture, cachegrind).
func appendRow(out []byte, fr *frame, widths *[tableCols]int, rc *rowCells) []byte {
	out = append(out, fr.sep[0]...)
	start := int32(0)
	for i := range tableCols {
		out = append(out, rc.b[start:rc.end[i]]...)
		start = rc.end[i]
		if w := int(rc.w[i]); w <= widths[i] && len(fr.pad[i]) == widths[i]+len(fr.sep[i+1]) {
			out = append(out, fr.pad[i][w:]...)
			continue
		}
		for pad := widths[i] - int(rc.w[i]); pad > 0; pad -= len(spaces) {
			out = append(out, spaces[:min(pad, len(spaces))]...)
		}
		out = append(out, fr.sep[i+1]...)
	}
	return out
}

// width is the display width of a cell that tablewriter writes as it is
// (ok false for one it would trim, split or expand), measured as
// tablewriter measures it.
func (r *tableRenderer) width(c string) (int, bool) {
	return cellWidth(r, unsafe.Slice(unsafe.StringData(c), len(c))) // only read
}

// cellWidth is width, for a cell made in a []byte.
func cellWidth(r *tableRenderer, c []byte) (int, bool) {
	i := printablePrefix(c) // printable ASCII, most cells: a column each
	if i == len(c) {
		if i > 0 && (c[0] == ' ' || c[i-1] == ' ') {
			return 0, false // the only space of printable ASCII that strings.TrimSpace removes
		}
		return i, true
	}
	if spaceAt(c, true) || spaceAt(c, false) {
		return 0, false // strings.TrimSpace would change it
	}
	n, other := i, false
	for i < len(c) {
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
		case b == 0xe2 && i+2 < len(c) && c[i+1] == 0x86 && c[i+2] == 0x92: // "→"
			n += r.arrow
			i += 3
		case b == 0xe2 && i+2 < len(c) && c[i+1] == 0x80 && c[i+2] == 0xa6: // "…"
			n += r.ellipsis
			i += 3
		default:
			other = true
			i++
		}
	}
	if other {
		return twwidth.Width(string(c)), true
	}
	return n, true
}

// spaceAt reports whether the first (else the last) rune of the non-empty
// c is one strings.TrimSpace removes.
func spaceAt(c []byte, first bool) bool {
	b := c[len(c)-1]
	if first {
		b = c[0]
	}
	if b < utf8.RuneSelf {
		return b == ' ' || b == '\t' || b == '\n' || b == '\v' || b == '\f' || b == '\r'
	}
	var r rune
	if first {
		r, _ = utf8.DecodeRune(c)
	} else {
		r, _ = utf8.DecodeLastRune(c)
	}
	return unicode.IsSpace(r)
}

// frame is a table's layout for given column widths: everything above the
// first row, the text around each cell of a row, and everything below.
type frame struct {
	head, foot string
	sep        [tableCols + 1]string // sep[i] before cell i; sep[tableCols] ends the line
	pad        [tableCols]string     // column i's width in spaces, then sep[i+1]
}

// frame returns the frame of a table of columns widths: drawn by
// drawFrame once the first one tablewriter laid out was what drawFrame
// draws (tablewriter took some 90 us and 850 allocations a frame: 2.7 ms
// of serial time for the 1 GB capture's tables, BenchmarkRender/table's
// profile; TestDrawFrame holds drawFrame to tablewriter for many widths).
func (r *tableRenderer) frame(widths [tableCols]int) (frame, error) {
	for i, w := range widths {
		if w < len(tableHeader[i]) { // tablewriter widens the column: not drawn
			return r.layout(widths)
		}
	}
	if r.drawn > 0 {
		return drawFrame(widths), nil
	}
	fr, err := r.layout(widths)
	if err == nil && r.drawn == 0 {
		r.drawn = -1
		if drawFrame(widths) == fr {
			r.drawn = 1
		}
	}
	return fr, err
}

// drawFrame draws the frame tablewriter lays out (layout) for columns
// widths, each at least as wide as its header: box-drawing lines, the
// upper-cased headers centred (the odd space after), a space either side
// of each cell.
func drawFrame(widths [tableCols]int) frame {
	var top, head, mid, foot strings.Builder
	top.WriteString("┌")
	head.WriteString("│")
	mid.WriteString("├")
	foot.WriteString("└")
	for i, w := range widths {
		if i > 0 {
			top.WriteString("┬")
			mid.WriteString("┼")
			foot.WriteString("┴")
		}
		line := strings.Repeat("─", w+2)
		top.WriteString(line)
		mid.WriteString(line)
		foot.WriteString(line)
		h := strings.ToUpper(tableHeader[i])
		pad := w - len(h)
		head.WriteString(strings.Repeat(" ", 1+pad/2))
		head.WriteString(h)
		head.WriteString(strings.Repeat(" ", 1+pad-pad/2))
		head.WriteString("│")
	}
	top.WriteString("┐\n")
	head.WriteString("\n")
	mid.WriteString("┤\n")
	foot.WriteString("┘\n")
	fr := frame{head: top.String() + head.String() + mid.String(), foot: foot.String()}
	fr.sep[0] = "│ "
	for i := 1; i < tableCols; i++ {
		fr.sep[i] = " │ "
	}
	fr.sep[tableCols] = " │\n"
	for i, n := range widths {
		fr.pad[i] = strings.Repeat(" ", n) + fr.sep[i+1]
	}
	return fr
}

// layout has tablewriter render the header and a row of placeholders as
// wide as each column, and cuts the row into the text around its cells.
func (r *tableRenderer) layout(widths [tableCols]int) (frame, error) {
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
	for i, n := range widths {
		fr.pad[i] = strings.Repeat(" ", n) + fr.sep[i+1]
	}
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

// splitRowBudget halves t's budget of kept rows between t and a second
// Table that works beside it: t keeps the first half until restore, the
// second goes to the other. A negative budget (tests: no row kept) stays
// negative for both.
func (t *Table) splitRowBudget() (other int, restore func()) {
	budget := t.rowBudget
	if budget == 0 {
		budget = tableRowBudget
	}
	mine, other := budget, budget
	if budget > 0 {
		mine, other = budget/2, budget-budget/2
	}
	t.rowBudget = mine
	return other, func() { t.rowBudget = budget }
}
