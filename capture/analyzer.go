package capture

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"
)

// BufferPageSize is the unit of the buffered-page limits: the reassembler's
// page, which holds up to 1900 bytes of one segment (a 1-byte out-of-order
// segment costs a whole page).
const BufferPageSize = 1900

// Defaults for the zero values of Config.
const (
	DefaultIdleTimeout             = 2 * time.Minute
	DefaultMaxBufferedPagesTotal   = 64 << 20 / pageSize // about 64 MiB
	DefaultMaxBufferedPagesPerConn = 4 << 20 / pageSize  // about 4 MiB
	DefaultMaxConns                = 1_000_000
	DefaultMaxFragmentBytes        = 16 << 20

	pageSize      = BufferPageSize
	flushInterval = time.Minute
	bpfSnaplen    = 262144
)

// Config tunes an Analyzer; zero fields take the defaults above.
type Config struct {
	Filter                  string        // BPF expression, as tcpdump -r; "" keeps everything
	IdleTimeout             time.Duration // capture time without packets before a connection is closed
	MaxBufferedPagesTotal   int           // out-of-order pages (1900 bytes) buffered in all
	MaxBufferedPagesPerConn int           // and per connection; over it the oldest hole becomes a gap
	MaxConns                int           // connections tracked at once; over it the least recently active is closed
	MaxFragmentBytes        int           // IPv4 fragments held for reassembly (bytes + 256 each, estimated); over it incomplete datagrams are discarded

	// Shard and Shards split one capture's connections among Shards
	// Analyzers that all read every packet (Shards > 1): this one keeps the
	// TCP segments whose symmetric flow hash modulo Shards is Shard and skips
	// the others, so frame numbers stay the file's. The MaxConns and
	// MaxBufferedPagesTotal limits are divided among the shards. Per-frame
	// counters (Packets, Bytes, FilteredOut, Skipped, fragments, times,
	// truncation) count every frame in every shard: combine shard Stats
	// with MergeShards.
	Shard, Shards int

	// Progress, when set, is called just after frame numbers 1024, 2048,
	// … are read and before they are processed: everything the Analyzer
	// hands on from then on happens at that frame or later. With Frame it
	// lets a consumer merge several shards' output in frame order.
	Progress func(frame uint64)
}

// progressEvery is how often Config.Progress is called, in frames.
const progressEvery = 1024

// Stats counts what an Analyzer saw. Add sums the Stats of several files.
type Stats struct {
	Packets     uint64 // frames read (frame numbers run 1..Packets)
	Bytes       uint64 // captured bytes of those frames
	FilteredOut uint64 // frames the BPF filter rejected
	Decoded     uint64 // TCP segments handed to reassembly
	Skipped     map[string]uint64

	Fragments          uint64 // IPv4 fragments seen
	Reassembled        uint64 // IPv4 datagrams rebuilt from fragments
	FragmentsDiscarded uint64 // fragments dropped (bad, over limits, timed out)
	SnaplenTruncated   uint64 // TCP segments cut by the snap length

	Streams          uint64 // TCP connections the reassembler tracked, each started by a SYN or a segment with data (also those that never carried a byte)
	Untracked        uint64 // segments with neither SYN nor data on no tracked connection (a closed connection's last ACK, say): not tracked
	ConnsOpened      uint64 // Handler.Open calls
	ConnsClosed      uint64 // Conn.Close calls (equals ConnsOpened after Run)
	ConnsIdleFlushed uint64 // of those, closed for idleness
	ConnsOverLimit   uint64 // connections closed early (least recently active first) to stay within Config.MaxConns

	Gaps           uint64 // Conn.Gap calls
	GapBytes       uint64 // bytes they skipped (unknown sizes not counted)
	BufferOverruns uint64 // gaps forced by the buffered-page limits
	OverlapBytes   uint64 // retransmitted/overlapping bytes not delivered again
	// OverlapConflicts counts segments repeating the sequence range of a
	// recent segment with different bytes: an evasion attempt (Ptacek and
	// Newsham). For bytes already delivered the first copy wins; for bytes
	// still buffered out of order the last copy wins (as gopacket's
	// reassembly did).
	OverlapConflicts uint64
	DeliveredBytes   uint64 // bytes handed to Conn.Data

	Truncated       bool  // the file ended inside a record
	TruncatedOffset int64 // where that record starts
	FirstTime       time.Time
	LastTime        time.Time
}

