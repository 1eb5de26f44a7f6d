package capture

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"net/netip"
	"slices"
	"time"
	"unsafe"
)

// This file is the TCP reassembler: one connection table per Analyzer, run
// in the Analyzer's goroutine (no locks). In-order payload is handed to the
// Conn straight from the packet bytes; out-of-order payload is copied into
// pages of BufferPageSize bytes (one page per segment, or more for a segment
// longer than a page) taken from a free list, bounded per direction
// (Config.MaxBufferedPagesPerConn) and in all (Config.MaxBufferedPagesTotal).
//
// The rules, which follow what gopacket's reassembly package did before it:
//   - Every TCP segment belongs to a connection keyed by its two endpoints in
//     either order; a segment of an unknown connection makes one (also a
//     pure ACK). Half 0 of a connection is the direction of its first
//     segment.
//   - A direction starts at its SYN, else at its first segment with payload
//     (mid-stream). A pure SYN (no ACK) seen before any byte was delivered
//     makes its sender ConnKey.A, else A is the sender of the first segment.
//   - Bytes before the next expected sequence number were delivered already:
//     they are dropped (the first copy wins). Bytes after it wait in pages;
//     a later copy of waiting bytes replaces them (the last copy wins).
//   - A segment repeating the exact range of one of the last pendingSegs
//     segments not yet delivered, or of one of the last recentSegs
//     delivered, with other bytes counts as an OverlapConflict.
//   - Once a direction holds MaxBufferedPagesPerConn pages, or all hold
//     MaxBufferedPagesTotal, a segment after a hole makes that direction
//     skip to its first waiting byte: a Gap, counted as a BufferOverrun
//     (see overLimits).
//   - A FIN at or before the next expected byte (or the last byte of a
//     waiting segment that had FIN) closes its direction; an out-of-order
//     FIN without payload is not remembered. Both directions closed close
//     the connection and forget it: a later segment starts a new one.
//   - RST closes the connection at once, delivering what waits (after gaps).
//     So does a new SYN (no ACK) with another initial sequence number on a
//     connection that delivered bytes: then the SYN starts a new one.
//   - Every minute of capture time, waiting bytes older than the idle
//     timeout are delivered after a gap, and connections without a segment
//     for that long are closed. At the end of input everything is.
//   - Over MaxConns, the least recently active connection is closed.

// recentSegs and pendingSegs bound the delivered segments, and those still
// waiting, remembered per direction for conflict checks: a retransmission
// usually repeats one of the last few.
const (
	recentSegs  = 4
	pendingSegs = 2 * recentSegs
)

// maxFreePages and maxFreeStreams bound the free lists kept for reuse; what
// a burst needed beyond them goes back to the garbage collector.
const (
	maxFreePages   = 1024
	maxFreeStreams = 4096
	maxKeptChunks  = 32 // a reused stream keeps chunk slices up to this capacity
)

var segSeed = maphash.MakeSeed()

// connKey identifies a connection in both directions: its endpoints in
// canonical order (lo before hi), IPv4 addresses in the first 4 bytes.
type connKey struct {
	lo, hi         [16]byte
	loPort, hiPort uint16
	v6             bool
}

// eq is k == *o, compared field by field: the compiler compares each
// 16-byte address as two words in line, where == on the whole struct
// called memequal (38 bytes), which the flow cache did for every segment.
func (k *connKey) eq(o *connKey) bool {
	return k.lo == o.lo && k.hi == o.hi && k.loPort == o.loPort && k.hiPort == o.hiPort && k.v6 == o.v6
}

// key returns the connection key of the decoded segment and whether its
// sender is the key's lo endpoint.
func (d *decoder) key() (connKey, bool) {
	sp, dp := d.tcp.SrcPort, d.tcp.DstPort
	if c := bytes.Compare(d.src[:], d.dst[:]); c < 0 || c == 0 && sp <= dp {
		return connKey{lo: d.src, hi: d.dst, loPort: sp, hiPort: dp, v6: d.v6}, true
	}
	return connKey{lo: d.dst, hi: d.src, loPort: dp, hiPort: sp, v6: d.v6}, false
}

