package capture

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Splitter reads a memory-mapped capture file once for the Analyzers that
// split its connections (Config.Shards). Without it every shard reads and
// decodes the whole file itself; with it one goroutine walks the records,
// decodes each frame's headers once (without keeping state) to find the
// shard of its connection, and hands every shard the list of all frames with
// their owner and, for TCP segments, the decoded header fields. An
// Analyzer on a shard (Analyzer.splitLoop) looks only at its own segments
// (taking the Splitter's decoding), the frames no single shard owns (IPv4
// fragments, non-TCP frames: those are decoded by every shard, as without a
// Splitter) and the frames at which the idle flush runs, which the Splitter
// marks; the other frames it counts in bulk, so frame numbers, idle flushes
// and per-frame counters stay those of a single reader. Packet bytes are
// read where they lie in the mapping: nothing is copied.
type Splitter struct {
	f      *File
	m      *mmapPcap
	n      int
	dec    *decoder
	shards []*ShardSource
	free   chan *frameBatch
	done   chan struct{} // closed by Close: stop reading
	ended  chan struct{} // closed when Run returns
	closed atomic.Bool
	err    error // the read error that ended the file (set before the channels close)
	errOff int64
}

// frameRef is one frame of the file: where its bytes lie and which shard
// owns its connection (-1: every shard decodes it). For a TCP segment
// (owner >= 0) it also holds what the owner's reassembler needs of the
// headers, as the Splitter decoded them, so the owner does not decode them
// again: reading these refs in order is cheaper than going back to each
// frame's headers (by then out of the owner's caches).
type frameRef struct {
	off   int64
	ts    int64 // Unix nanoseconds
	n     int32 // captured length
	orig  int32 // original length
	owner int32
	// visit: every shard must see this frame although it may belong to
	// another: the first of the file (first capture time) and those at
	// which an Analyzer runs its idle flush (tick); see Analyzer.splitLoop.
	visit bool
	seg   segRef
}

// segRef is a decoded TCP segment: its connection's key (in the order
// decoder.key gives, with the sender's side in flags and the top of the
// key's hash, which places it in the owner's flow cache) and the TCP
// fields the reassembler reads; the payload is bytes [poff, pend) of the
// frame. The owner takes the key as it is: building it again from the
// addresses (with the compare, the hash and the copies) was a tenth of a
// shard's capture-side time.
type segRef struct {
	poff, pend int32
	seq        uint32
	hash       uint32 // key.hash() >> 32
	flags      uint8
	key        connKey
}

const (
	segSYN = 1 << iota
	segACK
	segFIN
	segRST
	segSrcLo // the sender is key's lo endpoint
)

// set records the segment d decoded from frame data and returns its key's
// hash; it reports false if the payload does not lie in data (then the
// frame is decoded again by the shards).
func (r *segRef) set(d *decoder, data []byte) (uint64, bool) {
	t := &d.tcp
	r.poff, r.pend = 0, 0
	if len(t.Payload) > 0 {
		off := uintptr(unsafe.Pointer(unsafe.SliceData(t.Payload))) - uintptr(unsafe.Pointer(unsafe.SliceData(data)))
		if off > uintptr(len(data)) || uintptr(len(t.Payload)) > uintptr(len(data))-off {
			return 0, false
		}
		r.poff, r.pend = int32(off), int32(off)+int32(len(t.Payload))
	}
	r.seq = t.Seq
	r.flags = 0
	if t.SYN {
		r.flags |= segSYN
	}
	if t.ACK {
		r.flags |= segACK
	}
	if t.FIN {
		r.flags |= segFIN
	}
	if t.RST {
		r.flags |= segRST
	}
	srcLo, h := d.ownerKey(&r.key)
	if srcLo {
		r.flags |= segSrcLo
	}
	r.hash = uint32(h >> 32)
	return h, true
}

// load puts the segment's TCP fields back into d as decode would have left
// them, for the reassembler (not the addresses and ports: the key is
// r.key), from the frame's bytes data.
func (r *segRef) load(d *decoder, data []byte) {
	t := &d.tcp
	t.Seq = r.seq
	t.SYN, t.ACK, t.FIN, t.RST = r.flags&segSYN != 0, r.flags&segACK != 0, r.flags&segFIN != 0, r.flags&segRST != 0
	t.Payload = data[r.poff:r.pend:r.pend]
}

// srcLo says the sender is key's lo endpoint.
func (r *segRef) srcLo() bool { return r.flags&segSrcLo != 0 }

// slot is the key's slot in the flow cache (flowSlot).
func (r *segRef) slot() uint64 { return uint64(r.hash) >> (32 - flowBits) }

// frameBatch is a run of frames every shard reads; the last shard done with
// it gives it back to the Splitter.
type frameBatch struct {
	refs []frameRef
	end  int64 // offset just after its last frame
	left atomic.Int32
}

