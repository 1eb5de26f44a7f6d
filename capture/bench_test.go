//go:build unix

package capture

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// reportCPU adds the process's CPU time (user and system) per op since
// start to b: on a machine shared with other work, wall time per op
// measures the load more than the code.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/1e6/float64(b.N), "cpu-ms/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchPcap is the capture of the capture-path benchmarks
// (COOKIEWATCH_BENCH_PCAP, as in cmd/cookiewatch): without it they skip.
func benchPcap(b *testing.B) string {
	path := os.Getenv("COOKIEWATCH_BENCH_PCAP")
	if path == "" {
		b.Skip("COOKIEWATCH_BENCH_PCAP not set")
	}
	return path
}

// BenchmarkCaptureMapped: the capture side alone (mapped reading, decoding,
// reassembly; Conns that drop the bytes), one Analyzer.
func BenchmarkCaptureMapped(b *testing.B) {
	path := benchPcap(b)
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		a, err := NewAnalyzer(Config{}, nopHandler{})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.Run(f); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(a.Stats().Bytes))
		f.Close()
	}
}

// BenchmarkCaptureSplitter2: the same with a Splitter and 2 shards.
func BenchmarkCaptureSplitter2(b *testing.B) {
	path := benchPcap(b)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		f, sp := benchSplitter(b, path)
		done := make(chan Stats)
		for i := range 2 {
			go func() {
				a, err := NewAnalyzer(Config{Shard: i, Shards: 2}, nopHandler{})
				if err != nil {
					panic(err)
				}
				if err := a.Run(sp.Shard(i)); err != nil {
					panic(err)
				}
				sp.Shard(i).Done()
				done <- a.Stats()
			}()
		}
		go sp.Run()
		st := []Stats{<-done, <-done}
		sp.Close()
		f.Close()
		b.SetBytes(int64(MergeShards(st).Bytes))
	}
}

// BenchmarkSplitterWalk: the Splitter's serial walk alone (2 shards that
// only take their frames): its time per op is the floor the Splitter puts
// under a sharded run.
func BenchmarkSplitterWalk(b *testing.B) {
	path := benchPcap(b)
	defer reportCPU(b, cpuTime())
	for b.Loop() {
		f, sp := benchSplitter(b, path)
		done := make(chan uint64)
		for i := range 2 {
			go func() {
				ss := sp.Shard(i)
				var n uint64
				for {
					r, _, err := ss.nextOwn()
					n += ss.skipN
					ss.skipN, ss.skipBytes, ss.skipLast = 0, 0, 0
					if err != nil {
						break
					}
					if r != nil {
						n++
					}
				}
				ss.Done()
				done <- n
			}()
		}
		go sp.Run()
		n0, n1 := <-done, <-done
		sp.Close()
		f.Close()
		if n0 != n1 || n0 == 0 {
			b.Fatalf("shards saw %d and %d frames", n0, n1)
		}
	}
}

// benchSplitter opens path with a 2-shard Splitter; the caller closes both.
func benchSplitter(b *testing.B, path string) (*File, *Splitter) {
	f, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	sp, err := NewSplitter(f, 2)
	if err != nil {
		f.Close()
		b.Fatal(err)
	}
	return f, sp
}