// hash is a hash of the connection, the same for both directions (the key
// is canonical): Config.Shards splits connections by it.
func (k *connKey) hash() uint64 {
	h := uint64(k.loPort)<<16 | uint64(k.hiPort)
	h = (h ^ binary.LittleEndian.Uint64(k.lo[:8])) * 0x9e3779b97f4a7c15 // rounds written out, as in ownerKey
	h ^= h >> 29
	h = (h ^ binary.LittleEndian.Uint64(k.lo[8:])) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	h = (h ^ binary.LittleEndian.Uint64(k.hi[:8])) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	h = (h ^ binary.LittleEndian.Uint64(k.hi[8:])) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	if k.v6 {
		h ^= 1
	}
	return h
}

// ownerKey writes d.key() into *k and returns what key returns besides
// and k.hash(), computed on the words it copies: the Splitter does this for
// every segment, and key() with bytes.Compare, then hash, were most of its
// cost. The order of the addresses is bytes.Compare's (big-endian words);
// the hash reads the same little-endian words.
func (d *decoder) ownerKey(k *connKey) (srcLo bool, h uint64) {
	s0, s1 := binary.LittleEndian.Uint64(d.src[:8]), binary.LittleEndian.Uint64(d.src[8:])
	t0, t1 := binary.LittleEndian.Uint64(d.dst[:8]), binary.LittleEndian.Uint64(d.dst[8:])
	sp, dp := d.tcp.SrcPort, d.tcp.DstPort
	a0, b0 := bits.ReverseBytes64(s0), bits.ReverseBytes64(t0)
	a1, b1 := bits.ReverseBytes64(s1), bits.ReverseBytes64(t1)
	srcLo = a0 < b0 || a0 == b0 && (a1 < b1 || a1 == b1 && sp <= dp)
	if !srcLo {
		s0, s1, t0, t1, sp, dp = t0, t1, s0, s1, dp, sp
	}
	binary.LittleEndian.PutUint64(k.lo[:8], s0)
	binary.LittleEndian.PutUint64(k.lo[8:], s1)
	binary.LittleEndian.PutUint64(k.hi[:8], t0)
	binary.LittleEndian.PutUint64(k.hi[8:], t1)
	k.loPort, k.hiPort, k.v6 = sp, dp, d.v6
	// hash's rounds written out: the loop over an array of the four words
	// was a fifth of ownerKey's instructions (4.2M of 19.7M, callgrind,
	// 100 MB benchmark capture), in the Splitter's serial goroutine.
	h = uint64(sp)<<16 | uint64(dp)
	h = (h ^ s0) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	h = (h ^ s1) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	h = (h ^ t0) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	h = (h ^ t1) * 0x9e3779b97f4a7c15
	h ^= h >> 29
	if d.v6 {
		h ^= 1
	}
	return srcLo, h
}

func (k *connKey) endpoint(lo bool) netip.AddrPort {
	a, p := &k.hi, k.hiPort
	if lo {
		a, p = &k.lo, k.loPort
	}
	if k.v6 {
		return netip.AddrPortFrom(netip.AddrFrom16(*a), p)
	}
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[:4])), p)
}

// page holds the bytes of one waiting chunk.
type page [pageSize]byte

// chunk is a run of waiting (out-of-order) bytes of one direction, in its
// own page.
type chunk struct {
	seq   uint32
	data  []byte // in *pg
	pg    *page
	frame uint64 // that carried the bytes (the last copy's)
	time  time.Time
	fin   bool // the segment had FIN or RST and ends here
}

func (c *chunk) end() uint32 { return c.seq + uint32(len(c.data)) }

// segSum is a segment's range and either where its bytes lie in a file
// mapping (their offset) or a hash of them. Mapped packet bytes stay valid until the
// file is closed (after the Analyzer is done), so a later copy of the same
// range is compared with them byte for byte, and only when the ranges match
// (a retransmission), instead of hashing every payload up front. Bytes
// outside a mapping (live capture, pcapgo's reused buffer, reassembled IPv4
// fragments) are hashed: they are not kept, and keeping them would hold
// their memory.
type segSum struct {
	seq, n uint32
	// v is the offset of the bytes in Analyzer.mapping, or a hash of them
	// with hashBit set (offsets are below 2^63)
	v uint64
}

