package main

import (
	"io"
	"slices"
	"testing"

	"github.com/cookiewatch/cookiewatch/report"
)

// BenchmarkRender measures writing the report of a capture in each format,
// as run writes it (writeAll), the analysis done once beforehand: the
// capture is $COOKIEWATCH_BENCH_PCAP if set (the 1 GB one of make bench
// has 54,780 findings), else a 32 MB generated one. BenchmarkAnalyzeFile
// measures the analysis without the report.
func BenchmarkRender(b *testing.B) {
	path := benchCapture(b)
	sum, fs, err := analyze(config{files: []string{path}, workers: 2}, io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("%d findings", fs.Len())
	for _, format := range []struct {
		name string
		new  func(io.Writer) findingWriter
	}{
		{"table", func(w io.Writer) findingWriter { return report.NewTable(w, false) }},
		{"json", func(w io.Writer) findingWriter { return report.NewJSONLines(w) }},
		{"csv", func(w io.Writer) findingWriter { return report.NewCSV(w) }},
		{"sarif", func(w io.Writer) findingWriter { return report.NewSARIF(w) }},
	} {
		b.Run(format.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				s := sum
				s.Hosts = slices.Clone(sum.Hosts) // writeAll counts their findings
				if err := writeAll(format.new(io.Discard), &s, fs, false, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
