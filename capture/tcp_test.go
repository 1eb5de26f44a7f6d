package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// segFeeder sends hand-made segments of one connection (cli4 ↔ srv4)
// through an Analyzer, one frame each, and checks the page accounting after
// every one.
type segFeeder struct {
	t   testing.TB
	a   *Analyzer
	c   *capturetest.Capture
	rec *recorder
}

func newSegFeeder(t testing.TB, cfg Config) *segFeeder {
	rec := &recorder{}
	a, err := NewAnalyzer(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	return &segFeeder{t: t, a: a, c: capturetest.New(capturetest.Ethernet, time.Time{}), rec: rec}
}

// send writes one segment from the client (or the server) and returns its
// frame number.
func (f *segFeeder) send(fromClient bool, seq uint32, fl capturetest.TCPFlags, payload string) uint64 {
	src, dst := cli4, srv4
	if !fromClient {
		src, dst = srv4, cli4
	}
	f.c.Add(f.c.Frame(capturetest.IPPacket(src, dst, seq, 1, fl, []byte(payload))))
	p := f.c.Packets[len(f.c.Packets)-1]
	f.a.Packet(layers.LinkTypeEthernet, p.Data, p.CI)
	f.checkPages()
	return f.a.Frame()
}

func (f *segFeeder) checkPages() {
	f.t.Helper()
	n := 0
	for _, s := range liveStreams(f.a) {
		for i := range s.half {
			h := &s.half[i]
			if len(h.segs) >= f.a.cfg.MaxBufferedPagesPerConn {
				f.t.Fatalf("%d pages waiting in one direction, limit %d", len(h.segs), f.a.cfg.MaxBufferedPagesPerConn)
			}
			for k := 1; k < len(h.segs); k++ { // sorted, disjoint, after next
				if seqDiff(h.segs[k].seq, h.segs[k-1].end()) < 0 {
					f.t.Fatalf("waiting chunks overlap: %+v", h.segs)
				}
			}
			if len(h.segs) > 0 && seqDiff(h.segs[0].seq, h.next) <= 0 {
				f.t.Fatalf("waiting chunk at %d, next %d", h.segs[0].seq, h.next)
			}
			n += len(h.segs)
		}
	}
	if n != f.a.pages || n > f.a.cfg.MaxBufferedPagesTotal {
		f.t.Fatalf("%d pages waiting, %d counted, limit %d", n, f.a.pages, f.a.cfg.MaxBufferedPagesTotal)
	}
}

func (f *segFeeder) finish() *recorder {
	f.a.Finish()
	f.checkPages()
	if f.a.live != 0 || f.a.pages != 0 || len(f.a.conns) != 0 {
		f.t.Fatalf("after Finish: %d live, %d pages, %d in table", f.a.live, f.a.pages, len(f.a.conns))
	}
	f.rec.check(f.t.(*testing.T))
	return f.rec
}

var (
	ack = capturetest.TCPFlags{ACK: true}
	syn = capturetest.TCPFlags{SYN: true}
	fin = capturetest.TCPFlags{ACK: true, FIN: true}
	rst = capturetest.TCPFlags{ACK: true, RST: true}
)

// spansString shows the frame of each byte run: "5:10 4:10" is 10 bytes of
// frame 5 then 10 of frame 4.
func spansString(spans []Span) string {
	var merged []Span
	for _, s := range spans {
		if k := len(merged); k > 0 && merged[k-1].Frame == s.Frame {
			merged[k-1].Len += s.Len
			continue
		}
		merged = append(merged, s)
	}
	var b bytes.Buffer
	for i, s := range merged {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d:%d", s.Frame, s.Len)
	}
	return b.String()
}

func TestTCPSegments(t *testing.T) {
	const isn = 1000
	tests := []struct {
		name     string
		cfg      Config
		isn      uint32
		segs     func(f *segFeeder, isn uint32)
		ab       string // delivered A→B (the client's bytes)
		gaps     []int
		spans    string
		overruns uint64
		conflict uint64
	}{
		{name: "reorder three", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+11, ack, "cccc") // frame 2
			f.send(true, isn+6, ack, "bbbbb") // frame 3
			f.send(true, isn+1, ack, "aaaaa") // frame 4
			f.send(true, isn+15, ack, "dddd") // frame 5
		}, ab: "aaaaabbbbbccccdddd", spans: "4:5 3:5 2:4 5:4"},
		{name: "loss is a gap at the end of input", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+1, ack, "aaaaa")
			f.send(true, isn+11, ack, "ccccc")
		}, ab: "aaaaaccccc", gaps: []int{5}, spans: "2:5 3:5"},
		{name: "delivered bytes resent with others: first copy wins", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+1, ack, "aaaaa")
			f.send(true, isn+1, ack, "XXXXX")
			f.send(true, isn+4, ack, "YYbb") // partly new
		}, ab: "aaaaabb", spans: "2:5 4:2", conflict: 1},
		{name: "waiting bytes resent with others: last copy wins", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+6, ack, "bbbbb")
			f.send(true, isn+6, ack, "XXXXX")
			f.send(true, isn+1, ack, "aaaaa")
		}, ab: "aaaaaXXXXX", spans: "4:5 3:5", conflict: 1},
		{name: "overlap inside a waiting segment splits it", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+6, ack, "bbbbbbbbbb")
			f.send(true, isn+8, ack, "XXX")
			f.send(true, isn+1, ack, "aaaaa")
		}, ab: "aaaaabbXXXbbbbb", spans: "4:5 2:2 3:3 2:5"},
		{name: "overlap across waiting segments", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+6, ack, "bbbb")
			f.send(true, isn+12, ack, "cccc")
			f.send(true, isn+8, ack, "XXXXXX") // ends of b, gap, start of c
			f.send(true, isn+1, ack, "aaaaa")
		}, ab: "aaaaabbXXXXXXcc", spans: "5:5 2:2 4:6 3:2"},
		{name: "in-order bytes replace waiting ones they overlap", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+4, ack, "bbbbbb")
			f.send(true, isn+1, ack, "aaaaaaa")
		}, ab: "aaaaaaabb", spans: "3:7 2:2"},
		{name: "keep-alive probe ignored", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+1, ack, "aaaaa")
			f.send(true, isn+5, ack, "?") // probe: the last byte again
			f.send(true, isn+6, ack, "bb")
		}, ab: "aaaaabb", spans: "2:5 4:2"},
		{name: "mid-stream start", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn+100, ack, "xxxxx")
			f.send(true, isn+95, ack, "wwwww") // before the start: delivered before as far as we know
			f.send(true, isn+105, ack, "yy")
		}, ab: "xxxxxyy", spans: "1:5 3:2"},
		{name: "wraparound with reorder and retransmission across it", isn: 0xfffffff0, segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+11, ack, "bbbbbbbbbb") // crosses 0
			f.send(true, isn+1, ack, "aaaaaaaaaa")
			f.send(true, isn+11, ack, "bbbbbbbbbb") // all old now
			f.send(true, isn+16, ack, "BBBBBcc")    // partly old
		}, ab: "aaaaaaaaaabbbbbbbbbbcc", spans: "3:10 2:10 5:2"},
		{name: "FIN after a hole closes when reached", segs: func(f *segFeeder, isn uint32) {
			f.send(true, isn, syn, "")
			f.send(true, isn+6, fin, "bbbbb")
			f.send(true, isn+1, ack, "aaaaa")
			f.send(true, isn+11, ack, "late") // after the FIN: ignored
		}, ab: "aaaaabbbbb", spans: "3:5 2:5"},
		{name: "per-direction limit: a multi-page segment after a hole", cfg: Config{MaxBufferedPagesPerConn: 3},
			segs: func(f *segFeeder, isn uint32) {
				f.send(true, isn, syn, "")
				f.send(true, isn+11, ack, string(bytes.Repeat([]byte("b"), 4*pageSize))) // 4 pages
				f.send(true, isn+1, ack, "aaaaaaaaaa")                                   // old by now
			}, ab: string(bytes.Repeat([]byte("b"), 4*pageSize)), gaps: []int{10}, spans: fmt.Sprintf("2:%d", 4*pageSize), overruns: 1},
		{name: "total limit", cfg: Config{MaxBufferedPagesTotal: 2},
			segs: func(f *segFeeder, isn uint32) {
				f.send(true, isn, syn, "")
				f.send(false, 5000, syn, "")
				f.send(false, 5011, ack, "server") // one page waits
				f.send(true, isn+11, ack, "bb")    // two: the client's skips
				f.send(true, isn+1, ack, "a")      // old
				f.send(false, 5001, ack, "0123456789")
			}, ab: "bb", gaps: []int{10}, spans: "4:2", overruns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSegFeeder(t, tt.cfg)
			s := tt.isn
			if s == 0 {
				s = isn
			}
			tt.segs(f, s)
			rec := f.finish()
			st := f.a.Stats()
			if len(rec.conns) != 1 {
				t.Fatalf("%d conns", len(rec.conns))
			}
			c := rec.conns[0]
			if got := c.bytes[DirAB].String(); got != tt.ab {
				t.Errorf("delivered %q, want %q", got, tt.ab)
			}
			if fmt.Sprint(c.gaps[DirAB]) != fmt.Sprint(tt.gaps) && len(c.gaps[DirAB])+len(tt.gaps) > 0 {
				t.Errorf("gaps %v, want %v", c.gaps[DirAB], tt.gaps)
			}
			if got := spansString(c.spans[DirAB]); got != tt.spans {
				t.Errorf("spans %s, want %s", got, tt.spans)
			}
			if st.BufferOverruns != tt.overruns || st.OverlapConflicts != tt.conflict {
				t.Errorf("overruns %d, conflicts %d; want %d, %d", st.BufferOverruns, st.OverlapConflicts, tt.overruns, tt.conflict)
			}
		})
	}
}

