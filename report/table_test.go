package report

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cookiewatch/cookiewatch/rules"
)

// TestTableRowsAsTablewriter: a host's table written into tablewriter's
// frame (tableRenderer) is byte for byte what tablewriter writes for the
// same rows, for cells of every kind the table shows and some it never
// does: empty, long, non-ASCII, wide, combining, coloured, with spaces,
// tabs or line breaks (which tablewriter renders itself).
func TestTableRowsAsTablewriter(t *testing.T) {
	pieces := []string{"", "a", "high", "cleartext-set-cookie", "sha256:0123456789ab (32 bytes)", "GET /x → 302",
		"…", "日本語", "e\u0301", "🍪", "\x1b[1;31mhigh\x1b[0m", "a  b", "\\x00", `"quoted"`, "Java servlet / Spring Boot",
		"12345678901234567890123456789012345678901234567890", "\u200b", "ｗｉｄｅ", "x\u202ey", "│", "─┼─",
		// Cells tablewriter changes: left to it.
		" lead", "trail ", "tab\there", "two\nlines", "\u00a0x", "\r"}
	const framed = 21  // pieces[:framed] only make cells the frame path takes
	var ascii []string // and these rows of printable ASCII
	for _, p := range pieces[:framed] {
		if naivePrintable(p) {
			ascii = append(ascii, p)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	fast, plainRows := 0, 0
	tr := newTableRenderer() // reused, as Close reuses it
	for n := range 1500 {
		pool := pieces
		switch n % 3 {
		case 0:
			pool = pieces[:framed]
		case 1:
			pool = ascii
		}
		rows := make([][tableCols]string, 1+rng.IntN(6))
		for r := range rows {
			for c := range rows[r] {
				k := 1 + rng.IntN(3)
				var b strings.Builder
				for range k {
					b.WriteString(pool[rng.IntN(len(pool))])
				}
				rows[r][c] = b.String()
			}
		}
		all, plain := true, true
		for _, r := range rows {
			for _, c := range r {
				n, ok := tr.width(c)
				all = all && ok
				plain = plain && n == len(c)
			}
		}
		if all {
			fast++
			if plain {
				plainRows++
			}
		}
		var got, want bytes.Buffer
		if err := tr.render(&got, rows); err != nil {
			t.Fatal(err)
		}
		if err := renderWithTablewriter(&want, rows); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("case %d: rows %q\ngot:\n%s\nwant (tablewriter):\n%s", n, rows, got.String(), want.String())
		}
	}
	if fast < 600 || plainRows < 300 {
		t.Errorf("only %d of 1500 tables took the frame path, %d of them of printable ASCII", fast, plainRows)
	}
}

// TestTableFastPathTaken: the cells findings have in practice, ANSI colours
// and arrows included, take the frame path (this test would pass either way
// otherwise).
func TestTableFastPathTaken(t *testing.T) {
	for _, c := range []string{"\x1b[1;31mhigh\x1b[0m", "GET /x → 302", "…", "sha256:0123456789ab (32 bytes)", ""} {
		if _, ok := newTableRenderer().width(c); !ok {
			t.Errorf("width(%q) not ok", c)
		}
	}
}

// TestTableCloseAlone: a table whose findings Close reads itself (live
// capture's final table) is the table of the same findings given to Write
// first, with one capture file and with several (frames then name their
// file), in colour or not, with hostile cells (tables left to tablewriter).
func TestTableCloseAlone(t *testing.T) {
	fs := List(append(benchFindings(500), sampleFindings()...))
	for i, f := range fs[:40] {
		g := *f
		switch i % 5 {
		case 0:
			g.Host, g.Cookie = "evil\x1b[2J.example", "sid\u202e"
		case 1:
			g.Path, g.Method = "/a\nb ", " GET"
		case 2:
			g.File = " lead.pcap" // a frame cell tablewriter trims, with several files
		case 3:
			g.Chain = []rules.Link{{Kind: "login", File: "x.pcap", Frame: 3}, {Kind: "request", File: "y.pcap", Frame: 9}}
		case 4:
			g.Value = &rules.Value{Length: 3, Raw: "日本語\xff"}
		}
		fs[i] = &g
	}
	for _, files := range [][]string{{"bench.pcap"}, {"bench.pcap", "second.pcap"}} {
		for _, color := range []bool{false, true} {
			sum := Summary{Files: files}
			sum.Tally(fs)
			var written, alone bytes.Buffer
			w := NewTable(&written, color)
			for _, f := range fs {
				if err := w.Write(f); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(sum, fs); err != nil {
				t.Fatal(err)
			}
			if err := NewTable(&alone, color).Close(sum, fs); err != nil {
				t.Fatal(err)
			}
			if written.String() != alone.String() {
				t.Errorf("files %v, colour %v: Close alone wrote\n%s\nwant\n%s", files, color, alone.String(), written.String())
			}
			if len(files) > 1 && !strings.Contains(written.String(), "bench.pcap:") {
				t.Errorf("files %v: frames do not name their file:\n%s", files, written.String())
			}
		}
	}
}

// TestTableTwoGoroutines: tables rendered by two goroutines, parts in
// turn, are the tables one renders, from a rules.Sorted (each goroutine
// with a reader of its own) and from a List, with hosts whose tables are
// cut into several parts, tables left to tablewriter, one file and
// several, in colour or not.
func TestTableTwoGoroutines(t *testing.T) {
	var fs List
	for i, f := range append(benchFindings(3000), sampleFindings()...) {
		g := *f
		switch {
		case i%3 == 0:
			g.Host = "big.example" // a table of some 1000 rows: several parts
		case i%97 == 0:
			g.Host, g.Path = "evil.example", "/a\nb" // left to tablewriter
		case i%89 == 0:
			g.File = "second.pcap"
		}
		fs = append(fs, &g)
	}
	agg := rules.Aggregator{Each: true}
	for _, f := range fs {
		agg.Add(*f)
	}
	sorted := agg.Release()
	defer func(n int) { parallelFrom = n }(parallelFrom)
	render := func(src Findings, files []string, color bool, from int) string {
		parallelFrom = from
		return renderTable(t, src, files, color, false, 0, nil)
	}
	for _, src := range []Findings{sorted, List(sorted.Materialise())} {
		for _, files := range [][]string{{"bench.pcap"}, {"bench.pcap", "second.pcap"}} {
			for _, color := range []bool{false, true} {
				one := render(src, files, color, 1<<30)
				two := render(src, files, color, 0)
				if one != two {
					t.Fatalf("%T, files %v, colour %v: two goroutines wrote\n%s\nwant\n%s", src, files, color, two, one)
				}
				if !strings.Contains(one, "big.example") || !strings.Contains(one, "evil.example") {
					t.Fatalf("the tables lack the hosts the test needs")
				}
			}
		}
	}
}

// TestTableWriteAll: a table given every finding at once (WriteAll, two
// goroutines gathering a half each from parallelFrom findings) is the
// table Write gives one finding at a time, with hosts spelt in several
// cases in both halves (grouped together, headed by the first spelling),
// hosts only in the second half, tables left to tablewriter, one file and
// several, from a rules.Sorted and from a List.
func TestTableWriteAll(t *testing.T) {
	var fs List
	for i, f := range append(benchFindings(3000), sampleFindings()...) {
		g := *f
		switch {
		case i > 1700 && i%7 == 0:
			g.Host = "MiXeD.eXample" // the second half's spelling of the first half's host
		case i < 1200 && i%7 == 0:
			g.Host = []string{"Mixed.Example", "mixed.example", "MIXED.example"}[i%3]
		case i%97 == 0:
			g.Host, g.Path = "evil.example", "/a\nb" // left to tablewriter
		case i%89 == 0:
			g.File = "second.pcap"
		case i > 2000 && i%11 == 0:
			g.Host = "late.example" // only in the second half
		}
		fs = append(fs, &g)
	}
	agg := rules.Aggregator{Each: true}
	for _, f := range fs {
		agg.Add(*f)
	}
	sorted := agg.Release()
	defer func(n int) { parallelFrom = n }(parallelFrom)
	render := func(src Findings, files []string, all bool) string {
		return renderTable(t, src, files, false, all, 0, nil)
	}
	for _, src := range []Findings{sorted, List(sorted.Materialise())} {
		for _, files := range [][]string{{"bench.pcap"}, {"bench.pcap", "second.pcap"}} {
			for _, from := range []int{1 << 30, 0} {
				parallelFrom = from
				one := render(src, files, false)
				all := render(src, files, true)
				if one != all {
					t.Fatalf("%T, files %v, parallelFrom %d: WriteAll wrote\n%s\nwant\n%s", src, files, from, all, one)
				}
				for _, h := range []string{"Mixed.Example", "late.example", "evil.example"} {
					n := 0
					for _, line := range strings.Split(one, "\n") {
						if strings.EqualFold(line, h) {
							n++
						}
					}
					if n != 1 {
						t.Fatalf("the tables lack host %s's table (or have several): the test needs one", h)
					}
				}
			}
		}
	}
}

// TestTableKeptRows: the rows Write keeps for Close (all, some, as the
// budget allows, or none) give the tables that rows rendered again give,
// with one file and several (whose frame cells differ: Close renders
// those again), in colour or not, one finding at a time or all at once on
// two goroutines.
func TestTableKeptRows(t *testing.T) {
	var fs List
	for i, f := range append(benchFindings(3000), sampleFindings()...) {
		g := *f
		switch {
		case i%3 == 0:
			g.Host = "big.example"
		case i%97 == 0:
			g.Host, g.Path = "evil.example", "/a\nb" // left to tablewriter
		case i%89 == 0:
			g.File = "second.pcap"
		case i%5 == 0:
			g.Path = "/é" + strings.Repeat("x", i%60) // non-ASCII, cut
		}
		fs = append(fs, &g)
	}
	agg := rules.Aggregator{Each: true}
	for _, f := range fs {
		agg.Add(*f)
	}
	sorted := agg.Release()
	defer func(n int) { parallelFrom = n }(parallelFrom)
	render := func(files []string, color, all bool, budget int) (string, int) {
		kept := 0
		out := renderTable(t, sorted, files, color, all, budget, func(w *Table) {
			for _, at := range w.rowAt {
				if at != noRow {
					kept++
				}
			}
		})
		return out, kept
	}
	for _, files := range [][]string{{"bench.pcap"}, {"bench.pcap", "second.pcap"}} {
		for _, color := range []bool{false, true} {
			parallelFrom = 1 << 30
			want, kept := render(files, color, false, -1)
			if kept != 0 {
				t.Fatalf("a negative budget kept %d rows", kept)
			}
			for _, from := range []int{1 << 30, 0} {
				parallelFrom = from
				for _, all := range []bool{false, true} {
					for _, budget := range []int{-1, 40_000, 0} {
						got, kept := render(files, color, all, budget)
						switch {
						case budget == 0 && kept != sorted.Len():
							t.Fatalf("the default budget kept %d rows of %d", kept, sorted.Len())
						case budget > 0 && (kept == 0 || kept == sorted.Len()):
							t.Fatalf("a budget of %d bytes kept %d rows of %d: the test needs some kept, some not", budget, kept, sorted.Len())
						}
						if got != want {
							t.Fatalf("files %v, colour %v, parallelFrom %d, WriteAll %v, budget %d: wrote\n%s\nwant\n%s", files, color, from, all, budget, got, want)
						}
					}
				}
			}
		}
	}
}

// TestTableStoreOrder: a rules.Sorted whose findings are stored in another
// order than report order (added shuffled) is gathered in store order
// (gatherStored), and its tables are those Write makes of the findings in
// report order: hosts of several spellings, some only in one half of
// either order, headed by the spelling of their first finding in report
// order, tables in order of their first finding, rows kept or not, frames
// of one or several files, colour or not, one goroutine or two.
func TestTableStoreOrder(t *testing.T) {
	var fs []rules.Finding
	for i, f := range append(benchFindings(3000), sampleFindings()...) {
		g := *f
		switch {
		case i%7 == 0:
			g.Host = []string{"Mixed.Example", "mixed.example", "MIXED.example", "MiXeD.eXample"}[i%4]
		case i%97 == 0:
			g.Host, g.Path = "evil.example", "/a\nb" // left to tablewriter
		case i%89 == 0:
			g.File = "second.pcap"
		case i > 2000 && i%11 == 0:
			g.Host = "late.example" // only in the last third of report order
		case i%13 == 0:
			g.Path = "/é" + strings.Repeat("x", i%60) // non-ASCII, cut
		case i%17 == 0:
			g.Chain = []rules.Link{{Kind: "login", File: g.File, Frame: g.Frame}, {Kind: "request", File: "second.pcap", Frame: g.Frame + 1}}
		}
		fs = append(fs, g)
	}
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
	agg := rules.Aggregator{Each: true}
	for _, f := range fs {
		agg.Add(f)
	}
	sorted := agg.Release()
	list := List(sorted.Materialise())
	// The test needs a host whose first finding in store order is not
	// spelt as its first in report order.
	firstStored := map[string]string{}
	for _, k := range sorted.StoreOrder() {
		h := list[k].Host
		if _, ok := firstStored[strings.ToLower(h)]; !ok {
			firstStored[strings.ToLower(h)] = h
		}
	}
	if h := firstStored["mixed.example"]; h == "" || h == list.firstHost("mixed.example") {
		t.Fatalf("mixed.example is first spelt %q in both orders: the test needs them to differ", h)
	}
	defer func(n int) { parallelFrom = n }(parallelFrom)
	render := func(src Findings, files []string, color, all bool, budget int) string {
		return renderTable(t, src, files, color, all, budget, nil)
	}
	for _, files := range [][]string{{"bench.pcap"}, {"bench.pcap", "second.pcap"}} {
		for _, color := range []bool{false, true} {
			parallelFrom = 1 << 30
			want := render(list, files, color, false, 0)
			for _, from := range []int{1 << 30, 0} {
				parallelFrom = from
				for _, budget := range []int{0, 40_000, -1} {
					if got := render(sorted, files, color, true, budget); got != want {
						t.Fatalf("files %v, colour %v, parallelFrom %d, budget %d: wrote\n%s\nwant\n%s", files, color, from, budget, got, want)
					}
				}
			}
		}
	}
}

// firstHost is the spelling of the first finding of l whose host is h
// without regard to case.
func (l List) firstHost(h string) string {
	for _, f := range l {
		if strings.EqualFold(f.Host, h) {
			return f.Host
		}
	}
	return ""
}

// TestTableRowWidths: each cell of a row is measured as cellWidth measures
// it (widths, and the cells tablewriter would change), also where row
// knows a cell to be printable ASCII without measuring it (doneKnown):
// cells with spaces at either end, controls, non-ASCII, cut, escaped;
// chains; frames of several files; severities coloured and not. The
// frame cell of several files is measured as frameManyWidth says, also
// with file names of every sort (which it often does not make).
func TestTableRowWidths(t *testing.T) {
	var fs []*rules.Finding
	odd := []string{"", " ", "x ", " x", "sid", "a\tb", "é", "日本語", "\x1b[1m", "\xff", strings.Repeat("long", 20), "→", "a\u00a0", "\u2003b"}
	for i, f := range append(benchFindings(400), sampleFindings()...) {
		g := *f
		s := odd[i%len(odd)]
		switch i % 6 {
		case 0:
			g.Cookie = s
		case 1:
			g.Value = &rules.Value{Raw: s}
		case 2:
			g.Path, g.Method = s, odd[(i/6)%len(odd)]
		case 3:
			g.Framework.Name, g.Rule = s, odd[(i/6)%len(odd)]
		case 4:
			if i%12 == 4 {
				g.Chain = []rules.Link{{File: s, Frame: 1}, {File: "b.pcap", Frame: 2}}
			}
			s = odd[(i/6)%len(odd)]
			g.File = []string{s, "dir/" + s, s + "/", "/x/" + s + ".pcap"}[(i/6/len(odd))%4]
			g.Frame = uint64(i) * 1_000_003
		case 5:
			g.Scheme, g.Severity, g.Count, g.Truncated = s, rules.Severity(i%9), -i, true
		}
		fs = append(fs, &g)
	}
	for _, color := range []bool{false, true} {
		tb := NewTable(nil, color)
		tb.r = newTableRenderer()
		for _, multi := range []bool{false, true} {
			for k, f := range fs {
				var rc rowCells
				tb.row(f, multi, &rc)
				start := len(rc.b)
				n, ok := cellWidth(tb.r, appendFrame(rc.b, f, true)[start:])
				if gn, gok := tb.frameManyWidth(f, &rc); gn != n || gok != ok || len(rc.b) != start {
					t.Fatalf("finding %d, frame of several files %q: frameManyWidth %d, %v; cellWidth %d, %v", k, appendFrame(nil, f, true), gn, gok, n, ok)
				}
				for i := range tableCols {
					n, ok := cellWidth(tb.r, rc.cell(i))
					if bad := rc.bad&(1<<i) != 0; bad == ok || ok && int(rc.w[i]) != n {
						t.Fatalf("colour %v, multi %v, finding %d, cell %d %q: width %d, bad %v; cellWidth %d, %v", color, multi, k, i, rc.cell(i), rc.w[i], bad, n, ok)
					}
				}
			}
		}
	}
}

// TestDrawFrame: drawFrame draws the frame tablewriter lays out, for the
// narrowest columns, wide ones, and many at random; a renderer draws its
// frames once the first one matched, and tables drawn so are those
// tablewriter renders (TestTableRowsAsTablewriter, which reuses one
// renderer).
func TestDrawFrame(t *testing.T) {
	r := newTableRenderer()
	var narrow [tableCols]int
	for i, h := range tableHeader {
		narrow[i] = len(h)
	}
	cases := [][tableCols]int{narrow}
	rng := rand.New(rand.NewPCG(9, 10))
	for range 300 {
		w := narrow
		for i := range w {
			w[i] += rng.IntN([]int{2, 5, 40, 300}[rng.IntN(4)])
		}
		cases = append(cases, w)
	}
	for _, w := range cases {
		want, err := r.layout(w)
		if err != nil {
			t.Fatal(err)
		}
		if got := drawFrame(w); got != want {
			t.Fatalf("widths %v: drawn\n%q\n%q\nlaid out\n%q\n%q", w, got.head, got.sep, want.head, want.sep)
		}
	}
	if _, err := r.frame(narrow); err != nil || r.drawn != 1 {
		t.Fatalf("after a first frame, the renderer draws frames %d (%v)", r.drawn, err)
	}
	short := narrow
	short[2] = 1 // narrower than its header: tablewriter widens it
	fr, err := r.frame(short)
	want, _ := r.layout(short)
	if err != nil || fr != want {
		t.Fatalf("a column narrower than its header: %q, want %q", fr.head, want.head)
	}
}

// renderTable writes src as a table with the given capture files and
// colour, through WriteAll (all) or Write one finding at a time, with the
// row budget (0: the default; negative: no row kept), calls beforeClose
// (if any) with the writer before Close, and returns the output.
func renderTable(t *testing.T, src Findings, files []string, color, all bool, budget int, beforeClose func(*Table)) string {
	t.Helper()
	sum := Summary{Files: files}
	sum.Tally(src)
	var b bytes.Buffer
	w := NewTable(&b, color)
	w.rowBudget = budget
	if all {
		if err := w.WriteAll(src); err != nil {
			t.Fatal(err)
		}
	} else {
		for i := range src.Len() {
			if err := w.Write(src.At(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if beforeClose != nil {
		beforeClose(w)
	}
	if err := w.Close(sum, src); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
