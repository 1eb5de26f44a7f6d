package main

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/rules"
)

// recordEvents runs one worker over path and returns the correlator's input
// in the order merge hands it on (the same for any number of workers).
func recordEvents(tb testing.TB, path string) []corrEvent {
	tb.Helper()
	ch := make(chan corrEvent, 256)
	var evs []corrEvent
	var keep correlate.Arena // never Reset: the batches' arenas are reused once an event is applied
	done := make(chan struct{})
	go func() {
		mergeEvents([]chan corrEvent{ch}, func(e corrEvent) {
			switch {
			case e.tls: // not from an arena
			case e.req != nil:
				e.req = keep.Request(e.req)
			case e.resp != nil:
				e.resp = keep.Response(e.resp)
			}
			evs = append(evs, e)
		})
		close(done)
	}()
	p := newPipeline(config{}, &rules.Aggregator{})
	p.file = path
	p.feed = &feed{ch: ch}
	var r shardResult
	r.run(config{}, path, capture.Config{}, p, nil)
	<-done
	if r.open != nil || r.err != nil {
		tb.Fatal(r.open, r.err)
	}
	return evs
}

// BenchmarkCorrelateReplay measures the correlation goroutine's own work
// (apply, the correlator and the folding of its findings, End) on the
// messages of a capture ($COOKIEWATCH_BENCH_PCAP, else the generated 32 MB
// one), recorded once: one op is one run's correlation. cpu-ns/op is the
// process's user and system CPU time, steadier than the wall time on a
// machine shared with other work.
func BenchmarkCorrelateReplay(b *testing.B) {
	evs := recordEvents(b, benchCapture(b))
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		cc, err := correlate.New(correlate.Config{})
		if err != nil {
			b.Fatal(err)
		}
		corr := &correlation{c: cc, agg: &rules.Aggregator{}}
		corr.sink() // as merge does
		for _, e := range evs {
			corr.apply(e)
		}
		corr.add(cc.End())
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(len(evs)), "events/op")
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkCorrelateEnd measures correlate.Correlator.End alone, with an
// aggregator as its Sink (as analyze sets it up), on the state the messages
// of a capture ($COOKIEWATCH_BENCH_PCAP, else the generated 32 MB one)
// leave: End is serial time after the workers. cpu-ns/op is the process's
// CPU time during End. The aggregator holds only the correlator's findings
// (analyze's holds the workers' too). 1 GB benchmark capture, loaded
// machine: 12.9-15.5 ms of CPU per End (18,126 values; 7,832 decisions:
// 4,518 folded, 3,314 built and added).
func BenchmarkCorrelateEnd(b *testing.B) {
	evs := recordEvents(b, benchCapture(b))
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		cc, err := correlate.New(correlate.Config{})
		if err != nil {
			b.Fatal(err)
		}
		corr := &correlation{c: cc, agg: &rules.Aggregator{}, aggMu: new(sync.Mutex)}
		corr.sink()
		for _, e := range evs {
			corr.apply(e)
		}
		b.StartTimer()
		cpu0 := cpuTime()
		corr.add(cc.End())
		cpu += cpuTime() - cpu0
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}
