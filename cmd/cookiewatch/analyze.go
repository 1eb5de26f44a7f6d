package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// analyze reads every input file in turn (one capture.Analyzer per file, so
// frame numbers restart per file as in Wireshark) and returns the summary and
// the sorted findings. A truncated file is a warning, not an error: every
// packet before the cut is analysed.
func analyze(cfg config, stderr io.Writer) (report.Summary, []rules.Finding, error) {
	var sum report.Summary
	agg := &rules.Aggregator{Each: cfg.each}
	ccfg := cfg.correlate
	ccfg.Classifier = cfg.opts.Classifier
	corr, err := correlate.New(ccfg)
	if err != nil {
		return sum, nil, err
	}
	p := &pipeline{limits: cfg.limits, opts: cfg.opts, agg: agg, protos: map[httpparse.Proto]uint64{}, corr: corr}
	var cstats capture.Stats
	for _, path := range cfg.files {
		var src *capture.File
		var err error
		if path == "-" {
			if n, ok := cfg.stdin.(interface{ CaptureName() string }); ok {
				path = n.CaptureName() // an embedded capture (cookiewatch demo)
			}
			src, err = capture.NewReader(path, cfg.stdin)
		} else {
			src, err = openCapture(path, cfg.progress, agg) // progress.go
		}
		if err != nil {
			return sum, nil, err
		}
		sum.Files = append(sum.Files, path)
		p.file = path
		a, err := capture.NewAnalyzer(cfg.capture, p)
		if err != nil {
			src.Close()
			return sum, nil, err
		}
		err = a.Run(src)
		src.Close()
		cstats.Add(a.Stats())
		if errors.Is(err, capture.ErrTruncated) {
			sum.Warnings = append(sum.Warnings, fmt.Sprintf("%v (findings before the cut are reported)", err))
		} else if err != nil {
			return sum, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	p.addCorrelated(corr.End()) // rules decided at the end of input
	fillSummary(&sum, cstats, p)
	fs := agg.Findings()
	sum.Findings = len(fs)
	sum.Hosts = hostRows(corr, fs)
	sum.Correlation = correlationSummary(corr)
	return sum, fs, nil
}

func fillSummary(sum *report.Summary, cs capture.Stats, p *pipeline) {
	hs := p.hstats
	sum.Packets = cs.Packets
	sum.TCPConnections = cs.ConnsOpened
	sum.HTTPConnections = p.protos[httpparse.ProtoHTTP]
	sum.TLSConnections = p.protos[httpparse.ProtoTLS]
	sum.Requests, sum.Responses = hs.Requests, hs.Responses
	sum.Occurrences = p.occurrences
	sum.Suppressed = p.suppressed
	sum.Gaps = cs.Gaps
	sum.Fragments, sum.Reassembled = cs.Fragments, cs.Reassembled
	skipped := maps.Clone(cs.Skipped)
	if skipped == nil {
		skipped = map[string]uint64{}
	}
	// Limits that cost data are reported with the skips, never silently.
	skipped["tcp-buffer-overrun"] += cs.BufferOverruns // gaps forced by the reassembly buffer limits
	skipped["tcp-conns-over-limit"] += cs.ConnsOverLimit
	skipped["snaplen-truncated"] += cs.SnaplenTruncated
	sum.Skipped = counters(skipped)
	sum.Anomalies = counters(hs.Anomalies)
}

func counters(m map[string]uint64) []report.Counter {
	var out []report.Counter
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 0 {
			out = append(out, report.Counter{Name: k, N: m[k]})
		}
	}
	return out
}
