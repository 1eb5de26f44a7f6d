package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// analyze reads every input file in turn (one capture.Analyzer per file and
// worker, so frame numbers restart per file as in Wireshark) and returns the
// summary and the findings in report order (a rules.Sorted, which decodes
// them one at a time from the aggregator's store: they are never all
// built at once, but for HTML and --explain). The summary's counts of the
// findings, each host's included, are left to the reader of the findings
// (writeAll), which makes them in its own pass. A truncated file is a
// warning, not an error: every packet before the cut is analysed.
//
// With several workers, each handles the connections of its shard
// (capture.Config.Shards: a symmetric flow hash) with its own Analyzer and
// parsers, reading the frames from a capture.Splitter (mapped pcap files) or
// the whole file itself; they add their findings to the run's aggregator
// under a lock (one copy of each finding, whichever worker saw it; an
// occurrence that only folds is folded before it is built, pipeline.fold),
// as the correlation goroutine adds its own, and their counts are merged
// after the file. The findings do not depend on the
// number of workers (rules.Aggregator keeps the earliest occurrence as
// evidence, whatever the order of the calls). Standard input is read by one
// worker.
func analyze(cfg config, stderr io.Writer) (report.Summary, *rules.Sorted, error) {
	var sum report.Summary
	agg := &rules.Aggregator{Each: cfg.each}
	ccfg := cfg.correlate
	ccfg.Classifier = cfg.opts.Classifier
	cc, err := correlate.New(ccfg)
	if err != nil {
		return sum, nil, err
	}
	// The correlator's findings go straight into the run's aggregator,
	// under the lock the workers add theirs with: through an aggregator of
	// its own they were merged after the workers, decoded and added again
	// (6,310 findings of the 1 GB benchmark capture; Merge and End took
	// 23-99 ms, median 33, End alone now 15-34, median 20: 6 runs each,
	// loaded machine). The findings are those of any order of the adds:
	// cross-connection rules are not the workers' (no key is both's, no
	// finding of one ties with one of the other in report order), and the
	// correlator's own adds keep their order (TestCorrelationSharedAggregator).
	// The lock is hardly more contended: of the workers' 139,560 takings
	// per run, 42-184 found it held with the correlator sharing it,
	// 121-284 without (4 runs each, temporary counters).
	p := newPipeline(cfg, agg)
	p.aggMu, p.aggLen = new(sync.Mutex), new(atomic.Int64)
	corr := &correlation{c: cc, agg: agg, aggMu: p.aggMu}
	if p.keys, err = loadKeys(cfg.keylog, cfg.files); err != nil {
		return sum, nil, err
	}
	var cstats capture.Stats
	for _, path := range cfg.files {
		workers := max(1, cfg.workers)
		if path == "-" {
			workers = 1
		}
		name := path
		if n, ok := cfg.stdin.(interface{ CaptureName() string }); ok && path == "-" {
			name = n.CaptureName() // an embedded capture (cookiewatch demo)
		}
		sum.Files = append(sum.Files, name)
		chs := make([]chan corrEvent, workers)
		for i := range chs {
			chs[i] = make(chan corrEvent, 256)
		}
		merged := make(chan struct{})
		go func() {
			corr.merge(chs)
			close(merged)
		}()
		split, splitFile := openSplitter(cfg, path, workers)
		res := make([]shardResult, workers)
		var wg sync.WaitGroup
		for i := range res {
			sp := p // one worker: the run's own pipeline
			if workers > 1 {
				sp = newPipeline(cfg, agg)
				sp.keys, sp.aggMu, sp.aggLen = p.keys, p.aggMu, p.aggLen
			}
			sp.file = name
			sp.feed = &feed{ch: chs[i]}
			sc := capture.Config{}
			if workers > 1 {
				sc = capture.Config{Shard: i, Shards: workers}
				res[i].p = sp
			}
			var ss *capture.ShardSource
			if split != nil {
				ss = split.Shard(i)
			}
			wg.Go(func() { res[i].run(cfg, path, sc, sp, ss) })
		}
		if split != nil {
			go split.Run()
		}
		wg.Wait()
		if split != nil {
			split.Close()
			splitFile.Close()
		}
		<-merged
		var shardStats []capture.Stats
		for i, r := range res {
			if r.open != nil {
				return sum, nil, r.open
			}
			shardStats = append(shardStats, r.stats)
			if r.p != nil {
				p.merge(r.p)
				res[i].p = nil
			}
		}
		cstats.Add(capture.MergeShards(shardStats))
		err := res[0].err // every shard read the same frames: the same error
		if errors.Is(err, capture.ErrTruncated) {
			sum.Warnings = append(sum.Warnings, fmt.Sprintf("%v (findings before the cut are reported)", err))
		} else if err != nil {
			return sum, nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	corr.add(cc.End())
	p.occurrences += corr.occurrences
	fillSummary(&sum, cstats, p)
	fs := agg.Release() // the aggregator is not used again: its store moves to fs, which decodes one finding at a time
	sum.Findings = fs.Len()
	// Each host's findings are counted where the findings are next read
	// (writeAll), not in a pass of their own here.
	sum.Hosts = hostRows(cc, report.List(nil))
	sum.Correlation = correlationSummary(cc)
	sum.TLSDecryption = tlsSummary(p)
	return sum, fs, nil
}

// openSplitter opens path for a capture.Splitter when several workers can
// share one reading of it: a classic pcap file that is mapped into memory,
// with no BPF filter and no progress bar (those read the usual way, each
// worker reading the whole file). It returns nil, nil otherwise (also when
// the file does not open: the workers report that).
func openSplitter(cfg config, path string, workers int) (*capture.Splitter, *capture.File) {
	if workers < 2 || path == "-" || cfg.capture.Filter != "" || cfg.progress != nil {
		return nil, nil
	}
	f, err := capture.Open(path)
	if err != nil {
		return nil, nil
	}
	s, err := capture.NewSplitter(f, workers)
	if err != nil {
		f.Close()
		return nil, nil
	}
	return s, f
}

// shardResult is what one worker's run over one file gives.
type shardResult struct {
	stats capture.Stats
	err   error     // from Analyzer.Run
	open  error     // opening the file or making the Analyzer: the run did not start
	p     *pipeline // the worker's pipeline (nil: the caller's own)
}

// run runs one Analyzer over path with the shard settings of sc, feeding
// p, and closes p's correlation feed when done.
func (r *shardResult) run(cfg config, path string, sc capture.Config, p *pipeline, ss *capture.ShardSource) {
	defer close(p.feed.ch)
	if ss != nil {
		defer ss.Done()
	}
	var src capture.Source
	var err error
	switch {
	case ss != nil:
		src = ss
	case path == "-":
		src, err = capture.NewReader(p.file, cfg.stdin)
	case sc.Shard == 0:
		src, err = openCapture(path, cfg.progress, p.aggLen) // progress.go: one worker draws the bar
	default:
		src, err = capture.Open(path)
	}
	if err != nil {
		r.open = err
		return
	}
	if f, ok := src.(*capture.File); ok {
		defer f.Close()
	}
	acfg := cfg.capture
	acfg.Shard, acfg.Shards = sc.Shard, sc.Shards
	acfg.Progress = p.feed.mark
	a, err := capture.NewAnalyzer(acfg, p)
	if err != nil {
		r.open = err
		return
	}
	p.feed.frame = a.Frame
	r.err = a.Run(src)
	r.stats = a.Stats()
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
	skipped["tcp-buffer-overrun"] += cs.BufferOverruns           // gaps forced by the reassembly buffer limits
	skipped["tcp-conns-evicted"] += cs.ConnsOverLimit            // closed early, least recently active first, over --max-conns
	skipped["tcp-overlap-conflict"] += cs.OverlapConflicts       // a segment's range resent with other bytes (evasion)
	skipped["ipv4-fragments-discarded"] += cs.FragmentsDiscarded // bad, timed out or over --max-fragment-bytes
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