const hashBit = 1 << 63

// halfState is one direction of a connection. What every segment reads
// comes first: next and the flags, the counts and recent (conflicts looks
// through them for each segment), in the line where next is or the one
// after; pending (mostly empty) and segs (mostly nil) follow. With the
// counts and recent after pending, a segment read three lines of its half
// where it now reads two: conflicts' own samples in a 2-worker run were
// mostly that extra miss.
type halfState struct {
	next   uint32 // next expected sequence number
	known  bool   // next is set: the direction started
	closed bool   // FIN reached (or forced): later segments are ignored
	// finNext says next was moved past a FIN and no segment came in this
	// direction since: a SYN is then compared with the FIN's own sequence
	// number (as gopacket's reassembly did).
	finNext bool
	npend   int32 // entries of pending in use
	nrec    int32 // entries of recent in use
	rpos    int32 // where the next one goes in recent
	// pending remembers the last segments not yet wholly delivered, oldest
	// first, and recent the last ones delivered (sequence range and a hash
	// of their bytes), so a later copy of the same range with other bytes is
	// counted as a conflict (an evasion attempt).
	recent  [recentSegs]segSum
	segs    []chunk
	pending [pendingSegs]segSum
}

// stream is one connection. It becomes a Conn (Handler.Open) only when its
// first payload byte is delivered. The fields every segment reads come
// first: key (the flow cache compares it), the flags and lruPos in the
// first cache line, lastSeen across the first two, conn in the second,
// where half[0] starts (a stream is ~600 bytes; with lastSeen and the list
// links after the halves, a segment read two more lines of it, and wrote
// into its neighbours'). Aligning each half to a line of its own was tried
// and measured no better: a segment's first read of its half misses either
// way.
type stream struct {
	key      connKey
	firstLo  bool // half 0 is sent by key's lo endpoint
	opened   bool
	closed   bool // Close called or never to be called again
	done     bool // forgotten: no longer in the table
	synSeen  bool
	aIsFirst bool      // ConnKey.A is the sender of half 0
	lruPos   int       // its entry in Analyzer.lru is lru[lruPos-1] (0: none)
	lastSeen time.Time // latest capture time of its segments
	conn     Conn
	half     [2]halfState // 0: the first segment's direction
}

// seqDiff is a-b in sequence space.
func seqDiff(a, b uint32) int { return int(int32(a - b)) }

// flowBits sizes Analyzer.flows, a direct-mapped cache in front of the
// connection table: 4096 slots (32 KiB) for the connections a shard has
// live at once (a few thousand on the generated captures).
const flowBits = 12

// flowSlot is k's slot in Analyzer.flows: the top flowBits bits of
// k.hash() (segRef.hash keeps its top 32). connKey.hash has no key, so an
// attacker can make many connections share a slot; that only makes the
// cache miss (each lookup then goes to the table, whose hash is seeded), it
// cannot make a lookup slower than that.
func flowSlot(k *connKey) uint64 { return k.hash() >> (64 - flowBits) }

// assemble hands the decoded segment to its connection.
func (a *Analyzer) assemble() {
	k, srcLo := a.dec.key()
	a.assembleKey(&k, srcLo, flowSlot(&k))
}

// assembleKey hands the decoded segment, of connection *k (in slot of
// the flow cache), to its connection; srcLo says its sender is k's lo.
func (a *Analyzer) assembleKey(k *connKey, srcLo bool, slot uint64) {
	if len(a.dead) > 0 {
		a.recycle()
	}
	// The cache's streams are in the table under their key (complete takes
	// a stream out of both), so a stream found there with key k is the
	// table's. Its key lies in the stream's first cache line, which accept
	// reads next anyway; the table's lookup (hashing 40 bytes, then its
	// group and the key in it) was 4% of a 2-worker run's CPU time.
	s := a.flows[slot]
	if s == nil || !s.key.eq(k) {
		if s = a.conns[*k]; s == nil {
			if t := &a.dec.tcp; !t.SYN && len(t.Payload) == 0 {
				// Neither a SYN nor a byte, on no tracked connection:
				// the last ACK of a connection both FINs closed, a
				// FIN or RST repeated after it, or the ACKs of a
				// connection the capture joined late. A stream made
				// for it could only wait for the idle flush: every
				// closed connection left one for two minutes of
				// capture time, counted against MaxConns (as
				// gopacket's reassembly does, none is made).
				a.stats.Untracked++
				return
			}
			s = a.newStream(*k, srcLo)
		}
		a.flows[slot] = s
	}
	if a.accept(s, srcLo) { // a new connection on this 4-tuple
		a.forceClose(s)
		a.accept(a.newStream(*k, srcLo), srcLo)
	}
	if a.live > a.cfg.MaxConns {
		a.evictOverLimit()
	}
}