// MergeShards combines the Stats of the Analyzers that split one capture
// (Config.Shards): per-frame counters are taken from the first shard (each
// shard saw every frame), per-connection counters are summed.
func MergeShards(shards []Stats) Stats {
	if len(shards) == 0 {
		return Stats{}
	}
	out := shards[0]
	out.Skipped = make(map[string]uint64, len(shards[0].Skipped))
	for k, v := range shards[0].Skipped {
		out.Skipped[k] = v
	}
	for _, o := range shards[1:] {
		out.Decoded += o.Decoded
		out.SnaplenTruncated += o.SnaplenTruncated
		out.Streams += o.Streams
		out.Untracked += o.Untracked
		out.ConnsOpened += o.ConnsOpened
		out.ConnsClosed += o.ConnsClosed
		out.ConnsIdleFlushed += o.ConnsIdleFlushed
		out.ConnsOverLimit += o.ConnsOverLimit
		out.Gaps += o.Gaps
		out.GapBytes += o.GapBytes
		out.BufferOverruns += o.BufferOverruns
		out.OverlapBytes += o.OverlapBytes
		out.OverlapConflicts += o.OverlapConflicts // per connection too: was taken from shard 0 alone
		out.DeliveredBytes += o.DeliveredBytes
	}
	return out
}

// Add adds o's counts to s.
func (s *Stats) Add(o Stats) {
	s.Packets += o.Packets
	s.Bytes += o.Bytes
	s.FilteredOut += o.FilteredOut
	s.Decoded += o.Decoded
	if len(o.Skipped) > 0 && s.Skipped == nil {
		s.Skipped = make(map[string]uint64, len(o.Skipped))
	}
	for k, v := range o.Skipped {
		s.Skipped[k] += v
	}
	s.Fragments += o.Fragments
	s.Reassembled += o.Reassembled
	s.FragmentsDiscarded += o.FragmentsDiscarded
	s.SnaplenTruncated += o.SnaplenTruncated
	s.Streams += o.Streams
	s.Untracked += o.Untracked
	s.ConnsOpened += o.ConnsOpened
	s.ConnsClosed += o.ConnsClosed
	s.ConnsIdleFlushed += o.ConnsIdleFlushed
	s.ConnsOverLimit += o.ConnsOverLimit
	s.Gaps += o.Gaps
	s.GapBytes += o.GapBytes
	s.BufferOverruns += o.BufferOverruns
	s.OverlapBytes += o.OverlapBytes
	s.OverlapConflicts += o.OverlapConflicts
	s.DeliveredBytes += o.DeliveredBytes
	if o.Truncated && !s.Truncated {
		s.Truncated, s.TruncatedOffset = true, o.TruncatedOffset
	}
	if !o.FirstTime.IsZero() && (s.FirstTime.IsZero() || o.FirstTime.Before(s.FirstTime)) {
		s.FirstTime = o.FirstTime
	}
	if o.LastTime.After(s.LastTime) {
		s.LastTime = o.LastTime
	}
}

// Analyzer decodes the packets of one capture, reassembles TCP and drives a
// Handler's Conns, all in the goroutine that calls Run. Frame numbers start
// at 1 per Analyzer: use one per file.
type Analyzer struct {
	cfg   Config
	h     Handler
	dec   *decoder
	frame uint64    // number of the current frame
	ts    time.Time // capture time of the current segment
	stats Stats
	bpf   map[layers.LinkType]*pcap.BPF

	// the TCP reassembler (tcp.go)
	conns        map[connKey]*stream
	flows        *[1 << flowBits]*stream // a cache of conns (assemble)
	live         int                     // streams in conns
	lru          []*stream               // live streams by activity, least recent first, and nils (tcp.go)
	lruFront     int                     // lru[:lruFront] is dropped
	pages        int                     // buffered pages in use
	freePages    []*page                 // released pages, for reuse
	freeStreams  []*stream               // forgotten streams, for reuse
	dead         []*stream               // forgotten during this packet: reused from the next
	chunkBuf     []chunk                 // reused by insert
	span         [1]Span                 // reused for every Conn.Data call
	idleFlushing bool
	lastFlush    time.Time
	ran          bool
	// mapping is the source's file mapping, whose packet bytes stay valid
	// until the file is closed: recorded segments lying in it are
	// compared there instead of being hashed (segSum).
	mapping []byte
}

