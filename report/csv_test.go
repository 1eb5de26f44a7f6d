package report

import (
	"bytes"
	"encoding/csv"
	"strconv"
	"testing"

	"github.com/cookiewatch/cookiewatch/rules"
)

// oldCSVRow is a finding's row as CSV made it before it wrote rows itself:
// strings defused one by one, then written by encoding/csv.
func oldCSVRow(f *rules.Finding) []string {
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
		if v != "" && (v[0] == '=' || v[0] == '+' || v[0] == '-' || v[0] == '@' || v[0] == '\t' || v[0] == '\r') {
			row[i] = "'" + v
		}
	}
	return row
}

// TestCSVAsEncodingCSV: CSV writes the bytes encoding/csv wrote for the
// old rows, header and all, for sample, bench-shaped and random findings
// (text with quotes, commas, line breaks, leading spaces and formula
// characters in every field; negative numbers, zero addresses), and
// cells that are exactly `\.`.
func TestCSVAsEncodingCSV(t *testing.T) {
	fs := append(append(sampleFindings(), benchFindings(200)...), randomFindings(3000)...)
	for i, f := range fs[:300] {
		g := *f
		switch i % 6 {
		case 0:
			g.Host, g.Cookie, g.Path = `\.`, " lead", "a,b"
		case 1:
			g.Method, g.Fingerprint, g.Rule = "=cmd", `q"uote`, "\u00a0nbsp"
		case 2:
			g.CWE, g.Count, g.Frame = -3, -1, 0
		case 3:
			g.Host, g.Cookie, g.Path, g.Subject, g.File = "\rcr", "\ttab", "+plus", "@at", "-dash"
		}
		fs[i] = &g
	}
	var want bytes.Buffer
	cw := csv.NewWriter(&want)
	if err := cw.Write(CSVColumns); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if err := cw.Write(oldCSVRow(f)); err != nil {
			t.Fatal(err)
		}
	}
	cw.Flush()
	var got bytes.Buffer
	w := NewCSV(&got)
	for _, f := range fs {
		if err := w.Write(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(Summary{}, List(fs)); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		g, w := bytes.Split(got.Bytes(), []byte("\n")), bytes.Split(want.Bytes(), []byte("\n"))
		for i := range min(len(g), len(w)) {
			if !bytes.Equal(g[i], w[i]) {
				t.Fatalf("line %d:\ngot  %q\nwant %q", i, g[i], w[i])
			}
		}
		t.Fatalf("%d lines, want %d", len(g), len(w))
	}
}