func TestTCPRSTFlushesWaiting(t *testing.T) {
	f := newSegFeeder(t, Config{})
	f.send(true, 100, syn, "")
	f.send(true, 101, ack, "aaa")
	f.send(true, 110, ack, "ccc") // waits behind a hole
	f.send(false, 500, rst, "")
	f.send(true, 113, ack, "dd") // a new connection, mid-stream
	rec := f.finish()
	if len(rec.conns) != 2 {
		t.Fatalf("%d conns", len(rec.conns))
	}
	if got := rec.conns[0].bytes[DirAB].String(); got != "aaaccc" || fmt.Sprint(rec.conns[0].gaps[DirAB]) != "[6]" {
		t.Errorf("first conn %q gaps %v", got, rec.conns[0].gaps[DirAB])
	}
	if got := rec.conns[1].bytes[DirAB].String(); got != "dd" {
		t.Errorf("second conn %q", got)
	}
}

func TestTCPIdleFlushSkipsOldHole(t *testing.T) {
	// An active connection whose hole is never filled: at the idle flush
	// the bytes waiting longer than the timeout are delivered after a gap;
	// the connection stays open.
	f := newSegFeeder(t, Config{IdleTimeout: time.Minute})
	f.send(true, 100, syn, "")
	f.send(true, 101, ack, "aaa")
	f.send(true, 110, ack, "ccc")
	for i := 0; i < 4; i++ {
		f.c.Now = f.c.Now.Add(40 * time.Second)
		f.send(false, 900+uint32(i), ack, "s")
	}
	if len(f.rec.conns) != 1 || f.rec.conns[0].bytes[DirAB].String() != "aaaccc" || f.rec.conns[0].closes != 0 {
		t.Fatalf("before the end: %+v", f.rec.conns[0])
	}
	f.finish()
	if st := f.a.Stats(); st.ConnsIdleFlushed != 0 || st.Gaps != 1 || st.BufferOverruns != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestTCPStreamReuseNoAllocs(t *testing.T) {
	// Steady state with reordering and short connections (a new 4-tuple
	// each, closed by FINs): streams and pages come from the free lists.
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	a, err := NewAnalyzer(Config{}, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	rounds := make([][][]byte, 64)
	for i := range rounds {
		cl := netip.AddrPortFrom(cli4.Addr(), uint16(2000+i))
		mk := func(seq uint32, fl capturetest.TCPFlags, p string) []byte {
			return c.Frame(capturetest.IPPacket(cl, srv4, seq, 1, fl, []byte(p)))
		}
		rounds[i] = [][]byte{mk(100, syn, ""), c.Frame(capturetest.IPPacket(srv4, cl, 499, 101, capturetest.TCPFlags{SYN: true, ACK: true}, nil)),
			mk(106, ack, "bbbbb"), mk(101, ack, "aaaaa"), mk(111, fin, ""),
			c.Frame(capturetest.IPPacket(srv4, cl, 500, 112, fin, nil))}
	}
	ci := gopacket.CaptureInfo{Timestamp: capturetest.Start}
	i := 0
	step := func() {
		for _, fr := range rounds[i%len(rounds)] {
			ci.CaptureLength, ci.Length = len(fr), len(fr)
			a.Packet(layers.LinkTypeEthernet, fr, ci)
		}
		i++
	}
	for range 200 {
		step()
	}
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Errorf("%.1f allocations per connection", allocs)
	}
	if a.live != 0 || a.pages != 0 || a.stats.ConnsOpened != a.stats.ConnsClosed {
		t.Errorf("%d live, %d pages, %+v", a.live, a.pages, a.stats)
	}
}

// FuzzReassembly sends segments of one connection, cut from two known byte
// streams at offsets the fuzzer chooses (reordered, repeated, overlapping,
// lost, multi-page, around sequence wraparound), under small buffer limits,
// and checks after every segment that the waiting pages stay within the
// limits, and at the end that every byte delivered is the byte sent at its
// place (gaps counted), that nothing beyond what was sent is delivered, and
// that with every byte sent and no gap the streams arrive whole.
//
// Input: 1 byte of options (bit 0: handshake, bit 1: resend some ranges
// with other bytes; bits 2-7: ISN high bits, to reach the wrap), then
// records of 4 bytes: direction and size class, offset (2 bytes), length.
func FuzzReassembly(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 20, 0, 0, 40, 20, 0, 0, 20, 20})
	f.Add([]byte{0xfd, 0x80, 0, 40, 60, 0, 0, 0, 40, 1, 0, 0, 30, 0x41, 0, 10, 20})
	f.Add([]byte{3, 0, 0, 10, 10, 0, 0, 5, 10, 0, 0, 0, 12, 0x10, 0, 100, 200})
	f.Fuzz(func(t *testing.T, prog []byte) {
		if len(prog) < 1 {
			return
		}
		opt := prog[0]
		prog = prog[1:]
		var orig [2][]byte
		for d := range orig {
			orig[d] = make([]byte, 1<<16+256*32)
			for i := range orig[d] {
				orig[d][i] = byte(i*7 + i>>8 + d*101)
			}
		}
		isn := [2]uint32{uint32(opt>>2)<<26 | 0x3fffff00, 0x9000}
		const perConn, total = 4, 6
		fd := newSegFeeder(t, Config{MaxBufferedPagesPerConn: perConn, MaxBufferedPagesTotal: total})
		handshake, mutate := opt&1 != 0, opt&2 != 0
		if handshake {
			fd.send(true, isn[0], syn, "")
			fd.send(false, isn[1], capturetest.TCPFlags{SYN: true, ACK: true}, "")
		}
		var start [2]int // where each direction starts: offset of its first payload without a handshake
		started := [2]bool{handshake, handshake}
		var maxEnd [2]int
		var covered [2][]bool
		for d := range covered {
			covered[d] = make([]bool, len(orig[d]))
		}
		mutated := false
		for len(prog) >= 4 {
			d := int(prog[0] & 1)
			off := int(binary.BigEndian.Uint16(prog[1:]))
			n := int(prog[3])
			switch prog[0] >> 4 & 3 {
			case 1:
				n *= 8
			case 2:
				n *= 32 // several pages
			}
			other := mutate && prog[0]&0x40 != 0
			prog = prog[4:]
			payload := orig[d][off : off+n]
			if other && n > 0 {
				payload = append([]byte(nil), payload...)
				for i := range payload {
					payload[i] ^= 0x20
				}
				mutated = true
			}
			if !started[d] && n > 0 {
				started[d], start[d] = true, off
			}
			fd.send(d == 0, isn[d]+1+uint32(off), ack, string(payload))
			if started[d] && off+n > start[d] {
				maxEnd[d] = max(maxEnd[d], off+n)
				for i := max(off, start[d]); i < off+n; i++ {
					covered[d][i] = true
				}
			}
		}
		rec := fd.finish()
		if len(rec.conns) > 1 {
			t.Fatalf("%d conns", len(rec.conns))
		}
		if len(rec.conns) == 0 {
			return
		}
		c := rec.conns[0]
		for hd := range 2 { // the half sent by the client is DirAB when it was first or sent the SYN
			d := Dir(hd)
			if c.key.A != cli4 {
				d = 1 - d
			}
			pos := start[hd]
			whole, gaps := true, 0
			for i := start[hd]; i < maxEnd[hd]; i++ {
				whole = whole && covered[hd][i]
			}
			for _, e := range c.events {
				if e.dir != d {
					continue
				}
				if e.data == nil {
					if e.gap <= 0 {
						t.Fatalf("gap %d", e.gap)
					}
					pos += e.gap
					gaps++
					continue
				}
				if pos+len(e.data) > maxEnd[hd] {
					t.Fatalf("dir %d: bytes delivered up to %d, sent up to %d", hd, pos+len(e.data), maxEnd[hd])
				}
				if !mutated && !bytes.Equal(e.data, orig[hd][pos:pos+len(e.data)]) {
					t.Fatalf("dir %d: bytes at %d are not the ones sent there", hd, pos)
				}
				pos += len(e.data)
			}
			if whole && gaps == 0 && !mutated && c.bytes[d].Len() != maxEnd[hd]-start[hd] {
				t.Fatalf("dir %d: every byte sent, no gap, %d delivered of %d", hd, c.bytes[d].Len(), maxEnd[hd]-start[hd])
			}
		}
	})
}

