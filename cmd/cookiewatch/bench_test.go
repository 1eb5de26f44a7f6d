package main

import (
	"encoding/binary"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket/layers"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/internal/gen"
	"github.com/cookiewatch/cookiewatch/rules"
)

// BenchmarkAnalyzeFile runs the whole pipeline (every rule enabled) over a
// capture: $COOKIEWATCH_BENCH_PCAP if set (e.g. the 1 GB capture of make
// bench), else a 32 MB generated one. Profile it with -cpuprofile and
// -memprofile (docs/performance.md).
func BenchmarkAnalyzeFile(b *testing.B) { benchAnalyze(b, benchCapture(b), 0) }

// BenchmarkAnalyzeFileWorkers2 is BenchmarkAnalyzeFile with two workers (the
// default on two cores): the Splitter hands them the frames and their
// messages reach the correlator through the ordered feed (correlate.go).
func BenchmarkAnalyzeFileWorkers2(b *testing.B) { benchAnalyze(b, benchCapture(b), 2) }

// benchCapture is $COOKIEWATCH_BENCH_PCAP if set (e.g. the 1 GB capture of
// make bench), else a 32 MB capture generated in a temporary directory.
func benchCapture(b *testing.B) string {
	path := os.Getenv("COOKIEWATCH_BENCH_PCAP")
	if path != "" {
		return path
	}
	path = filepath.Join(b.TempDir(), "bench.pcap")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := gen.Generate(gen.Config{Seed: 1, Bytes: 32 << 20, Conns: 300}, f, io.Discard); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// benchAnalyze runs the analysis of path with workers (0: one, as analyze
// reads it).
func benchAnalyze(b *testing.B, path string, workers int) {
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	b.ReportAllocs()
	for b.Loop() {
		cfg := config{files: []string{path}, workers: workers}
		if _, _, err := analyze(cfg, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// keepAlive drives the whole pipeline (decode, reassembly, HTTP parsing,
// rules) with one keep-alive connection: each call of step sends a request
// packet with reqHeaders (no Cookie unless given) and a response packet
// (200, 512-byte body, respHeaders). check verifies every message was parsed.
func keepAlive(tb testing.TB, reqHeaders, respHeaders string) (step func(), check func(n int)) {
	req := []byte("GET /static/app.js HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0\r\n" +
		"Accept: */*\r\nAccept-Encoding: gzip\r\nConnection: keep-alive\r\n" + reqHeaders + "\r\n")
	resp := append([]byte("HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: application/javascript\r\n"+
		"Content-Length: 512\r\nCache-Control: max-age=3600\r\n"+respHeaders+"\r\n"), make([]byte, 512)...)
	cli, srv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("192.0.2.80:80")
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(cli, srv, capturetest.ConnOptions{})
	cn.Send(true, req)
	cn.Send(false, resp)
	if len(c.Packets) != 5 {
		tb.Fatalf("%d packets, want handshake + 2", len(c.Packets))
	}
	p, a := testPipeline(tb)
	for _, pk := range c.Packets {
		a.Packet(layers.LinkTypeEthernet, pk.Data, pk.CI)
	}
	reqPkt, respPkt := c.Packets[3], c.Packets[4]
	const seqOff = 14 + 20 + 4 // Ethernet, IPv4 without options, TCP ports
	cseq := binary.BigEndian.Uint32(reqPkt.Data[seqOff:])
	sseq := binary.BigEndian.Uint32(respPkt.Data[seqOff:])
	ci := respPkt.CI
	step = func() {
		cseq += uint32(len(req))
		sseq += uint32(len(resp))
		binary.BigEndian.PutUint32(reqPkt.Data[seqOff:], cseq)
		binary.BigEndian.PutUint32(reqPkt.Data[seqOff+4:], sseq)
		binary.BigEndian.PutUint32(respPkt.Data[seqOff:], sseq)
		binary.BigEndian.PutUint32(respPkt.Data[seqOff+4:], cseq+uint32(len(req)))
		ci.Timestamp = ci.Timestamp.Add(time.Millisecond)
		a.Packet(layers.LinkTypeEthernet, reqPkt.Data, ci)
		ci.Timestamp = ci.Timestamp.Add(time.Millisecond)
		a.Packet(layers.LinkTypeEthernet, respPkt.Data, ci)
	}
	check = func(n int) {
		a.Finish()
		if s := p.hstats; s.Requests != uint64(n+1) || s.Responses != uint64(n+1) || s.Orphans != 0 {
			tb.Fatalf("parsed %d requests, %d responses (%d orphans) for %d steps", s.Requests, s.Responses, s.Orphans, n+1)
		}
	}
	return step, check
}

// BenchmarkPacketNoCookie measures the per-packet path of the pipeline for
// messages without cookie headers; one op is a request and a response
// packet. It reports 0 allocs/op in steady state (docs/performance.md).
func BenchmarkPacketNoCookie(b *testing.B) {
	step, check := keepAlive(b, "", "")
	b.ReportAllocs()
	b.SetBytes(2*14 + 2*20 + 2*20 + 233 + 650) // frames of one op, for MB/s
	n := 0
	for b.Loop() {
		step()
		n++
	}
	b.StopTimer()
	check(n)
}

// TestNoCookieAllocs: in steady state, packets of messages without cookie
// headers allocate nothing anywhere in the pipeline; the same traffic with
// cookies does allocate (so the measurement can see allocations).
func TestNoCookieAllocs(t *testing.T) {
	for _, tt := range []struct {
		name       string
		req, resp  string
		wantAllocs bool
	}{
		{name: "no cookies", wantAllocs: false},
		{name: "cookie and set-cookie", req: "Cookie: SID=1\r\n", resp: "Set-Cookie: SID=2; Path=/\r\n", wantAllocs: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			step, check := keepAlive(t, tt.req, tt.resp)
			for range 1000 { // warm up: buffers, pools and maps reach their size
				step()
			}
			got := testing.AllocsPerRun(2000, step)
			check(1000 + 2000 + 1)
			if (got > 0) != tt.wantAllocs {
				t.Errorf("%.2f allocations per request/response pair; want allocations: %v", got, tt.wantAllocs)
			}
		})
	}
}

// testPipeline is a one-worker pipeline with its correlation merger running,
// and the Analyzer feeding it, as analyze builds them.
func testPipeline(tb testing.TB) (*pipeline, *capture.Analyzer) {
	tb.Helper()
	cc, err := correlate.New(correlate.Config{})
	if err != nil {
		tb.Fatal(err)
	}
	corr := &correlation{c: cc, agg: &rules.Aggregator{}}
	ch := make(chan corrEvent, 256)
	done := make(chan struct{})
	go func() {
		corr.merge([]chan corrEvent{ch})
		close(done)
	}()
	tb.Cleanup(func() {
		close(ch)
		<-done
	})
	p := newPipeline(config{}, &rules.Aggregator{})
	p.feed = &feed{ch: ch}
	a, err := capture.NewAnalyzer(capture.Config{Progress: p.feed.mark}, p)
	if err != nil {
		tb.Fatal(err)
	}
	p.feed.frame = a.Frame
	return p, a
}

// BenchmarkFeedMerge measures the ordered correlation feed and merge alone
// (the correlator replaced by a no-op): two workers send events at the rate
// of the 1 GB benchmark capture (about 44,600 events in 1.2 M frames, with a
// progress mark every 1,024 frames). One op is one such run; the merge's
// share of a real run is this, the correlator's own work is not included.
func BenchmarkFeedMerge(b *testing.B) {
	const (
		workers = 2
		frames  = 1_204_071
		every   = 27 // a worker sends an event every 27 frames: ~44,600 in all
	)
	cli := netip.MustParseAddrPort("10.0.0.1:1000")
	srv := netip.MustParseAddrPort("192.0.2.1:80")
	b.ReportAllocs()
	for b.Loop() {
		chs := make([]chan corrEvent, workers)
		for i := range chs {
			chs[i] = make(chan corrEvent, 256)
		}
		n := 0
		done := make(chan struct{})
		go func() {
			mergeEvents(chs, func(corrEvent) { n++ })
			close(done)
		}()
		var wg sync.WaitGroup
		for i := range workers {
			f := &feed{ch: chs[i]}
			wg.Go(func() {
				defer close(f.ch)
				var cur uint64
				f.frame = func() uint64 { return cur }
				for fr := uint64(1); fr <= frames; fr++ {
					cur = fr
					if fr%1024 == 0 {
						f.mark(fr)
					}
					if (fr+uint64(i)*13)%(every*workers) == 0 {
						f.send(corrEvent{frame: fr, client: cli, server: srv, host: "h"})
					}
				}
			})
		}
		wg.Wait()
		<-done
		if n < frames/every-workers {
			b.Fatalf("%d events merged", n)
		}
	}
}
