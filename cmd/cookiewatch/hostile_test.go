package main

// Adversarial captures, built in code (issue 7). Each test feeds a hostile
// part between two ordinary exchanges and checks: the run ends, the heap held
// while the hostile state is live stays under a bound derived from the
// configured limits, the counters say what was dropped and why, and findings
// before and after the hostile part are still reported.
//
// Memory is measured as HeapAlloc after runtime.GC() (bytes reachable), at
// the point where the hostile state is largest, minus the same measure
// before the run. Frames are generated on the fly and dropped after use, so
// the capture itself is not counted.

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// harness runs the pipeline of analyze on frames handed to it one by one.
type harness struct {
	t    *testing.T
	p    *pipeline
	a    *capture.Analyzer
	corr *correlation
	ch   chan corrEvent
	done chan struct{}
	c    *capturetest.Capture // frames are built here and fed by flush
	base uint64
	peak uint64
	n    int // frames fed
}

func newHarness(t *testing.T, cfg config) *harness {
	t.Helper()
	agg := &rules.Aggregator{Each: true}
	ccfg := cfg.correlate
	ccfg.Classifier = cfg.opts.Classifier
	cc, err := correlate.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, corr: &correlation{c: cc, agg: &rules.Aggregator{Each: true}}, ch: make(chan corrEvent, 256), done: make(chan struct{}),
		c: capturetest.New(capturetest.Ethernet, time.Time{})}
	go func() {
		h.corr.merge([]chan corrEvent{h.ch})
		close(h.done)
	}()
	h.p = newPipeline(cfg, agg)
	h.p.file = "hostile.pcap"
	h.p.feed = &feed{ch: h.ch}
	acfg := cfg.capture
	acfg.Progress = h.p.feed.mark
	if h.a, err = capture.NewAnalyzer(acfg, h.p); err != nil {
		t.Fatal(err)
	}
	h.p.feed.frame = h.a.Frame
	return h
}

func heapNow() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// flush feeds the frames built so far and forgets them.
func (h *harness) flush() {
	for _, p := range h.c.Packets {
		h.a.Packet(layers.LinkTypeEthernet, p.Data, p.CI)
		h.n++
	}
	h.c.Packets = h.c.Packets[:0]
}

// frame feeds one frame at the capture's clock.
func (h *harness) frame(data []byte) {
	ci := gopacket.CaptureInfo{Timestamp: h.c.Now, CaptureLength: len(data), Length: len(data)}
	h.c.Now = h.c.Now.Add(time.Microsecond)
	h.a.Packet(layers.LinkTypeEthernet, data, ci)
	h.n++
}

// held measures the heap held now, over the baseline, and keeps the peak.
func (h *harness) held() uint64 {
	runtime.KeepAlive(h.a)
	n := heapNow()
	d := uint64(0)
	if n > h.base {
		d = n - h.base
	}
	h.peak = max(h.peak, d)
	return d
}

type outcome struct {
	sum      report.Summary
	findings []rules.Finding
	st       capture.Stats
	hs       httpparse.Stats
}

func (h *harness) finish() outcome {
	h.flush()
	h.a.Finish()
	close(h.ch)
	<-h.done
	h.corr.add(h.corr.c.End())
	h.p.occurrences += h.corr.occurrences
	h.p.agg.Merge(h.corr.agg)
	var sum report.Summary
	st := h.a.Stats()
	fillSummary(&sum, st, h.p)
	fs := h.p.agg.Findings()
	if st.ConnsOpened != st.ConnsClosed {
		h.t.Errorf("connections opened %d, closed %d", st.ConnsOpened, st.ConnsClosed)
	}
	if st.Packets != uint64(h.n) {
		h.t.Errorf("analyzer counted %d frames, fed %d", st.Packets, h.n)
	}
	return outcome{sum: sum, findings: fs, st: st, hs: h.p.hstats}
}