// TestFlowCacheSharedSlot: connections whose keys share a slot of the flow
// cache (Analyzer.flows), interleaved segment by segment, each get their
// own bytes; a connection that ended and one that starts again on its
// 4-tuple are two Conns, also for the all-zero key (a forgotten stream
// whose slot were left set would match it once recycled, its key zeroed).
func TestFlowCacheSharedSlot(t *testing.T) {
	var clients []netip.AddrPort
	want := flowSlot(&connKey{})
	for p := 1; p < 1<<16 && len(clients) < 4; p++ {
		cli := netip.AddrPortFrom(cli4.Addr(), uint16(p))
		c := capturetest.New(capturetest.Ethernet, time.Time{})
		c.Add(c.Frame(capturetest.IPPacket(cli, srv4, 1, 1, ack, nil)))
		d := newDecoder(0)
		if d.decode(layers.LinkTypeEthernet, c.Packets[0].Data, c.Packets[0].CI) != "" {
			t.Fatal("test frame not decoded")
		}
		k, _ := d.key()
		if len(clients) == 0 {
			want = flowSlot(&k)
		}
		if flowSlot(&k) == want {
			clients = append(clients, cli)
		}
	}
	if len(clients) < 4 {
		t.Fatalf("found %d clients sharing a slot", len(clients))
	}
	zero := netip.AddrPortFrom(netip.IPv4Unspecified(), 0)

	c := capturetest.New(capturetest.Ethernet, time.Time{})
	rec := &recorder{}
	a, err := NewAnalyzer(Config{}, rec)
	if err != nil {
		t.Fatal(err)
	}
	var conns []*capturetest.Conn
	for _, cli := range clients {
		conns = append(conns, c.Conn(cli, srv4, capturetest.ConnOptions{}))
	}
	wantBytes := map[string]string{}
	for round := range 3 {
		for i, cn := range conns {
			msg := fmt.Sprintf("conn %d round %d;", i, round)
			cn.Send(true, []byte(msg))
			wantBytes[clients[i].String()] += msg
		}
	}
	for _, cn := range conns {
		cn.FIN(true)
		cn.FIN(false)
	}
	// the 4-tuple of the first connection again, and two on the zero key
	again := c.Conn(clients[0], srv4, capturetest.ConnOptions{})
	again.Send(true, []byte("again"))
	z1 := c.Conn(zero, zero, capturetest.ConnOptions{NoHandshake: true})
	z1.Send(true, []byte("zero one"))
	z1.RST(true) // both directions are one (the endpoints are equal): only RST ends it
	z2 := c.Conn(zero, zero, capturetest.ConnOptions{NoHandshake: true})
	z2.Send(true, []byte("zero two"))
	feed(a, c)
	a.Finish()
	rec.check(t)
	if st := a.Stats(); st.ConnsOpened != uint64(len(clients)+3) || a.live != 0 || len(a.conns) != 0 {
		t.Fatalf("opened %d conns (want %d), %d live, %d in the table", st.ConnsOpened, len(clients)+3, a.live, len(a.conns))
	}
	var got []string
	for i, rc := range rec.conns {
		b := rc.bytes[DirAB].String()
		switch {
		case i < len(clients):
			if w := wantBytes[rc.key.A.String()]; b != w {
				t.Errorf("conn %v: %q, want %q", rc.key, b, w)
			}
		default:
			got = append(got, b)
		}
	}
	if fmt.Sprint(got) != "[again zero one zero two]" {
		t.Errorf("later conns %q", got)
	}
}