func (a *Analyzer) newStream(k connKey, srcLo bool) *stream {
	var s *stream
	if n := len(a.freeStreams); n > 0 {
		s = a.freeStreams[n-1]
		a.freeStreams = a.freeStreams[:n-1]
	} else {
		s = new(stream)
	}
	s.key, s.firstLo, s.aIsFirst = k, srcLo, true
	a.conns[k] = s
	a.live++ // over Config.MaxConns the least recently active goes after this packet
	a.stats.Streams++
	a.lruTouch(s)
	return s
}

// recycle puts the streams forgotten during the previous packet (or flush)
// on the free list: nothing refers to them any more.
func (a *Analyzer) recycle() {
	for i, s := range a.dead {
		a.dead[i] = nil
		if len(a.freeStreams) >= maxFreeStreams {
			continue
		}
		var segs [2][]chunk
		for i := range segs {
			if c := s.half[i].segs; cap(c) <= maxKeptChunks {
				segs[i] = c[:0]
			}
		}
		*s = stream{}
		s.half[0].segs, s.half[1].segs = segs[0], segs[1]
		a.freeStreams = append(a.freeStreams, s)
	}
	a.dead = a.dead[:0]
}

// accept processes the decoded segment on s. It reports true, doing
// nothing else, when the segment is a SYN starting a new connection on a
// 4-tuple whose connection lingers.
func (a *Analyzer) accept(s *stream, srcLo bool) bool {
	tcp := &a.dec.tcp
	hi := 0
	if srcLo != s.firstLo {
		hi = 1
	}
	h := &s.half[hi]
	if ts := a.ts; ts.After(s.lastSeen) {
		s.lastSeen = ts
	}
	if !a.lruHead(s) {
		a.lruTouch(s)
	}
	if tcp.SYN && !tcp.ACK {
		expect := h.next
		if h.finNext {
			expect--
		}
		if h.known && tcp.Seq+1 != expect && s.opened {
			return true
		}
		if !s.synSeen && !s.opened {
			s.synSeen = true
			s.aIsFirst = hi == 0
		}
	}
	h.finNext = false
	seq := tcp.Seq
	if tcp.SYN {
		seq++
	}
	payload := tcp.Payload
	if len(payload) > 0 {
		cur := segBytes{data: payload, v: hashBit}
		if a.mapping != nil {
			off := uintptr(unsafe.Pointer(unsafe.SliceData(payload))) - uintptr(unsafe.Pointer(unsafe.SliceData(a.mapping)))
			if off < uintptr(len(a.mapping)) && uintptr(len(payload)) <= uintptr(len(a.mapping))-off {
				cur.v = uint64(off)
			}
		}
		if h.conflicts(seq, &cur, a.mapping) {
			a.stats.OverlapConflicts++
		}
		if !h.known || seqDiff(seq+uint32(len(payload)), h.next) > 0 {
			r := segSum{seq: seq, n: uint32(len(payload)), v: cur.v}
			if r.v&hashBit != 0 {
				r.v = cur.sum()
			}
			h.addPending(r)
		}
	}
	if !h.closed {
		a.segment(s, hi, seq, payload, tcp)
	}
	if tcp.RST {
		a.forceClose(s)
	}
	return false
}