func (o outcome) skipped(name string) uint64 {
	for _, c := range o.sum.Skipped {
		if c.Name == name {
			return c.N
		}
	}
	return 0
}

func (o outcome) anomaly(name string) uint64 {
	for _, c := range o.sum.Anomalies {
		if c.Name == name {
			return c.N
		}
	}
	return 0
}

// hasFinding reports whether a cleartext-cookie finding for path exists.
func (o outcome) hasFinding(path string) bool {
	return slices.ContainsFunc(o.findings, func(f rules.Finding) bool {
		return f.Rule == "cleartext-cookie" && f.Path == path
	})
}

var (
	hostileClient = netip.MustParseAddrPort("10.9.0.2:40000")
	hostileServer = netip.MustParseAddrPort("192.0.2.80:80")
)

// exchange writes one complete plaintext exchange whose request sends a
// session cookie: a cleartext-cookie finding with this path.
func exchange(c *capturetest.Capture, port uint16, path string) {
	cl := netip.AddrPortFrom(hostileClient.Addr(), port)
	cn := c.Conn(cl, hostileServer, capturetest.ConnOptions{})
	cn.Send(true, []byte("GET "+path+" HTTP/1.1\r\nHost: shop.example\r\nCookie: PHPSESSID=s3cr3tv4lue\r\n\r\n"))
	cn.Send(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	cn.FIN(true)
	cn.FIN(false)
}

// bracket runs hostile between an exchange before and one after, and
// checks that both findings are reported.
func bracket(t *testing.T, cfg config, hostile func(h *harness)) outcome {
	t.Helper()
	h := newHarness(t, cfg)
	h.base = heapNow()
	exchange(h.c, 1000, "/before")
	h.flush()
	start := time.Now()
	hostile(h)
	h.flush()
	exchange(h.c, 1001, "/after")
	o := h.finish()
	if !o.hasFinding("/before") || !o.hasFinding("/after") {
		t.Errorf("findings before/after the hostile part lost: %d findings", len(o.findings))
	}
	t.Logf("%d frames in %v, peak heap held %.1f MiB; skipped %v; anomalies %v", h.n, time.Since(start).Round(time.Millisecond),
		float64(h.peak)/(1<<20), o.sum.Skipped, o.sum.Anomalies)
	return o
}

// scale is n, or n/10 with -short.
func scale(n int) int {
	if testing.Short() {
		return n / 10
	}
	return n
}

const mib = 1 << 20

func TestHostileSYNFlood(t *testing.T) {
	// A million SYNs, each from its own port and address, never answered.
	// With --max-conns 10000 the least recently active connections are
	// closed: held state stays near 10000 connections (measured about 1.5 KiB
	// each with the library's share), bound 10000 × 4 KiB.
	n := scale(1_000_000)
	const maxConns = 10_000
	var cfg config
	cfg.capture.MaxConns = maxConns
	var held uint64
	o := bracket(t, cfg, func(h *harness) {
		syn := h.c.Frame(capturetest.IPPacket(hostileClient, hostileServer, 7, 0, capturetest.TCPFlags{SYN: true}, nil))
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint16(syn[14+20:], uint16(i))       // TCP source port
			binary.BigEndian.PutUint16(syn[14+12+2:], uint16(i>>16)) // source address, low half
			h.frame(syn)
		}
		held = h.held()
	})
	if bound := uint64(maxConns * 4 << 10); held > bound {
		t.Errorf("held %d bytes after %d SYNs, bound %d", held, n, bound)
	}
	// Every SYN made a connection; all but maxConns were evicted early (the
	// "before" exchange had closed; the "after" one is not evicted).
	if got, want := o.st.Streams, uint64(n+2); got != want {
		t.Errorf("streams %d, want %d", got, want)
	}
	if got := o.skipped("tcp-conns-evicted"); got < uint64(n-maxConns) || got > uint64(n) {
		t.Errorf("tcp-conns-evicted %d, want about %d", got, n-maxConns)
	}
}