// TestConnKeyEq: eq agrees with == on keys that differ in any one byte of
// any field (and on equal ones), so no field is left out of its compare.
func TestConnKeyEq(t *testing.T) {
	base := connKey{loPort: 80, hiPort: 51000, v6: true}
	for i := range base.lo {
		base.lo[i], base.hi[i] = byte(i), byte(100+i)
	}
	var variants []connKey
	for i := range 16 {
		k := base
		k.lo[i] ^= 1
		variants = append(variants, k)
		k = base
		k.hi[i] ^= 0x80
		variants = append(variants, k)
	}
	k := base
	k.loPort++
	variants = append(variants, k)
	k = base
	k.hiPort ^= 0x100
	variants = append(variants, k)
	k = base
	k.v6 = false
	variants = append(variants, k)
	k = base
	k.lo, k.hi, k.loPort, k.hiPort = base.hi, base.lo, base.hiPort, base.loPort
	variants = append(variants, k, base)
	for i := range variants {
		for j := range variants {
			a, b := variants[i], variants[j]
			if got, want := a.eq(&b), a == b; got != want {
				t.Errorf("variants %d and %d: eq %v, == %v", i, j, got, want)
			}
		}
	}
}

// TestTCPNoStreamForBareSegments: a segment with neither SYN nor data on
// no tracked connection starts none. A closed connection's last ACK (and a
// FIN or RST repeated after it) used to leave a stream in the table until
// the idle flush, two minutes of capture time, counted against MaxConns;
// the ACKs of a connection the capture joined late start nothing either,
// and the connection starts at its first byte, its sender becoming A.
func TestTCPNoStreamForBareSegments(t *testing.T) {
	f := newSegFeeder(t, Config{})
	f.send(true, 100, syn, "")
	f.send(false, 500, capturetest.TCPFlags{SYN: true, ACK: true}, "")
	f.send(true, 101, ack, "GET / HTTP/1.1\r\n\r\n")
	f.send(true, 119, fin, "")
	f.send(false, 501, fin, "")
	f.send(true, 120, ack, "") // the last ACK
	if f.a.live != 0 || len(f.a.conns) != 0 {
		t.Fatalf("after the last ACK: %d live, %d in table; want 0, 0", f.a.live, len(f.a.conns))
	}
	f.send(false, 501, fin, "") // a FIN repeated
	f.send(true, 120, rst, "")  // and a RST
	if f.a.live != 0 || len(f.a.conns) != 0 || f.a.stats.Streams != 1 || f.a.stats.Untracked != 3 {
		t.Fatalf("after the close: %d live, %d in table, %d streams, %d untracked; want 0, 0, 1, 3",
			f.a.live, len(f.a.conns), f.a.stats.Streams, f.a.stats.Untracked)
	}
	// Joined late: the client's bare ACKs first, then the server's bytes.
	f.send(true, 7000, ack, "")
	f.send(true, 7000, ack, "")
	if f.a.live != 0 {
		t.Fatalf("bare ACKs of an unknown connection: %d live, want 0", f.a.live)
	}
	f.send(false, 9000, ack, "HTTP/1.1 200 OK\r\n\r\n")
	f.send(true, 7000, ack, "")
	if f.a.live != 1 || f.a.stats.Untracked != 5 {
		t.Fatalf("after the server's bytes: %d live, %d untracked; want 1, 5", f.a.live, f.a.stats.Untracked)
	}
	rec := f.finish()
	if len(rec.conns) != 2 {
		t.Fatalf("%d connections opened, want 2", len(rec.conns))
	}
	late := rec.conns[1]
	if late.key.A != srv4 || late.bytes[DirAB].String() != "HTTP/1.1 200 OK\r\n\r\n" {
		t.Errorf("late connection: A %v, A's bytes %q; want the server %v and its response", late.key.A, late.bytes[DirAB].String(), srv4)
	}
}
