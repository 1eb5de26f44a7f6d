package capture

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/reassembly"
)

// invalidSeq is reassembly's "no sequence number yet" (unexported there).
const invalidSeq reassembly.Sequence = -1

// maxSegRecords bounds the per-direction segment records kept to map stream
// bytes to frames; past it the oldest go and their bytes map to the frame
// that triggered delivery.
const maxSegRecords = 4096

// asmContext is the AssemblerContext handed to the library for every
// segment. It is one reused value: the library keeps it with buffered pages,
// so it must never be trusted for a page's own frame (segment records are).
type asmContext struct {
	ci    gopacket.CaptureInfo
	frame uint64
}

func (c *asmContext) GetCaptureInfo() gopacket.CaptureInfo { return c.ci }

// segRecord says frame carried [seq, seq+n) of one direction.
type segRecord struct {
	seq   uint32
	n     int
	frame uint64
	time  time.Time
	hash  uint64 // of the payload, for conflict checks
}

type halfState struct {
	next  uint32 // the library's next expected sequence number
	known bool
	segs  []segRecord
	// recent remembers the last segments already delivered (sequence
	// range and a hash of their bytes), so a later copy of the same range
	// with other bytes is counted as a conflict (an evasion attempt).
	recent [recentSegs]segSum
	nrec   int // entries of recent in use
	rpos   int // where the next one goes
}

// segSum is a segment's range and a hash of its bytes.
type segSum struct {
	seq, n uint32
	hash   uint64
}

// recentSegs bounds the delivered segments remembered per direction for
// conflict checks: a retransmission usually repeats one of the last few.
const recentSegs = 4

var segSeed = maphash.MakeSeed()

// stream is one library connection. It becomes a Conn (Handler.Open) only
// when its first payload byte is delivered.
type stream struct {
	a         *Analyzer
	netFlow   gopacket.Flow // as in the library's key: first packet's direction
	tcpFlow   gopacket.Flow
	half      [2]halfState // index: 0 the library's client->server, 1 server->client
	conn      Conn
	opened    bool
	closed    bool    // Close called or never to be called again
	completed bool    // ReassemblyComplete seen: the library forgot us
	lruPrev   *stream // Analyzer's list of live streams, most recently active first
	lruNext   *stream
	synSeen   bool
	aIsFirst  bool // ConnKey.A is the sender of the library's first packet
	rst       bool
	reborn    bool // a new SYN reuses the 4-tuple: close and start again
}

func hidx(d reassembly.TCPFlowDirection) int {
	if d == reassembly.TCPDirClientToServer {
		return 0
	}
	return 1
}

// seqDiff is a-b in sequence space.
func seqDiff(a, b uint32) int { return int(int32(a - b)) }

type streamFactory struct{ a *Analyzer }

func (f streamFactory) New(netFlow, tcpFlow gopacket.Flow, tcp *layers.TCP, ac reassembly.AssemblerContext) reassembly.Stream {
	a := f.a
	a.live++ // over Config.MaxConns the least recently active goes after this packet
	a.stats.Streams++
	s := &stream{a: a, netFlow: netFlow, tcpFlow: tcpFlow, aIsFirst: true}
	a.lruPush(s)
	return s
}

// lruPush puts s at the front of the live list (most recently active).
func (a *Analyzer) lruPush(s *stream) {
	s.lruPrev, s.lruNext = nil, a.lruHead
	if a.lruHead != nil {
		a.lruHead.lruPrev = s
	}
	a.lruHead = s
	if a.lruTail == nil {
		a.lruTail = s
	}
}

// lruUnlink takes s off the live list.
func (a *Analyzer) lruUnlink(s *stream) {
	if s.lruPrev != nil {
		s.lruPrev.lruNext = s.lruNext
	} else if a.lruHead == s {
		a.lruHead = s.lruNext
	}
	if s.lruNext != nil {
		s.lruNext.lruPrev = s.lruPrev
	} else if a.lruTail == s {
		a.lruTail = s.lruPrev
	}
	s.lruPrev, s.lruNext = nil, nil
}