func TestHostileTinyConnections(t *testing.T) {
	// Many connections (no handshake) each sending one header line and
	// never finishing the block: each holds a partial header until it is
	// evicted or flushed, so held memory follows --max-conns, not their number.
	n := scale(1_000_000)
	const maxConns = 10_000
	var cfg config
	cfg.capture.MaxConns = maxConns
	var held uint64
	o := bracket(t, cfg, func(h *harness) {
		payload := []byte("GET /tiny HTTP/1.1\r\nHost: tiny.example\r\n")
		f := h.c.Frame(capturetest.IPPacket(hostileClient, hostileServer, 7, 1, capturetest.TCPFlags{ACK: true, PSH: true}, payload))
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint16(f[14+20:], uint16(i))
			binary.BigEndian.PutUint16(f[14+12+2:], uint16(i>>16)+1)
			h.frame(f)
		}
		held = h.held()
	})
	if bound := uint64(maxConns * 8 << 10); held > bound {
		t.Errorf("held %d bytes for %d open header blocks, bound %d", held, n, bound)
	}
	// Each partial block is emitted as a truncated request when its
	// connection is evicted or closed at the end.
	if got := o.hs.TruncatedHeaders; got != uint64(n) {
		t.Errorf("truncated headers %d, want %d", got, n)
	}
	if got := o.skipped("tcp-conns-evicted"); got < uint64(n-maxConns) {
		t.Errorf("tcp-conns-evicted %d, want at least %d", got, n-maxConns)
	}
}

// hostileConn starts a connection from port p with its handshake.
func hostileConn(h *harness, p uint16, mss int) *capturetest.Conn {
	return h.c.Conn(netip.AddrPortFrom(hostileClient.Addr(), p), hostileServer, capturetest.ConnOptions{MSS: mss})
}