// NewAnalyzer makes an Analyzer that opens a Conn on h for each connection.
// A Filter that does not compile is an error only once Run knows the link
// type; NewAnalyzer checks it against Ethernet.
func NewAnalyzer(cfg Config, h Handler) (*Analyzer, error) {
	if h == nil {
		return nil, errors.New("capture: nil Handler")
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxBufferedPagesTotal <= 0 {
		cfg.MaxBufferedPagesTotal = DefaultMaxBufferedPagesTotal
	}
	if cfg.MaxBufferedPagesPerConn <= 0 {
		cfg.MaxBufferedPagesPerConn = DefaultMaxBufferedPagesPerConn
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.Shards > 1 {
		if cfg.Shard < 0 || cfg.Shard >= cfg.Shards {
			return nil, fmt.Errorf("capture: shard %d of %d", cfg.Shard, cfg.Shards)
		}
		cfg.MaxConns = max(1, cfg.MaxConns/cfg.Shards)
		cfg.MaxBufferedPagesTotal = max(1, cfg.MaxBufferedPagesTotal/cfg.Shards)
	}
	if cfg.MaxFragmentBytes <= 0 {
		cfg.MaxFragmentBytes = DefaultMaxFragmentBytes
	}
	a := &Analyzer{cfg: cfg, h: h, dec: newDecoder(cfg.MaxFragmentBytes), bpf: map[layers.LinkType]*pcap.BPF{}, conns: map[connKey]*stream{}, flows: new([1 << flowBits]*stream)}
	a.stats.Skipped = map[string]uint64{}
	if cfg.Filter != "" {
		if _, err := a.filter(layers.LinkTypeEthernet); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Stats returns a copy of the counters so far.
func (a *Analyzer) Stats() Stats {
	s := a.stats
	s.Skipped = make(map[string]uint64, len(a.stats.Skipped))
	for k, v := range a.stats.Skipped {
		s.Skipped[k] = v
	}
	s.Fragments = a.dec.fragments
	s.Reassembled = a.dec.reassembled
	s.FragmentsDiscarded = a.dec.fragDiscarded
	return s
}

// bpfLinkType maps LINKTYPE_ values that differ from DLT_ values.
func bpfLinkType(lt layers.LinkType) layers.LinkType {
	switch lt {
	case layers.LinkTypeRaw: // LINKTYPE_RAW 101 is DLT_RAW 12
		return linkTypeRawAlt1
	}
	return lt
}

func (a *Analyzer) filter(lt layers.LinkType) (*pcap.BPF, error) {
	if f, ok := a.bpf[lt]; ok {
		return f, nil
	}
	f, err := pcap.NewBPF(bpfLinkType(lt), bpfSnaplen, a.cfg.Filter)
	if err != nil {
		return nil, fmt.Errorf("capture: filter %q (link type %s): %w", a.cfg.Filter, lt, err)
	}
	a.bpf[lt] = f
	return f, nil
}

// Run reads src until io.EOF, then flushes and closes every connection (also
// when it stops on an error). It returns nil, an error wrapping ErrTruncated
// (every packet before the bad record was processed), or another error. Run
// may be called once per Analyzer.
func (a *Analyzer) Run(src Source) error {
	if a.ran {
		return errors.New("capture: Analyzer.Run called twice")
	}
	a.ran = true
	fileLT := src.LinkType()
	raw := int(fileLT)
	if r, ok := src.(interface{ RawLinkType() int }); ok {
		raw = r.RawLinkType()
	}
	if !supportedLinkType(fileLT) || (raw > 255 && raw != 276) {
		return linkTypeError(raw)
	}
	if a.cfg.Filter != "" {
		if _, err := a.filter(fileLT); err != nil {
			return err
		}
	}
	plt, _ := src.(PacketLinkTyper)
	if ms, ok := src.(mappedSource); ok && ms.Mapped() {
		a.mapping = ms.mapping()
	}
	err := a.guardedLoop(src, fileLT, plt)
	a.flushAll()
	return err
}

// zeroCopySource is a Source that can hand out packets without copying
// them (*File, *pcap.Handle, *pcapgo.Reader): the Analyzer keeps no packet
// bytes past the call.
type zeroCopySource interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

func (a *Analyzer) loop(src Source, fileLT layers.LinkType, plt PacketLinkTyper) error {
	read := src.ReadPacketData
	ss, _ := src.(*ShardSource)
	// the Splitter's shards are this Analyzer's: its decoded segments are ours
	splitShards := ss != nil && ss.s.n == a.cfg.Shards && ss.shard == a.cfg.Shard
	if splitShards && a.cfg.Filter == "" && plt == nil {
		return a.splitLoop(ss, fileLT)
	}
	if zc, ok := src.(zeroCopySource); ok {
		read = zc.ZeroCopyReadPacketData
	}
	for {
		data, ci, err := read()
		if err == pcap.NextErrorTimeoutExpired {
			continue
		}
		if err != nil {
			return a.readError(src, err)
		}
		a.frame++
		if a.cfg.Progress != nil && a.frame%progressEvery == 0 {
			a.cfg.Progress(a.frame)
		}
		ts := ci.Timestamp
		a.count(len(data), ts)
		lt := fileLT
		if plt != nil {
			lt = plt.PacketLinkType(ci)
		}
		if a.cfg.Filter != "" {
			f, err := a.filter(lt)
			if err != nil {
				return err
			}
			if !f.Matches(ci, data) {
				a.stats.FilteredOut++
				a.tick(ts)
				continue
			}
		}
		a.tick(ts) // before the packet: a connection idle too long ends first
		if ss != nil {
			if ss.skip() {
				continue // another shard's connection (the Splitter decoded it)
			}
			if seg := ss.decoded(); seg != nil && splitShards {
				a.splitSegment(seg, data, ts, ci.CaptureLength < ci.Length)
				continue
			}
		}
		a.packet(lt, data, ci)
	}
}

// readError ends a run on a read error as loop does: nil for the end of
// the input, else the error to return (the run is marked truncated).
func (a *Analyzer) readError(src Source, err error) error {
	switch {
	case err == io.EOF:
		return nil
	case errors.Is(err, ErrTruncated):
	case errors.Is(err, io.ErrUnexpectedEOF), err == pcap.NextErrorReadError:
		err = fmt.Errorf("%w: after frame %d: %v", ErrTruncated, a.frame, err)
	default:
		return fmt.Errorf("capture: reading after frame %d: %w", a.frame, err)
	}
	a.stats.Truncated = true
	a.stats.TruncatedOffset = -1
	if f, ok := src.(interface{ TruncatedOffset() int64 }); ok {
		a.stats.TruncatedOffset = f.TruncatedOffset()
	}
	return err
}

// splitLoop is loop for a shard of a Splitter (no filter): it looks only at
// the frames of its own connections, those every shard decodes, and those
// the Splitter marked visit (the file's first frame and the frames at which
// the idle flush runs, which the Splitter finds as tick does), and counts
// the others in bulk. Frame numbers, per-frame counters, idle flushes and
// Progress calls are those of loop, which looks at every frame.
func (a *Analyzer) splitLoop(ss *ShardSource, lt layers.LinkType) error {
	// stats.LastTime in Unix nanoseconds, which the frames' times come in:
	// comparing those is what count's and the skip's time.After did (two
	// calls a frame: callgrind counted 14.8M instructions fewer on the 100 MB
	// benchmark capture, 1.3% of the run).
	lastNs := nanosOf(a.stats.LastTime)
	// No read-ahead of a batch's streams (Analyzer.warm, removed): with
	// this session's cheaper per-segment work it no longer paid for its
	// reads (1.3% of the run's instructions, callgrind, 100 MB capture);
	// without it the 1 GB CLI run used less CPU in 30 of 42 interleaved
	// pairs (mean -54 ms), on a loaded machine.
	for {
		r, data, err := ss.nextOwn()
		if ss.skipN > 0 {
			from := a.frame
			a.frame += ss.skipN
			a.stats.Packets += ss.skipN
			a.stats.Bytes += ss.skipBytes
			if ss.skipLast > lastNs {
				lastNs, a.stats.LastTime = ss.skipLast, time.Unix(0, ss.skipLast).UTC()
			}
			ss.skipN, ss.skipBytes, ss.skipLast = 0, 0, 0
			if a.cfg.Progress != nil {
				for f := (from/progressEvery + 1) * progressEvery; f <= a.frame; f += progressEvery {
					a.cfg.Progress(f)
				}
			}
		}
		if err != nil {
			return a.readError(ss, err)
		}
		if r == nil {
			continue // the end of a batch
		}
		a.frame++
		if a.cfg.Progress != nil && a.frame%progressEvery == 0 {
			a.cfg.Progress(a.frame)
		}
		ts := time.Unix(0, r.ts).UTC()
		// count(len(data), ts), its time compared in nanoseconds
		a.stats.Packets++
		a.stats.Bytes += uint64(len(data))
		if a.stats.FirstTime.IsZero() {
			a.stats.FirstTime = ts
			a.lastFlush = ts
		}
		if r.ts > lastNs {
			lastNs, a.stats.LastTime = r.ts, ts
		}
		// tick flushes at the frames the Splitter marked visit and at no
		// other (it made tick's decision, on the same times, for every
		// frame: Splitter.read); elsewhere tick would return at once, after
		// a time.Sub that was 4% of a shard's capture-side CPU time.
		if r.visit {
			a.tick(ts)
		}
		switch r.owner {
		case int32(ss.shard):
			a.splitSegment(&r.seg, data, ts, r.n < r.orig)
		case -1:
			a.packet(lt, data, gopacket.CaptureInfo{Timestamp: ts, CaptureLength: int(r.n), Length: int(r.orig)})
		}
	}
}

// Packet processes one frame as Run does (frame numbers count its calls);
// for sources that are not pull-style. Call Finish after the last one.
func (a *Analyzer) Packet(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) {
	a.frame++
	if a.cfg.Progress != nil && a.frame%progressEvery == 0 {
		a.cfg.Progress(a.frame)
	}
	a.stats.Packets++
	a.stats.Bytes += uint64(len(data))
	if a.stats.FirstTime.IsZero() {
		a.stats.FirstTime = ci.Timestamp
		a.lastFlush = ci.Timestamp
	}
	if ci.Timestamp.After(a.stats.LastTime) {
		a.stats.LastTime = ci.Timestamp
	}
	a.tick(ci.Timestamp)
	a.packet(lt, data, ci)
}

// Frame is the number of the frame being processed (the last one read): a
// Conn's calls happen while it is current. During the final flush it is the
// number of frames read.
func (a *Analyzer) Frame() uint64 { return a.frame }

// Finish flushes and closes every connection, as Run does at the end.
func (a *Analyzer) Finish() { a.flushAll() }

func (a *Analyzer) packet(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) {
	if kind := a.dec.decode(lt, data, ci); kind != "" {
		if kind != skipFragHeld { // held fragments are counted in Fragments, not lost
			a.stats.Skipped[kind]++
		}
		return
	}
	if a.cfg.Shards > 1 {
		if k, _ := a.dec.key(); k.hash()%uint64(a.cfg.Shards) != uint64(a.cfg.Shard) {
			return // another shard's connection
		}
	}
	a.tcpSegment(ci)
}

// tcpSegment reassembles the TCP segment in a.dec, of the frame with ci.
func (a *Analyzer) tcpSegment(ci gopacket.CaptureInfo) {
	a.stats.Decoded++
	if ci.CaptureLength < ci.Length {
		a.stats.SnaplenTruncated++
	}
	a.ts = ci.Timestamp
	a.assemble()
}

// splitSegment reassembles the TCP segment the Splitter decoded from frame
// data, captured at ts; truncated says the snap length cut the frame.
// (Built for the frame, a CaptureInfo, copied whole into the Analyzer,
// was a fifth of splitLoop's own time.)
func (a *Analyzer) splitSegment(seg *segRef, data []byte, ts time.Time, truncated bool) {
	seg.load(a.dec, data)
	a.stats.Decoded++
	if truncated {
		a.stats.SnaplenTruncated++
	}
	a.ts = ts
	a.assembleKey(&seg.key, seg.srcLo(), seg.slot())
}

// tick runs the idle flush every minute of capture time.
func (a *Analyzer) tick(ts time.Time) {
	if ts.Sub(a.lastFlush) < flushInterval {
		return
	}
	a.lastFlush = ts
	a.flushOlderThan(ts.Add(-a.cfg.IdleTimeout))
	a.dec.discardFragments(ts.Add(-a.cfg.IdleTimeout))
}

// nanosOf returns t in Unix nanoseconds for comparing with frames' times
// (time.Unix(0, ns).UTC()): ns > nanosOf(t) exactly when that time is
// after t. The zero Time, and times before 1678 that nanoseconds cannot
// hold, give the least int64 (every frame is after them); times after 2262
// the greatest (no frame is).
func nanosOf(t time.Time) int64 {
	switch {
	case t.IsZero() || t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// count adds a frame of n bytes captured at ts to the statistics; the
// first frame's time also starts the idle-flush clock.
func (a *Analyzer) count(n int, ts time.Time) {
	a.stats.Packets++
	a.stats.Bytes += uint64(n)
	if a.stats.FirstTime.IsZero() {
		a.stats.FirstTime = ts
		a.lastFlush = ts
	}
	if ts.After(a.stats.LastTime) {
		a.stats.LastTime = ts
	}
}