// segment reassembles the bytes [seq, seq+len(payload)) of half hi.
func (a *Analyzer) segment(s *stream, hi int, seq uint32, payload []byte, tcp *tcpHeader) {
	h := &s.half[hi]
	end := tcp.FIN || tcp.RST
	if !h.known {
		if !tcp.SYN && len(payload) == 0 {
			return // nothing to start the direction at
		}
		h.next, h.known = seq, true
	}
	switch diff := seqDiff(seq, h.next); {
	case diff > 0: // after a hole: wait
		if len(payload) > 0 {
			a.insert(h, seq, payload, end)
		}
		a.overLimits(s, hi)
		return
	case diff < 0: // starts with bytes delivered before
		old := min(-diff, len(payload))
		a.stats.OverlapBytes += uint64(old)
		payload = payload[old:]
	}
	if len(payload) > 0 {
		until := h.next + uint32(len(payload))
		h.trimWaiting(a, until)
		a.emit(s, hi, 0, payload, a.frame, a.ts)
		h.next = until
		if !end {
			a.drain(s, hi)
		}
		h.sweepPending()
		if !end {
			return
		}
	}
	if end {
		if tcp.FIN {
			h.next++ // the FIN's sequence number
			h.finNext = true
		}
		a.closeHalf(s, hi)
	}
}

// overLimits makes half hi skip to its waiting bytes while it holds
// MaxBufferedPagesPerConn pages or more. Like gopacket's reassembly, it also
// skips once when all directions hold MaxBufferedPagesTotal pages or more,
// and more only while they hold more than that, so the bound is kept even
// after a segment of several pages.
func (a *Analyzer) overLimits(s *stream, hi int) {
	h := &s.half[hi]
	if len(h.segs) > 0 && a.pages >= a.cfg.MaxBufferedPagesTotal {
		a.skipFirst(s, hi, true)
	}
	for len(h.segs) > 0 && !h.closed && (len(h.segs) >= a.cfg.MaxBufferedPagesPerConn || a.pages > a.cfg.MaxBufferedPagesTotal) {
		a.skipFirst(s, hi, true)
	}
}

// emit hands data of half hi to the Conn, after a gap of skip bytes,
// opening the Conn at its first byte.
func (a *Analyzer) emit(s *stream, hi int, skip int, data []byte, frame uint64, t time.Time) {
	if s.closed || len(data) == 0 {
		return
	}
	if !s.opened {
		a.open(s)
	}
	d := DirAB
	if (hi == 0) != s.aIsFirst {
		d = DirBA
	}
	if skip > 0 {
		a.stats.Gaps++
		a.stats.GapBytes += uint64(skip)
		s.conn.Gap(d, skip)
	}
	// field by field: a Span built whole went through the stack
	sp := &a.span[0]
	sp.Len, sp.Frame, sp.Time = len(data), frame, t
	a.stats.DeliveredBytes += uint64(len(data))
	s.conn.Data(d, data, a.span[:1])
}

func (a *Analyzer) open(s *stream) {
	first, second := s.key.endpoint(s.firstLo), s.key.endpoint(!s.firstLo)
	key := ConnKey{A: first, B: second}
	if !s.aIsFirst {
		key = ConnKey{A: second, B: first}
	}
	s.conn = a.h.Open(key)
	s.opened = true
	a.stats.ConnsOpened++
}

// insert copies the out-of-order bytes [seq, seq+len(payload)) into pages
// among the waiting chunks of h, replacing waiting bytes they overlap.
func (a *Analyzer) insert(h *halfState, seq uint32, payload []byte, fin bool) {
	end := seq + uint32(len(payload))
	// chunks [i, j) overlap the new bytes
	i, _ := slices.BinarySearchFunc(h.segs, seq, func(c chunk, seq uint32) int {
		if seqDiff(c.end(), seq) > 0 {
			return 1
		}
		return -1
	})
	j := i
	for j < len(h.segs) && seqDiff(h.segs[j].seq, end) < 0 {
		j++
	}
	repl := a.chunkBuf[:0]
	var tail chunk
	for k := i; k < j; k++ {
		c := h.segs[k]
		before, after := seqDiff(seq, c.seq), seqDiff(c.end(), end)
		switch {
		case before > 0 && after > 0: // the new bytes are inside c: split it
			a.stats.OverlapBytes += uint64(len(payload))
			tail = c
			tail.pg = a.getPage()
			tail.data = append(tail.pg[:0], c.data[len(c.data)-after:]...)
			tail.seq = end
			c.data, c.fin = c.data[:before], false
			repl = append(repl, c)
		case before > 0: // c ends inside: keep its start
			a.stats.OverlapBytes += uint64(len(c.data) - before)
			c.data, c.fin = c.data[:before], false
			repl = append(repl, c)
		case after > 0: // c starts inside: keep its end
			a.stats.OverlapBytes += uint64(len(c.data) - after)
			c.data, c.seq = c.data[len(c.data)-after:], end
			tail = c
		default: // replaced entirely
			a.stats.OverlapBytes += uint64(len(c.data))
			a.putPage(c.pg)
		}
	}
	for p := payload; len(p) > 0; {
		n := min(len(p), pageSize)
		pg := a.getPage()
		repl = append(repl, chunk{seq: end - uint32(len(p)), data: append(pg[:0], p[:n]...), pg: pg,
			frame: a.frame, time: a.ts, fin: fin && n == len(p)})
		p = p[n:]
	}
	if tail.pg != nil {
		repl = append(repl, tail)
	}
	h.segs = slices.Replace(h.segs, i, j, repl...)
	clear(repl)
	a.chunkBuf = repl[:0]
}