const (
	batchFrames = 512
	// batchesMax batches are in flight: it bounds how far the reader runs
	// ahead, and the mapped pages resident (8192 frames, ~8 MB on the 1 GB
	// capture). It is also the slack between the shards: a shard ahead of
	// the other waits once they are this far apart. 8 saved 3.9 MB of
	// RssFile at the same CPU time but tripled the time each shard waited
	// (0.24-0.40 → 0.64-1.06 s per 1 GB run); 32 cost 11 MB of peak RSS
	// and gained nothing visible.
	batchesMax = 16
)

// NewSplitter prepares to read f for n shards; f must be Mapped. Call Run
// in its own goroutine and give Shard(i) to the Analyzer of shard i.
func NewSplitter(f *File, n int) (*Splitter, error) {
	if !f.Mapped() || n < 2 {
		return nil, errors.New("capture: a Splitter needs a mapped file and at least 2 shards")
	}
	s := &Splitter{f: f, m: f.mm, n: n, dec: newDecoder(0), free: make(chan *frameBatch, batchesMax), done: make(chan struct{}), ended: make(chan struct{})}
	s.dec.peek = true
	s.m.manualRelease = true
	for range batchesMax {
		s.free <- &frameBatch{refs: make([]frameRef, 0, batchFrames)}
	}
	for i := range n {
		s.shards = append(s.shards, &ShardSource{s: s, shard: i, ch: make(chan *frameBatch, batchesMax)})
	}
	return s, nil
}

// Shard is the Source for the Analyzer of shard i (Config{Shard: i, Shards: n}).
func (s *Splitter) Shard(i int) *ShardSource { return s.shards[i] }

// Run reads the file to its end or first error and hands out the frames;
// the shards see the same end (io.EOF or the same error).
func (s *Splitter) Run() {
	defer close(s.ended)
	defer func() {
		for _, sh := range s.shards {
			close(sh.ch)
		}
	}()
	s.err = s.read()
}

func (s *Splitter) read() (err error) {
	var b *frameBatch // being filled
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			if mappingFault(r, s.f) {
				s.f.good = int64(s.m.off)
				if b != nil {
					s.send(b) // the frames read before the fault
				}
				s.errOff = -1
				err = fmt.Errorf("%w: the file shrank while it was read", ErrTruncated)
				return
			}
			panic(r)
		}
	}()
	lt := s.f.LinkType()
	// h % shards is a 64-bit division for every TCP frame, in this serial
	// goroutine: the owner's line held 210 of read's 570 ms of own samples
	// over 40 ops of BenchmarkSplitterWalk (1 GB capture), none with the
	// mask. For a power of two (2 workers) h & mask is the same owner.
	shards := uint64(s.n)
	mask, pow2 := shards-1, shards&(shards-1) == 0
	first, lastFlush := true, int64(0)
	b = s.batch()
	if b == nil {
		return nil
	}
	m := s.m
	for {
		// The record walk is m.record's (no CaptureInfo); anything it
		// does not take (the end, a bad or cut record) goes through the
		// File, for the error and offset a single reader reports.
		o, n, orig, ts, ok := m.record()
		if !ok {
			s.f.good = int64(m.off)
			data, ci, err := s.f.ZeroCopyReadPacketData()
			if err != nil {
				s.send(b)
				b = nil
				if err == io.EOF {
					return nil
				}
				s.errOff = s.f.TruncatedOffset()
				return err
			}
			// record refuses no record next accepts; should they ever
			// disagree, this one is taken as next read it.
			o, n, orig, ts = m.off-len(data), len(data), ci.Length, ci.Timestamp.UnixNano()
		}
		off := int64(o)
		data := m.data[o : o+n : o+n]
		// Analyzer.tick's decision, on the same times (nanoseconds of
		// timestamps from 1970 on: the difference cannot overflow).
		visit := first || ts-lastFlush >= int64(flushInterval)
		if visit {
			first, lastFlush = false, ts
		}
		// Field by field: a frameRef built whole went through the stack.
		// seg is left as it was (from an earlier batch) unless set fills it:
		// it is read only for a frame with an owner.
		b.refs = b.refs[:len(b.refs)+1]
		r := &b.refs[len(b.refs)-1]
		r.off, r.n, r.orig, r.ts, r.owner, r.visit = off, int32(n), int32(orig), ts, -1, visit
		// The peek decoder reads no CaptureInfo (it holds no fragments).
		if s.dec.decodeFrame(lt, data) == "" {
			if h, ok := r.seg.set(s.dec, data); ok {
				if pow2 {
					r.owner = int32(h & mask)
				} else {
					r.owner = int32(h % shards)
				}
			}
		}
		if len(b.refs) == cap(b.refs) {
			b.end = int64(s.m.off)
			s.send(b)
			if b = s.batch(); b == nil {
				return nil // Close: nobody reads any more
			}
		}
	}
}

// batch returns an empty batch, waiting for one to come back if all are in
// flight; the pages of a batch every shard is done with are given back.
func (s *Splitter) batch() *frameBatch {
	var b *frameBatch
	select {
	case b = <-s.free:
	case <-s.done:
		return nil
	}
	if b.end > 0 {
		s.m.releaseTo(int(b.end))
	}
	b.refs, b.end = b.refs[:0], 0
	b.left.Store(int32(s.n))
	return b
}