// evictOverLimit closes the least recently active connections (delivering
// what they buffered) until at most Config.MaxConns are tracked, so a flood
// of new connections costs the idlest state, not the newest or the memory.
func (a *Analyzer) evictOverLimit() {
	for a.live > a.cfg.MaxConns && a.lruTail != nil {
		v := a.lruTail
		a.stats.ConnsOverLimit++
		a.forceClose(v)
		if a.lruTail == v { // not completed by the library: stop tracking it anyway
			a.lruUnlink(v)
			a.live--
		}
	}
}

// Accept sees every segment of the connection (also on closed halves) and
// never rejects one for checksum or state: captures are offloaded, partial
// and one-sided. It forces the start of a direction at its first payload
// segment when no SYN was seen, and records which frame carried which bytes.
func (s *stream) Accept(tcp *layers.TCP, ci gopacket.CaptureInfo, dir reassembly.TCPFlowDirection, nextSeq reassembly.Sequence, start *bool, ac reassembly.AssemblerContext) bool {
	a := s.a
	h := &s.half[hidx(dir)]
	if a.synthetic == synthNone && a.lruHead != s && !s.completed {
		a.lruUnlink(s)
		a.lruPush(s)
	}
	switch a.synthetic {
	case synthClose:
		if nextSeq == invalidSeq {
			*start = true
		} else {
			tcp.Seq = uint32(nextSeq)
		}
		return true
	case synthFlush:
		if nextSeq == invalidSeq {
			return false
		}
		tcp.Seq = uint32(nextSeq) + 1 // beyond: queued path, over the page limit
		return true
	}
	if tcp.SYN && !tcp.ACK && h.known && tcp.Seq+1 != h.next && !s.closed && s.opened {
		// A new connection on this 4-tuple while the old one lingers.
		s.reborn = true
		a.pending = s
		return false
	}
	if tcp.SYN && !tcp.ACK && !s.synSeen && !s.opened {
		s.synSeen = true
		s.aIsFirst = dir == reassembly.TCPDirClientToServer
	}
	seq := tcp.Seq
	if tcp.SYN {
		seq++
	}
	switch {
	case nextSeq != invalidSeq:
		h.next, h.known = uint32(nextSeq), true
	case tcp.SYN:
		h.next, h.known = seq, true
	case len(tcp.Payload) > 0:
		*start = true // mid-stream: begin at the first payload we see
		h.next, h.known = seq, true
	}
	if tcp.RST && !s.closed {
		s.rst = true
		a.pending = s
	}
	if n := len(tcp.Payload); n > 0 && !s.closed {
		sum := maphash.Bytes(segSeed, tcp.Payload)
		if h.conflicts(seq, n, sum) {
			a.stats.OverlapConflicts++
		}
		if h.known && seqDiff(seq+uint32(n), h.next) <= 0 {
			return true // wholly delivered before: the library drops it, nothing to map
		}
		if len(h.segs) >= maxSegRecords {
			copy(h.segs, h.segs[1:])
			h.segs = h.segs[:len(h.segs)-1]
		}
		h.segs = append(h.segs, segRecord{seq: seq, n: n, frame: a.ctx.frame, time: ci.Timestamp, hash: sum})
	}
	return true
}

// conflicts reports whether a segment of n bytes at seq with hash sum
// repeats the range of a recent segment (buffered, or among the last
// delivered) with other bytes. Only exact ranges are compared, against the
// newest records: a partial overlap is counted in OverlapBytes only.
func (h *halfState) conflicts(seq uint32, n int, sum uint64) bool {
	for i, k := len(h.segs)-1, 0; i >= 0 && k < 2*recentSegs; i, k = i-1, k+1 {
		if r := h.segs[i]; r.seq == seq && r.n == n {
			return r.hash != sum
		}
	}
	for i := 0; i < h.nrec; i++ {
		if r := h.recent[i]; r.seq == seq && r.n == uint32(n) {
			return r.hash != sum
		}
	}
	return false
}