// trimWaiting drops the waiting bytes before until (about to be delivered
// from a later copy).
func (h *halfState) trimWaiting(a *Analyzer, until uint32) {
	k := 0
	for k < len(h.segs) && seqDiff(h.segs[k].seq, until) < 0 {
		c := &h.segs[k]
		if over := seqDiff(c.end(), until); over > 0 {
			a.stats.OverlapBytes += uint64(len(c.data) - over)
			c.data, c.seq = c.data[len(c.data)-over:], until
			break
		}
		a.stats.OverlapBytes += uint64(len(c.data))
		a.putPage(c.pg)
		k++
	}
	h.dropFront(k)
}

// dropFront removes the first k chunks (their pages already released).
func (h *halfState) dropFront(k int) {
	if k > 0 {
		n := copy(h.segs, h.segs[k:])
		clear(h.segs[n:])
		h.segs = h.segs[:n]
	}
}

// skipFirst delivers the first waiting chunk of half hi after a gap, and
// what follows it in order. overrun says a buffer limit forced it.
func (a *Analyzer) skipFirst(s *stream, hi int, overrun bool) {
	h := &s.half[hi]
	c := h.segs[0]
	skip := seqDiff(c.seq, h.next)
	if skip > 0 && overrun && !s.closed {
		a.stats.BufferOverruns++
	}
	h.segs[0].pg = nil
	h.dropFront(1)
	a.deliverChunk(s, hi, &c, max(skip, 0))
	if !h.closed {
		a.drain(s, hi)
	}
	h.sweepPending()
}

// deliverChunk delivers waiting chunk c (no longer in h.segs) of half hi
// and releases its page; a chunk ending a FIN segment closes the half.
func (a *Analyzer) deliverChunk(s *stream, hi int, c *chunk, skip int) {
	h := &s.half[hi]
	data := c.data
	if off := seqDiff(h.next, c.seq); skip == 0 && off > 0 { // not expected: bytes delivered before
		data = data[min(off, len(data)):]
	}
	a.emit(s, hi, skip, data, c.frame, c.time)
	if skip > 0 || seqDiff(c.end(), h.next) > 0 {
		h.next = c.end()
	}
	a.putPage(c.pg)
	if c.fin {
		a.closeHalf(s, hi)
	}
}

// drain delivers the waiting chunks that now follow in order.
func (a *Analyzer) drain(s *stream, hi int) {
	h := &s.half[hi]
	for len(h.segs) > 0 && seqDiff(h.segs[0].seq, h.next) <= 0 && !h.closed {
		c := h.segs[0]
		h.segs[0].pg = nil
		h.dropFront(1)
		if seqDiff(c.end(), h.next) <= 0 { // wholly before: cannot happen, keep the page count right
			a.putPage(c.pg)
			continue
		}
		a.deliverChunk(s, hi, &c, 0)
	}
}