func (s *Splitter) send(b *frameBatch) {
	for _, sh := range s.shards {
		sh.ch <- b
	}
}

// Close stops Run if it is still reading and waits for it to return; call
// it after every shard's Analyzer has returned and before closing the file.
func (s *Splitter) Close() {
	if !s.closed.Swap(true) {
		close(s.done)
	}
	<-s.ended
}

// ShardSource is what one shard's Analyzer reads from a Splitter: every
// frame of the file, each with its owner.
type ShardSource struct {
	s     *Splitter
	shard int
	ch    chan *frameBatch
	cur   *frameBatch
	i     int
	owner int32     // of the frame last returned
	ref   *frameRef // the frame last returned
	// frames nextOwn passed over since the Analyzer last took them
	// (skipped): their number, bytes and latest time
	skipN, skipBytes uint64
	skipLast         int64
}

// ZeroCopyReadPacketData returns the next frame; its bytes stay valid until
// the file is closed. Frames of other shards come too (see Splitter).
func (ss *ShardSource) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	for ss.cur == nil || ss.i == len(ss.cur.refs) {
		if ss.cur != nil && ss.cur.left.Add(-1) == 0 {
			ss.s.free <- ss.cur
		}
		b, ok := <-ss.ch
		if !ok {
			ss.cur = nil
			if ss.s.err != nil {
				return nil, gopacket.CaptureInfo{}, ss.s.err
			}
			return nil, gopacket.CaptureInfo{}, io.EOF
		}
		ss.cur, ss.i = b, 0
	}
	r := &ss.cur.refs[ss.i]
	ss.i++
	ss.owner, ss.ref = r.owner, r
	ci := gopacket.CaptureInfo{Timestamp: time.Unix(0, r.ts).UTC(), CaptureLength: int(r.n), Length: int(r.orig)}
	return ss.s.m.data[r.off : r.off+int64(r.n) : r.off+int64(r.n)], ci, nil
}

// nextOwn returns the next frame this shard must see (its own, those every
// shard decodes, and those marked visit), passing over the others and
// counting them in skipN, skipBytes and skipLast, which the caller takes
// and clears. At the end of a batch with frames passed over it returns a
// nil frame and no error, so the caller accounts for them before nextOwn
// waits for the next batch (the frame numbers a shard reports through
// Config.Progress must not wait on the other shards).
func (ss *ShardSource) nextOwn() (*frameRef, []byte, error) {
	me := int32(ss.shard)
	for {
		if ss.cur != nil {
			refs := ss.cur.refs
			for ss.i < len(refs) {
				r := &refs[ss.i]
				ss.i++
				if r.owner == me || r.owner < 0 || r.visit {
					ss.owner, ss.ref = r.owner, r
					return r, ss.s.m.data[r.off : r.off+int64(r.n) : r.off+int64(r.n)], nil
				}
				ss.skipN++
				ss.skipBytes += uint64(r.n)
				ss.skipLast = max(ss.skipLast, r.ts)
			}
			if ss.skipN > 0 {
				return nil, nil, nil
			}
			if ss.cur.left.Add(-1) == 0 {
				ss.s.free <- ss.cur
			}
			ss.cur = nil
		}
		b, ok := <-ss.ch
		if !ok {
			if ss.s.err != nil {
				return nil, nil, ss.s.err
			}
			return nil, nil, io.EOF
		}
		ss.cur, ss.i = b, 0
	}
}

// Done says this shard reads no more (its Analyzer returned): the frames
// still coming are let go, so the other shards are not held up.
func (ss *ShardSource) Done() {
	if ss.cur != nil && ss.cur.left.Add(-1) == 0 {
		ss.s.free <- ss.cur
	}
	ss.cur = nil
	go func() {
		for b := range ss.ch {
			if b.left.Add(-1) == 0 {
				ss.s.free <- b
			}
		}
	}()
}

// ReadPacketData is ZeroCopyReadPacketData with a copy.
func (ss *ShardSource) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := ss.ZeroCopyReadPacketData()
	if err != nil {
		return nil, ci, err
	}
	return append([]byte(nil), data...), ci, nil
}

// skip reports whether the frame last returned belongs to another shard.
func (ss *ShardSource) skip() bool { return ss.owner >= 0 && int(ss.owner) != ss.shard }

// decoded returns the segment the Splitter decoded from the frame last
// returned if it belongs to this shard, else nil (the frame is to be
// decoded).
func (ss *ShardSource) decoded() *segRef {
	if int(ss.owner) != ss.shard {
		return nil
	}
	return &ss.ref.seg
}

func (ss *ShardSource) LinkType() layers.LinkType   { return ss.s.f.LinkType() }
func (ss *ShardSource) RawLinkType() int            { return ss.s.f.RawLinkType() }
func (ss *ShardSource) TruncatedOffset() int64      { return ss.s.errOff }
func (ss *ShardSource) Mapped() bool                { return true }
func (ss *ShardSource) inMapping(addr uintptr) bool { return ss.s.f.inMapping(addr) }
func (ss *ShardSource) mapping() []byte             { return ss.s.f.mapping() }