func TestHostileHugeHeader(t *testing.T) {
	// A 10 MB header block after a Cookie line, then a normal request on the
	// same connection. The parser keeps at most --max-header-bytes (64 KiB):
	// the cut block is emitted truncated (its cookie reported), counted as
	// header-too-large, and the next request is found again.
	var cfg config
	var held uint64
	o := bracket(t, cfg, func(h *harness) {
		cn := hostileConn(h, 2000, 0)
		cn.Send(true, []byte("GET /huge HTTP/1.1\r\nHost: shop.example\r\nCookie: PHPSESSID=s3cr3tv4lue\r\n"))
		line := []byte("X-Pad: " + strings.Repeat("a", 1000) + "\r\n")
		blk := make([]byte, 0, 1<<20)
		for range 10 { // 10 × 1 MiB
			blk = blk[:0]
			for len(blk)+len(line) <= cap(blk) {
				blk = append(blk, line...)
			}
			cn.Send(true, blk)
			h.flush()
		}
		held = h.held()
		cn.Send(true, []byte("\r\nGET /next HTTP/1.1\r\nHost: shop.example\r\nCookie: PHPSESSID=s3cr3tv4lue\r\n\r\n"))
		cn.Send(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
	})
	if bound := uint64(4 * mib); held > bound {
		t.Errorf("held %d bytes inside a 10 MB header block, bound %d", held, bound)
	}
	if o.anomaly("header-too-large") != 1 || o.hs.TruncatedHeaders != 1 {
		t.Errorf("header-too-large %d, truncated %d, want 1 and 1", o.anomaly("header-too-large"), o.hs.TruncatedHeaders)
	}
	if !o.hasFinding("/huge") || !o.hasFinding("/next") {
		t.Errorf("cookie of the cut block or of the next request not reported")
	}
}

func TestHostileEndlessChunks(t *testing.T) {
	// A chunked response whose chunks never end (10 MB of 4 KiB chunks, no
	// last chunk), then a chunk-size line that never ends. Chunk data is
	// skipped without being kept; a size line over 4 KiB is bad-chunk-size.
	var cfg config
	var held uint64
	o := bracket(t, cfg, func(h *harness) {
		cn := hostileConn(h, 2001, 0)
		cn.Send(true, []byte("GET /chunks HTTP/1.1\r\nHost: shop.example\r\nCookie: PHPSESSID=s3cr3tv4lue\r\n\r\n"))
		cn.Send(false, []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
		chunk := []byte("1000\r\n" + strings.Repeat("z", 0x1000) + "\r\n")
		blk := make([]byte, 0, 256*len(chunk))
		for len(blk)+len(chunk) <= cap(blk) {
			blk = append(blk, chunk...)
		}
		for range 10 { // 10 × 256 chunks × 4 KiB
			cn.Send(false, blk)
			h.flush()
		}
		cn.Send(false, []byte(strings.Repeat("f", 1<<20))) // a size line without end
		h.flush()
		held = h.held()
	})
	if bound := uint64(2 * mib); held > bound {
		t.Errorf("held %d bytes in an endless chunked body, bound %d", held, bound)
	}
	if o.anomaly("bad-chunk-size") != 1 {
		t.Errorf("bad-chunk-size %d, want 1", o.anomaly("bad-chunk-size"))
	}
	if !o.hasFinding("/chunks") {
		t.Errorf("request before the endless body not reported")
	}
}

func TestHostileOneByteSegments(t *testing.T) {
	// A request sent one byte per segment is still parsed; then 1-byte
	// segments behind a hole that never fills: each costs a 1900-byte
	// page, so the per-connection limit (64 KiB here: 35 pages) forces the
	// hole to a gap again and again, and held memory stays near it.
	n := scale(200_000)
	var cfg config
	cfg.capture.MaxBufferedPagesPerConn = 64 << 10 / capture.BufferPageSize
	var held uint64
	o := bracket(t, cfg, func(h *harness) {
		cn := hostileConn(h, 2002, 1)
		cn.Send(true, []byte("GET /bytes HTTP/1.1\r\nHost: shop.example\r\nCookie: PHPSESSID=s3cr3tv4lue\r\n\r\n"))
		cn.Send(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		h.flush()
		cn2 := hostileConn(h, 2003, 0)
		h.flush()
		seq := cn2.Seq(true) + 1 // one byte never sent: a hole
		f := h.c.Frame(capturetest.IPPacket(netip.AddrPortFrom(hostileClient.Addr(), 2003), hostileServer, seq, 1, capturetest.TCPFlags{ACK: true}, []byte("x")))
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint32(f[14+20+4:], seq+uint32(2*i)) // every other byte: no two pages merge
			h.frame(f)
		}
		held = h.held()
	})
	if bound := uint64(2 * mib); held > bound {
		t.Errorf("held %d bytes after %d one-byte segments behind a hole, bound %d", held, n, bound)
	}
	if !o.hasFinding("/bytes") {
		t.Errorf("request sent in 1-byte segments not reported")
	}
	if o.skipped("tcp-buffer-overrun") == 0 {
		t.Errorf("no tcp-buffer-overrun counted")
	}
}

func TestHostileOverlapConflict(t *testing.T) {
	// The same segment sent twice with different bytes, twice: once after
	// the first copy was delivered (first copy wins: gopacket drops bytes it
	// already delivered), once while it waits behind a hole (last copy wins:
	// gopacket overwrites buffered pages). Each is an evasion attempt,
	// counted as tcp-overlap-conflict.
	req := func(v string) []byte {
		return []byte("GET /ovl HTTP/1.1\r\nHost: shop.example\r\nCookie: PHPSESSID=" + v + "\r\n\r\n")
	}
	var cfg config
	o := bracket(t, cfg, func(h *harness) {
		// delivered: segment 2 (holding the cookie value) resent as "evil"
		cn := hostileConn(h, 2004, 40)
		good, evil := req("goodgoodgoodgood"), req("evilevilevilevil")
		cn.SendWith(true, good, capturetest.SendOptions{Overlap: map[int][]byte{2: evil[40:]}})
		cn.Send(false, []byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
		// buffered: segment 1 lost at first, segment 2 sent twice, then 1
		cn2 := hostileConn(h, 2005, 40)
		seq := cn2.Seq(true)
		cn2.SendWith(true, good, capturetest.SendOptions{Lose: []int{1}, Overlap: map[int][]byte{2: evil[40:]}})
		h.c.Add(h.c.Frame(capturetest.IPPacket(netip.AddrPortFrom(hostileClient.Addr(), 2005), hostileServer, seq, 1, capturetest.TCPFlags{ACK: true}, good[:40])))
	})
	if got := o.skipped("tcp-overlap-conflict"); got != 2 {
		t.Errorf("tcp-overlap-conflict %d, want 2", got)
	}
	var vals []string
	for _, f := range o.findings {
		if f.Path == "/ovl" && f.Rule == "cleartext-cookie" {
			vals = append(vals, f.Value.Fingerprint)
		}
	}
	goodFP, evilFP := fingerprint("goodgoodgoodgood"), fingerprint("evilevilevilevil")
	if len(vals) != 2 || vals[0] != goodFP || vals[1] != evilFP {
		t.Errorf("values seen %v, want first copy (good %s) then last copy (evil %s)", vals, goodFP, evilFP)
	}
}

// fingerprint is the redacted form of a cookie value in findings.
func fingerprint(v string) string {
	return rules.NewValue(v, false).Fingerprint
}

func TestHostileFarSegments(t *testing.T) {
	// Segments far outside the window (2^30 and 2^31-1 ahead, 2^30 behind)
	// on an open connection: behind is dropped as already seen; ahead is
	// buffered within the page limits. Findings elsewhere are unaffected.
	n := scale(20_000)
	var cfg config
	cfg.capture.MaxBufferedPagesPerConn = 64 << 10 / capture.BufferPageSize
	var held uint64
	o := bracket(t, cfg, func(h *harness) {
		cn := hostileConn(h, 2006, 0)
		cn.Send(true, []byte("GET /far HTTP/1.1\r\nHost: shop.example\r\nCookie: PHPSESSID=s3cr3tv4lue\r\n\r\n"))
		h.flush()
		base := cn.Seq(true)
		f := h.c.Frame(capturetest.IPPacket(netip.AddrPortFrom(hostileClient.Addr(), 2006), hostileServer, 0, 1, capturetest.TCPFlags{ACK: true}, []byte("GET /evil HTTP/1.1\r\n\r\n")))
		for i := 0; i < n; i++ {
			off := []uint32{1 << 30, 1<<31 - 1, -(1 << 30) & 0xffffffff}[i%3]
			binary.BigEndian.PutUint32(f[14+20+4:], base+off+uint32(i/3)*64)
			h.frame(f)
		}
		held = h.held()
	})
	if bound := uint64(2 * mib); held > bound {
		t.Errorf("held %d bytes after %d far segments, bound %d", held, n, bound)
	}
	if !o.hasFinding("/far") {
		t.Errorf("request before the far segments not reported")
	}
	if o.st.Gaps == 0 {
		t.Errorf("no gap counted: far segments were not skipped to")
	}
}

// withExtHeaders inserts k IPv6 extension headers (hop-by-hop first, then
// destination options), 8 bytes each, before the TCP header of ip6.
func withExtHeaders(ip6 []byte, k int) []byte {
	out := append([]byte(nil), ip6[:40]...)
	nh := ip6[6]
	for i := 0; i < k; i++ {
		next := byte(60)
		if i == k-1 {
			next = nh
		}
		out = append(out, next, 0, 1, 4, 0, 0, 0, 0) // PadN option filling the header
	}
	if k > 0 {
		out[6] = 0
	}
	out = append(out, ip6[40:]...)
	binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
	return out
}

func TestHostileIPv6ExtensionChains(t *testing.T) {
	// A request behind 3 extension headers is decoded; chains longer than
	// the decoder's 16 are skipped as bad-ipv6, each counted, however long
	// (up to 8000 headers in a 64 KB packet).
	cli := netip.MustParseAddrPort("[2001:db8::2]:3000")
	srv := netip.MustParseAddrPort("[2001:db8::80]:80")
	var cfg config
	long := []int{17, 100, 8000}
	o := bracket(t, cfg, func(h *harness) {
		seq := uint32(100)
		send := func(k int, payload string) {
			ip := capturetest.IPPacket(cli, srv, seq, 1, capturetest.TCPFlags{ACK: true, PSH: true}, []byte(payload))
			h.c.Add(h.c.Frame(withExtHeaders(ip, k)))
			seq += uint32(len(payload))
		}
		send(3, "GET /v6 HTTP/1.1\r\nHost: shop.example\r\nCookie: PHPSESSID=s3cr3tv4lue\r\n\r\n")
		for _, k := range long {
			send(k, "GET /deep HTTP/1.1\r\nCookie: PHPSESSID=x\r\n\r\n")
		}
	})
	if !o.hasFinding("/v6") {
		t.Errorf("request behind 3 extension headers not reported")
	}
	if got := o.skipped("bad-ipv6"); got != uint64(len(long)) {
		t.Errorf("bad-ipv6 %d, want %d", got, len(long))
	}
}

// fragments splits an IPv4 packet's payload into fragments of size bytes
// (a multiple of 8), all with the IP identification id.
func fragments(ip []byte, size int, id uint16) [][]byte {
	hdr, pl := ip[:20], ip[20:]
	var out [][]byte
	for off := 0; off < len(pl); off += size {
		end := min(off+size, len(pl))
		f := append(append([]byte(nil), hdr...), pl[off:end]...)
		binary.BigEndian.PutUint16(f[2:], uint16(len(f)))
		binary.BigEndian.PutUint16(f[4:], id)
		fl := uint16(off / 8)
		if end < len(pl) {
			fl |= 0x2000 // more fragments
		}
		binary.BigEndian.PutUint16(f[6:], fl)
		out = append(out, f)
	}
	return out
}

func TestHostileIPv4Fragments(t *testing.T) {
	// A request in 560-byte fragments (ip4defrag refuses non-final ones
	// under 576 bytes), sent in reverse, is reassembled; then a flood of first fragments that never
	// complete: held state stays under --max-fragment-bytes (1 MiB here),
	// the excess discarded and counted.
	n := scale(100_000)
	var cfg config
	cfg.capture.MaxFragmentBytes = 1 * mib
	var held uint64
	o := bracket(t, cfg, func(h *harness) {
		cl := netip.AddrPortFrom(hostileClient.Addr(), 3001)
		ip := capturetest.IPPacket(cl, hostileServer, 1000, 1, capturetest.TCPFlags{ACK: true, PSH: true},
			[]byte("GET /frag HTTP/1.1\r\nHost: shop.example\r\nX-Pad: "+strings.Repeat("p", 1500)+"\r\nCookie: PHPSESSID=s3cr3tv4lue\r\n\r\n"))
		fs := fragments(ip, 560, 7)
		for i := len(fs) - 1; i >= 0; i-- {
			h.c.Add(h.c.Frame(fs[i]))
		}
		h.flush()
		big := capturetest.IPPacket(cl, hostileServer, 5000, 1, capturetest.TCPFlags{ACK: true}, make([]byte, 1400))
		first := h.c.Frame(fragments(big, 1400, 0)[0])
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint16(first[14+4:], uint16(i))      // identification
			binary.BigEndian.PutUint16(first[14+12:], uint16(i>>16)) // source address
			h.frame(first)
		}
		held = h.held()
	})
	if bound := uint64(3 * mib); held > bound {
		t.Errorf("held %d bytes after %d incomplete datagrams, bound %d", held, n, bound)
	}
	if !o.hasFinding("/frag") {
		t.Errorf("fragmented request not reported")
	}
	if o.st.Reassembled != 1 {
		t.Errorf("reassembled %d, want 1", o.st.Reassembled)
	}
	if got := o.skipped("ipv4-fragments-discarded"); got < uint64(n/2) {
		t.Errorf("ipv4-fragments-discarded %d of %d never completed", got, n)
	}
}

// writeCapture writes c as a pcap file in t's temporary directory.
func writeCapture(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestHostileFiles(t *testing.T) {
	// Whole runs through the CLI: exit status and message for each. Exit 0
	// with findings and a warning for a truncated file; exit 2 with a
	// message naming the problem for a file that is not a capture or empty.
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	exchange(c, 1000, "/before")
	// snaplen-truncated: a segment captured to 60 of its bytes
	cn := c.Conn(netip.AddrPortFrom(hostileClient.Addr(), 4000), hostileServer, capturetest.ConnOptions{})
	full := c.Frame(capturetest.IPPacket(netip.AddrPortFrom(hostileClient.Addr(), 4000), hostileServer, cn.Seq(true), 1,
		capturetest.TCPFlags{ACK: true}, []byte("GET /cut HTTP/1.1\r\nHost: shop.example\r\n\r\n")))
	c.AddTruncated(full, 60)
	c.Add(nil)                    // zero-length packet
	c.Add([]byte{0x02})           // one byte
	c.Now = c.Now.Add(-time.Hour) // timestamps going backwards by an hour
	exchange(c, 1001, "/after")
	good := c.Pcap()

	t.Run("snaplen, zero length, time backwards", func(t *testing.T) {
		findings, _, sum := jsonRun(t, writeCapture(t, "odd.pcap", good), "--each")
		paths := map[string]bool{}
		for _, f := range findings {
			paths[f["path"].(string)] = true
		}
		if !paths["/before"] || !paths["/after"] {
			t.Errorf("findings around the odd packets lost: %v", paths)
		}
		skipped := map[string]float64{}
		for _, s := range sum["skipped"].([]any) {
			m := s.(map[string]any)
			skipped[m["name"].(string)] = m["n"].(float64)
		}
		if skipped["snaplen-truncated"] != 1 || skipped["bad-ethernet"] != 2 {
			t.Errorf("skipped %v, want snaplen-truncated 1 and bad-ethernet 2 (the zero-length and 1-byte frames)", skipped)
		}
		if int(sum["packets"].(float64)) != len(c.Packets) {
			t.Errorf("packets %v, want %d", sum["packets"], len(c.Packets))
		}
	})
	t.Run("truncated in the middle of a packet", func(t *testing.T) {
		cut := len(good) - 30 // inside the last record
		last := len(good) - (16 + len(c.Packets[len(c.Packets)-1].Data))
		code, stdout, stderr := runCLI(t, nil, "-r", writeCapture(t, "cut.pcap", good[:cut]), "--format", "json", "--fail-on", "none")
		if code != exitClean {
			t.Fatalf("exit %d, want %d; stderr %q", code, exitClean, stderr)
		}
		if want := fmt.Sprintf("record at byte offset %d", last); !strings.Contains(stderr, want) || !strings.Contains(stderr, "warning") {
			t.Errorf("stderr %q does not warn %q", stderr, want)
		}
		if !strings.Contains(stdout, `"path":"/before"`) {
			t.Errorf("findings before the cut lost")
		}
	})
	for _, tt := range []struct {
		name, data, msg string
	}{
		{"not a capture", "GET / HTTP/1.1\r\n\r\n", "not a pcap or pcapng file"},
		{"empty file", "", "empty file"},
		{"header only, cut", string(good[:10]), "truncated capture file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, nil, "-r", writeCapture(t, "x.pcap", []byte(tt.data)))
			if code != exitError || !strings.Contains(stderr, tt.msg) || stdout != "" {
				t.Errorf("exit %d, stderr %q, stdout %q; want exit %d and %q", code, stderr, stdout, exitError, tt.msg)
			}
		})
	}
}