// closeHalf ends direction hi (dropping what waits); with both ended the
// connection is closed and forgotten.
func (a *Analyzer) closeHalf(s *stream, hi int) {
	h := &s.half[hi]
	h.closed = true
	for k := range h.segs {
		a.putPage(h.segs[k].pg)
	}
	h.dropFront(len(h.segs))
	if s.half[0].closed && s.half[1].closed && !s.done {
		a.complete(s)
	}
}

// complete closes the Conn (once) and forgets the connection, so a later
// segment on the same 4-tuple makes a new one.
func (a *Analyzer) complete(s *stream) {
	s.done = true
	delete(a.conns, s.key)
	if slot := flowSlot(&s.key); a.flows[slot] == s {
		a.flows[slot] = nil
	}
	a.live--
	a.lruForget(s)
	if s.opened && !s.closed {
		s.closed = true
		a.stats.ConnsClosed++
		if a.idleFlushing {
			a.stats.ConnsIdleFlushed++
		}
		s.conn.Close()
	}
	s.closed = true
	a.dead = append(a.dead, s)
}

// flushHalf delivers everything waiting in direction hi (after gaps), then
// closes it.
func (a *Analyzer) flushHalf(s *stream, hi int) {
	h := &s.half[hi]
	for len(h.segs) > 0 && !h.closed {
		a.skipFirst(s, hi, false)
	}
	if !h.closed {
		a.closeHalf(s, hi)
	}
}

// forceClose delivers what s has waiting (with gaps) and closes it now:
// after an RST, when a new SYN reuses its 4-tuple, over MaxConns.
func (a *Analyzer) forceClose(s *stream) {
	for hi := 0; hi < 2 && !s.done; hi++ {
		a.flushHalf(s, hi)
	}
}

// conflicts reports whether segment cur at seq repeats the range of a
// recent segment (waiting, or among the last delivered) with other bytes.
// Only exact ranges are compared, against the newest: a partial overlap is
// counted in OverlapBytes only.
func (h *halfState) conflicts(seq uint32, cur *segBytes, mapping []byte) bool {
	n := uint32(len(cur.data))
	for i := h.npend - 1; i >= 0; i-- {
		if r := &h.pending[i]; r.seq == seq && r.n == n {
			return !r.same(cur, mapping)
		}
	}
	for i := range h.nrec {
		if r := &h.recent[i]; r.seq == seq && r.n == n {
			return !r.same(cur, mapping)
		}
	}
	return false
}

// segBytes is the payload of the segment being accepted, with its offset
// in the file mapping (v, or hashBit if it lies elsewhere) and its hash
// once computed.
type segBytes struct {
	data   []byte
	v      uint64
	hash   uint64
	hashed bool
}

// sum is the hash of c's bytes, with hashBit set.
func (c *segBytes) sum() uint64 {
	if !c.hashed {
		c.hash, c.hashed = maphash.Bytes(segSeed, c.data)|hashBit, true
	}
	return c.hash
}

// same reports whether the segment r records (of cur's length) had cur's
// bytes.
func (r *segSum) same(cur *segBytes, mapping []byte) bool {
	if r.v&hashBit == 0 {
		same := bytes.Equal(mapping[r.v:r.v+uint64(r.n)], cur.data)
		releaseRead(mapping, r.v, uint64(r.n))
		return same
	}
	return r.v == cur.sum()
}

// addPending records a segment not yet wholly delivered, forgetting the
// oldest such record past pendingSegs.
func (h *halfState) addPending(r segSum) {
	if h.npend == pendingSegs {
		copy(h.pending[:], h.pending[1:])
		h.npend--
	}
	h.pending[h.npend] = r
	h.npend++
}

// sweepPending moves the records of segments now wholly delivered from
// pending to recent, oldest first.
func (h *halfState) sweepPending() {
	k := 0
	for _, r := range h.pending[:h.npend] {
		if seqDiff(r.seq+r.n, h.next) <= 0 {
			h.remember(r)
		} else {
			h.pending[k] = r
			k++
		}
	}
	h.npend = int32(k)
}

// remember records a delivered segment for conflict checks.
func (h *halfState) remember(r segSum) {
	h.recent[h.rpos] = r
	h.rpos = (h.rpos + 1) % recentSegs
	h.nrec = min(h.nrec+1, recentSegs)
}