// ReassembledSG hands in-order bytes to the Conn, preceded by a Gap when
// the library skipped some.
func (s *stream) ReassembledSG(sg reassembly.ScatterGather, ac reassembly.AssemblerContext) {
	a := s.a
	dir, _, _, skip := sg.Info()
	n, _ := sg.Lengths()
	h := &s.half[hidx(dir)]
	st := sg.Stats()
	a.stats.OverlapBytes += uint64(st.OverlapBytes)
	if n == 0 {
		return
	}
	unknown := skip == -1 && !h.known
	var first uint32
	if !unknown {
		first = h.next + uint32(skip)
	}
	data := sg.Fetch(n)
	if !unknown && skip < 0 { // bytes we already delivered: never twice
		if -skip >= n {
			return
		}
		data = data[-skip:]
		first = h.next
		skip = 0
	}
	if s.closed {
		h.next = first + uint32(len(data))
		return
	}
	if !s.opened {
		s.open()
	}
	d := DirAB
	if (dir == reassembly.TCPDirClientToServer) != s.aIsFirst {
		d = DirBA
	}
	switch {
	case unknown:
		a.stats.Gaps++
		s.conn.Gap(d, -1)
	case skip > 0:
		a.stats.Gaps++
		a.stats.GapBytes += uint64(skip)
		if a.inAssemble && a.synthetic == synthNone {
			a.stats.BufferOverruns++ // the page limit forced the skip
		}
		s.conn.Gap(d, skip)
	}
	var spans []Span
	if unknown {
		spans = append(a.spanBuf[:0], Span{Len: len(data), Frame: a.ctx.frame, Time: a.ctx.ci.Timestamp})
	} else {
		spans = mapSpans(a.spanBuf[:0], h.segs, first, len(data), a.ctx.frame, a.ctx.ci.Timestamp)
	}
	a.spanBuf = spans[:0]
	a.stats.DeliveredBytes += uint64(len(data))
	s.conn.Data(d, data, spans)
	h.next, h.known = first+uint32(len(data)), true
	// forget records wholly delivered, remembering the last few for
	// conflict checks
	k := 0
	for _, r := range h.segs {
		if seqDiff(r.seq+uint32(r.n), h.next) > 0 {
			h.segs[k] = r
			k++
		} else {
			h.recent[h.rpos] = segSum{seq: r.seq, n: uint32(r.n), hash: r.hash}
			h.rpos = (h.rpos + 1) % recentSegs
			h.nrec = min(h.nrec+1, recentSegs)
		}
	}
	h.segs = h.segs[:k]
}

// mapSpans says which frame carried each byte of [first, first+n): the
// latest-arriving recorded segment covering it (the library keeps the first
// copy of delivered bytes but lets later copies replace buffered ones, and
// only buffered or current bytes are delivered here). It appends to spans
// (a reused buffer: Conn.Data does not keep it) and returns it.
func mapSpans(spans []Span, segs []segRecord, first uint32, n int, frame uint64, t time.Time) []Span {
	emit := func(l int, fr uint64, tm time.Time) {
		if k := len(spans); k > 0 && spans[k-1].Frame == fr {
			spans[k-1].Len += l
			return
		}
		spans = append(spans, Span{Len: l, Frame: fr, Time: tm})
	}
	for pos := 0; pos < n; {
		cur := first + uint32(pos)
		best := -1
		for i := len(segs) - 1; i >= 0; i-- {
			if off := seqDiff(cur, segs[i].seq); off >= 0 && off < segs[i].n {
				best = i
				break
			}
		}
		end := n
		from := 0
		if best >= 0 {
			if e := seqDiff(segs[best].seq+uint32(segs[best].n), first); e < end {
				end = e
			}
			from = best + 1
		}
		for _, r := range segs[from:] {
			if o := seqDiff(r.seq, first); o > pos && o < end {
				end = o
			}
		}
		if best >= 0 {
			emit(end-pos, segs[best].frame, segs[best].time)
		} else {
			emit(end-pos, frame, t)
		}
		pos = end
	}
	return spans
}

