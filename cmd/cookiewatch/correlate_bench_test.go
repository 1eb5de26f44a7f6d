package main

import (
	"io"
	"os"
	"testing"
)

// BenchmarkAnalyzeFileWorkers2 is BenchmarkAnalyzeFile with two workers (the
// default on two cores): their messages reach the correlator through the
// ordered feed (correlate.go). It needs $COOKIEWATCH_BENCH_PCAP.
func BenchmarkAnalyzeFileWorkers2(b *testing.B) {
	path := os.Getenv("COOKIEWATCH_BENCH_PCAP")
	if path == "" {
		b.Skip("set COOKIEWATCH_BENCH_PCAP")
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		cfg := config{files: []string{path}, workers: 2}
		if _, _, err := analyze(cfg, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