func (a *Analyzer) getPage() *page {
	a.pages++
	if n := len(a.freePages); n > 0 {
		p := a.freePages[n-1]
		a.freePages = a.freePages[:n-1]
		return p
	}
	return new(page)
}

func (a *Analyzer) putPage(p *page) {
	a.pages--
	if len(a.freePages) < maxFreePages {
		a.freePages = append(a.freePages, p)
	}
}

// The live streams in order of activity are the non-nil entries of
// Analyzer.lru, least recently active first: every time a stream becomes
// the most recently active, lruTouch clears its entry (lruPos) and appends
// a new one; complete clears the entry of a forgotten stream. This keeps
// the order a doubly linked list kept without writing into the neighbours
// of a stream on each of its segments (two or three cache misses on other
// streams per segment). Cleared entries are dropped from the front as they
// come and by compaction once the slice holds four times as many entries
// as there are live streams (lruTouch), so it stays within about 4×live
// pointers, and a compaction, which moves the live streams' entries (and
// writes their new lruPos), comes once per 3×live touches or more.
func (a *Analyzer) lruTouch(s *stream) {
	if s.lruPos > 0 {
		a.lru[s.lruPos-1] = nil
	}
	if len(a.lru)-a.lruFront >= 4*a.live+64 {
		a.lruCompact()
	}
	a.lru = append(a.lru, s)
	s.lruPos = len(a.lru)
}

// lruHead reports whether s is the most recently active stream.
func (a *Analyzer) lruHead(s *stream) bool {
	return len(a.lru) > 0 && a.lru[len(a.lru)-1] == s
}

// lruForget clears the entry of s (forgotten).
func (a *Analyzer) lruForget(s *stream) {
	if s.lruPos > 0 {
		a.lru[s.lruPos-1] = nil
		s.lruPos = 0
	}
}

// lruCompact moves the live streams' entries, in order, to the start of lru.
func (a *Analyzer) lruCompact() {
	k := 0
	for _, s := range a.lru[a.lruFront:] {
		if s != nil {
			a.lru[k] = s
			k++
			s.lruPos = k
		}
	}
	clear(a.lru[k:])
	a.lru, a.lruFront = a.lru[:k], 0
}

// lruTail returns the least recently active live stream, or nil.
func (a *Analyzer) lruTail() *stream {
	for ; a.lruFront < len(a.lru); a.lruFront++ {
		if s := a.lru[a.lruFront]; s != nil {
			return s
		}
	}
	return nil
}

// lruEach calls f for the live streams, least recently active first. f may
// close the stream it is given (that clears its entry), not touch any.
func (a *Analyzer) lruEach(f func(s *stream)) {
	for i := a.lruFront; i < len(a.lru); i++ {
		if s := a.lru[i]; s != nil {
			f(s)
		}
	}
}

// evictOverLimit closes the least recently active connections (delivering
// what they buffered) until at most Config.MaxConns are tracked, so a flood
// of new connections costs the idlest state, not the newest or the memory.
func (a *Analyzer) evictOverLimit() {
	for a.live > a.cfg.MaxConns {
		s := a.lruTail()
		if s == nil {
			break
		}
		a.stats.ConnsOverLimit++
		a.forceClose(s)
	}
}

// flushOlderThan delivers (after gaps) the bytes waiting since before t and
// closes the connections without a segment since before t.
func (a *Analyzer) flushOlderThan(t time.Time) {
	a.idleFlushing = true
	a.lruEach(func(s *stream) {
		for _, hi := range [2]int{1, 0} {
			h := &s.half[hi]
			for len(h.segs) > 0 && !h.closed && h.segs[0].time.Before(t) {
				a.skipFirst(s, hi, false)
			}
			if !h.closed && len(h.segs) == 0 && s.lastSeen.Before(t) {
				a.closeHalf(s, hi)
			}
		}
	})
	a.idleFlushing = false
}

// flushAll delivers everything waiting and closes every connection.
func (a *Analyzer) flushAll() {
	a.lruEach(func(s *stream) {
		a.flushHalf(s, 1)
		if !s.done {
			a.flushHalf(s, 0)
		}
	})
	clear(a.lru) // every stream is forgotten
	a.lru, a.lruFront = a.lru[:0], 0
	a.recycle()
}