func (s *stream) open() {
	a := s.a
	src, dst := s.netFlow.Endpoints()
	sp, dp := s.tcpFlow.Endpoints()
	first := netip.AddrPortFrom(addrOf(src), binary.BigEndian.Uint16(sp.Raw()))
	second := netip.AddrPortFrom(addrOf(dst), binary.BigEndian.Uint16(dp.Raw()))
	key := ConnKey{A: first, B: second}
	if !s.aIsFirst {
		key = ConnKey{A: second, B: first}
	}
	s.conn = a.h.Open(key)
	s.opened = true
	a.stats.ConnsOpened++
}

func addrOf(e gopacket.Endpoint) netip.Addr {
	a, _ := netip.AddrFromSlice(e.Raw())
	return a
}

// ReassemblyComplete closes the Conn (once) and lets the library forget the
// connection, so a later SYN on the same 4-tuple makes a new one.
func (s *stream) ReassemblyComplete(ac reassembly.AssemblerContext) bool {
	if s.completed {
		return true
	}
	s.completed = true
	s.a.live--
	s.a.lruUnlink(s)
	s.finish()
	return true
}

func (s *stream) finish() {
	if s.opened && !s.closed {
		s.closed = true
		s.a.stats.ConnsClosed++
		if s.a.idleFlushing {
			s.a.stats.ConnsIdleFlushed++
		}
		s.conn.Close()
	}
	s.closed = true
}

// Synthetic segment modes (Analyzer.synthetic).
const (
	synthNone = iota
	synthFlush
	synthClose
)

// forceClose makes the library deliver what s has buffered (with gaps) and
// close both directions, so the connection ends now: used after an RST and
// when a new SYN reuses a lingering 4-tuple. The library has no call for
// this; it is driven with empty synthetic segments whose sequence numbers
// Accept rewrites, and a page limit of 1 to force queued pages out.
func (a *Analyzer) forceClose(s *stream) {
	if s.completed {
		return
	}
	saved := a.asm.MaxBufferedPagesPerConnection
	defer func() {
		a.asm.MaxBufferedPagesPerConnection = saved
		a.synthetic = synthNone
	}()
	for i := 0; i < 2 && !s.completed; i++ {
		netFlow, tcpFlow := s.netFlow, s.tcpFlow
		if i == 1 {
			netFlow, tcpFlow = netFlow.Reverse(), tcpFlow.Reverse()
		}
		h := &s.half[i]
		a.asm.MaxBufferedPagesPerConnection = 1
		a.synthetic = synthFlush
		for j := 0; j < 1024 && len(h.segs) > 0 && !s.completed; j++ {
			before := h.next
			a.assembleSynthetic(netFlow, tcpFlow, false)
			if h.next == before {
				break
			}
		}
		a.asm.MaxBufferedPagesPerConnection = saved
		a.synthetic = synthClose
		if !s.completed {
			a.assembleSynthetic(netFlow, tcpFlow, true)
		}
	}
	if !s.completed { // should not happen; keep the table honest anyway
		s.finish()
	}
}

func (a *Analyzer) assembleSynthetic(netFlow, tcpFlow gopacket.Flow, rst bool) {
	b := a.synBuf[:]
	for i := range b {
		b[i] = 0
	}
	src, dst := tcpFlow.Endpoints()
	copy(b[0:2], src.Raw())
	copy(b[2:4], dst.Raw())
	b[12] = 5 << 4
	b[13] = 0x10 // ACK
	if rst {
		b[13] |= 0x04
	}
	if err := a.synTCP.DecodeFromBytes(b, gopacket.NilDecodeFeedback); err != nil {
		return
	}
	a.asm.AssembleWithContext(netFlow, &a.synTCP, &a.ctx)
}
