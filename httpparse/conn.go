package httpparse

import (
	"bytes"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// Limits bound what one Conn keeps. Zero fields take their defaults.
type Limits struct {
	// MaxHeaderBytes bounds one header block including its start line
	// (default 64 KiB). Over it: the complete lines so far are emitted with
	// Truncated set, "header-too-large" is counted and the side resyncs. It
	// also bounds a trailer section and a buffered TLS ClientHello, so it is
	// the per-side buffer bound (a chunk-size line is bounded by the
	// smaller of it and 4 KiB).
	MaxHeaderBytes int
	// MaxPending bounds unanswered requests per connection (default 100, as
	// Zeek's max_pending_requests); over it the oldest is dropped and
	// "too-many-pending" counted.
	MaxPending int
	// MaxScanBytes bounds how far a side of a connection not yet recognised
	// as HTTP or TLS is scanned for an HTTP start line before that side is
	// given up (default 64 KiB). Once the connection is known to be HTTP,
	// resynchronising scans are not bounded in bytes (they keep no data).
	MaxScanBytes int
}

const (
	defaultMaxHeaderBytes = 64 << 10
	defaultMaxPending     = 100
	defaultMaxScanBytes   = 64 << 10
	maxChunkLine          = 4 << 10 // chunk-size line with extensions
	smallBuffer           = 8 << 10 // pending requests' head buffers above this are not reused
	pooledBuffer          = 1 << 10 // size of the pooled buffers a side starts with (bufPool)
	bigBuffer             = 8 << 10 // size of the pooled buffers a side grows into (bigPool)
)

// bufPool holds the buffers sides start with. A side takes one when it
// first needs to buffer bytes and gives it back when it lets go of its buffer
// (end of connection, tunnel, TLS hello read, giving up, an oversized block),
// so the connections of a capture share a few hundred buffers instead of
// each side growing its own from nothing (that growth was 14 MB and 60,000
// allocations per GB of capture). Nothing keeps a reference into a side's
// buffer past the call that filled it: messages are built from copies.
var bufPool = sync.Pool{New: func() any { return new([pooledBuffer]byte) }}

func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if l.MaxHeaderBytes < 64 {
		l.MaxHeaderBytes = 64
	}
	if l.MaxPending <= 0 {
		l.MaxPending = defaultMaxPending
	}
	if l.MaxScanBytes <= 0 {
		l.MaxScanBytes = defaultMaxScanBytes
	}
	return l
}

// Stats counts what Conns saw. A Stats is not safe for concurrent use: give
// each goroutine (shard) its own and merge them with Add.
type Stats struct {
	Requests, Responses uint64
	Orphans             uint64 // final responses with no pending request
	TLSConns            uint64 // connections recognised as TLS
	HTTPConns           uint64 // connections recognised as HTTP/1.x
	OtherConns          uint64 // connections with data that were neither, counted at Close
	Gaps                uint64 // Gap calls
	Resyncs             uint64 // times a side found a message start again after skipping bytes
	TruncatedHeaders    uint64 // header blocks emitted with Truncated set
	Tunnels             uint64 // 101 Switching Protocols or 2xx to CONNECT: parsing stopped
	// Anomalies counts trouble by kind, like Zeek's "weird" log:
	// "bad-start-line", "header-too-large", "bare-lf", "obs-fold", "bad-fold",
	// "bad-header-line", "space-before-colon", "bad-content-length",
	// "bad-transfer-encoding", "te-and-cl", "bad-chunk-size", "bad-chunk-end",
	// "too-many-pending", "data-while-waiting", "tls-hello-too-large",
	// "bad-tls-hello", "tls-hello-truncated", "internal-stall" (a parser bug; report it).
	Anomalies map[string]uint64
}

// Add adds o's counts to s.
func (s *Stats) Add(o *Stats) {
	s.Requests += o.Requests
	s.Responses += o.Responses
	s.Orphans += o.Orphans
	s.TLSConns += o.TLSConns
	s.HTTPConns += o.HTTPConns
	s.OtherConns += o.OtherConns
	s.Gaps += o.Gaps
	s.Resyncs += o.Resyncs
	s.TruncatedHeaders += o.TruncatedHeaders
	s.Tunnels += o.Tunnels
	for k, v := range o.Anomalies {
		s.anomalyN(k, v)
	}
}

func (s *Stats) anomaly(kind string) { s.anomalyN(kind, 1) }

func (s *Stats) anomalyN(kind string, n uint64) {
	if s.Anomalies == nil {
		s.Anomalies = make(map[string]uint64)
	}
	s.Anomalies[kind] += n
}

// state is where a side's byte stream is.
type state uint8

const (
	stDetect     state = iota // no byte seen yet: TLS record or HTTP start line?
	stLine                    // at a line beginning: collecting a candidate start line in buf
	stSkipLine                // resynchronising: skipping to the next LF
	stHeader                  // collecting a header block in buf
	stBody                    // Content-Length body: remain bytes to skip
	stChunkSize               // collecting a chunk-size line in buf
	stChunkData               // remain bytes of chunk data to skip
	stChunkEnd                // the CRLF after chunk data
	stTrailer                 // trailer lines until an empty one (not emitted)
	stUntilClose              // response body delimited by the end of the connection
	stTLS                     // buffering a TLS ClientHello in buf
	stWait                    // client after CONNECT or Upgrade: waiting for the response
	stOff                     // given up, tunnel or TLS: bytes are dropped
)

// sideState is one direction's parser. Its memory is buf, bounded by
// Limits.MaxHeaderBytes. The fields every delivery reads (st, the flags,
// remain, buf, lineStart) come first, so they share the cache line that
// Data's first read of the side brings in.
type sideState struct {
	st        state
	syncing   bool  // looking for a message start after losing sync: failures are silent
	skipped   bool  // bytes were skipped since the last message start
	midLine   bool  // stLine: not at a line beginning (hunting for a status line)
	seen      bool  // data or a gap arrived on this side
	gaveUp    bool  // scanned past MaxScanBytes without recognising anything
	remain    int64 // stBody, stChunkData
	buf       []byte
	lineStart int // stHeader, stTrailer: offset in buf of the current line
	lastFrame uint64
	lastTime  time.Time           // of the last complete line's LF in buf
	scanned   int                 // bytes scanned while the connection was unrecognised
	pooled    *[pooledBuffer]byte // buf's first storage, from bufPool (buf may have outgrown it)
	big       *[bigBuffer]byte    // buf's storage once it outgrew pooled, from bigPool (grow)
}

// bigPool holds the storage of side buffers that outgrow their pooled
// buffer (grow): TLS ClientHellos of more than one segment (1.5 to 2 KiB
// with post-quantum key shares) and heads straddling deliveries each grew
// a buffer of their own.
var bigPool = sync.Pool{New: func() any { return new([bigBuffer]byte) }}

// grow makes room in buf for n more bytes (of at most max in all) before
// an append: past the pooled buffer, buf moves to one from bigPool while it
// fits there; past that, append grows it as before.
func (s *sideState) grow(n, max int) {
	need := len(s.buf) + n
	if need <= cap(s.buf) || s.big != nil || need > bigBuffer {
		return
	}
	s.big = bigPool.Get().(*[bigBuffer]byte)
	s.buf = append(s.big[:0:min(bigBuffer, max)], s.buf...)
}

// take gives the side a pooled buffer, with room for at most max bytes
// before growing, if it has none; call it before appending to buf.
func (s *sideState) take(max int) {
	if s.buf == nil {
		if s.pooled == nil {
			s.pooled = bufPool.Get().(*[pooledBuffer]byte)
		}
		s.buf = s.pooled[:0:min(pooledBuffer, max)]
	}
}

// release drops the side's buffer, returning its pooled storage.
func (s *sideState) release() {
	if s.pooled != nil {
		bufPool.Put(s.pooled)
		s.pooled = nil
	}
	if s.big != nil {
		bigPool.Put(s.big)
		s.big = nil
	}
	s.buf = nil
}

// Conn parses the two byte streams of one TCP connection into HTTP/1.x
// messages, push-style: it never blocks and starts no goroutine. Which side is
// the client is decided from content (a request line or a status line), never
// from ports. Bodies are skipped without being copied. A Conn is not safe for
// concurrent use.
type Conn struct {
	side    [2]sideState // first: what every Data call reads (and Data reads nothing before it)
	info    ConnInfo
	h       Handler
	lim     Limits
	st      *Stats
	client  int // index of the client side, -1 until known
	proto   Proto
	sni     string
	tls     *TLSInfo      // allocated when a TLS hello is parsed (tls.go)
	pending []pendingReq  // requests waiting for their final response, oldest first; slots beyond len are reused
	slot0   [1]pendingReq // pending's first storage: most connections never have two requests pending
	closed  bool

	// filter: the Handler wants only some messages (MessageFilter); the
	// others are framed, paired and counted without building a Request or
	// Response.
	filter  MessageFilter
	scratch *[]Header // for a head parsed in place; from scratchPool while a head is handled (putBack)

	// transient: the Handler implements Transient, so messages are built
	// in msgs (from msgsPool while a head is handled: putBack) instead of
	// being allocated, and their strings are not copied.
	transient bool
	msgs      *transientMsgs
}

// transientMsgs is a Transient Conn's storage for the messages it hands
// over: each is built here and valid until the next.
type transientMsgs struct {
	req   Request
	resp  Response
	preq  Request // a response's Request, parsed from its pending slot's head
	cks   []Cookie
	pcks  []Cookie
	scs   []SetCookie
	phdrs []Header
	block []byte // a head that was collected in the side's buffer, copied (complete)
}

var msgsPool = sync.Pool{New: func() any { return new(transientMsgs) }}

// maxReused bounds the elements of a transientMsgs slice kept for reuse
// when it goes back to msgsPool: one hostile message must not pin a large
// buffer in the pool.
const maxReused = 64

// takeMsgs returns the Conn's transientMsgs, taking one from msgsPool if it has none.
func (c *Conn) takeMsgs() *transientMsgs {
	if c.msgs == nil {
		c.msgs = msgsPool.Get().(*transientMsgs)
	}
	return c.msgs
}

// release returns m to msgsPool, dropping storage that grew large. What m
// still points to (the last message's bytes, side and pending buffers, all
// bounded) is not cleared: the next message overwrites it, and clearing
// each time cost more than it frees.
func (m *transientMsgs) release() {
	m.cks = reuse(m.cks, maxReused)
	m.pcks = reuse(m.pcks, maxReused)
	m.scs = reuse(m.scs, maxReused)
	m.phdrs = reuse(m.phdrs, maxReused)
	if cap(m.block) > smallBuffer {
		m.block = nil
	}
	msgsPool.Put(m)
}

// reuse returns s emptied, or nil if its capacity is over max.
func reuse[T any](s []T, max int) []T {
	if cap(s) > max {
		return nil
	}
	return s[:0]
}

// scratchPool holds the Conns' scratch header slices: a Conn takes one for
// a head and gives it back once the head is handled (putBack), so
// connections do not each allocate one, nor hold one while open.
var scratchPool = sync.Pool{New: func() any { return new([]Header) }}

// maxScratch bounds the capacity of a scratch header slice given back to
// scratchPool: a hostile head of thousands of fields must not pin its slice.
const maxScratch = 256

// putBack gives the scratch header slice (cleared after each use) and a
// Transient Conn's message storage back to their pools once a head was
// handled: thousands of connections are open at once, and one that holds
// them from message to message keeps tens of KiB alive each.
func (c *Conn) putBack() {
	if c.scratch != nil {
		if cap(*c.scratch) > maxScratch {
			*c.scratch = nil
		}
		scratchPool.Put(c.scratch)
		c.scratch = nil
	}
	if c.msgs != nil {
		c.msgs.release()
		c.msgs = nil
	}
}

// pendingReq is a request waiting for its response. A request without
// the filter's approval (on a Transient Conn, any request) keeps its header
// block (in a buffer reused from slot to slot) instead of a *Request, which
// is built only if a response that the Handler wants needs it.
type pendingReq struct {
	req       *Request
	head      []byte              // the header block when req is nil
	pooled    *[pooledBuffer]byte // head's first storage, from bufPool, returned at Close (head may have outgrown it)
	frame     uint64
	time      time.Time
	truncated bool
	isHead    bool // method HEAD: the response has no body
	isConnect bool // method CONNECT
}

// NewConn returns a parser for one connection. h may be nil (only Stats are
// kept); st may be nil (counts are discarded).
func NewConn(info ConnInfo, h Handler, lim Limits, st *Stats) *Conn {
	c := new(Conn)
	c.Init(info, h, lim, st)
	return c
}

// Init makes c, wherever it lies, what NewConn returns, so a Handler can
// hold its Conn by value: one allocation for both, and the Conn's state at
// a fixed offset from the Handler's, read together (a Data call through a
// separately allocated Conn waited for two cache misses, one after the
// other). c must not be copied afterwards (it refers to itself).
func (c *Conn) Init(info ConnInfo, h Handler, lim Limits, st *Stats) {
	if st == nil {
		st = &Stats{}
	}
	*c = Conn{info: info, h: h, lim: lim.withDefaults(), st: st, client: -1}
	c.pending = c.slot0[:0]
	if f, ok := h.(MessageFilter); ok {
		c.filter = f
	}
	_, c.transient = h.(Transient)
	c.side[0].syncing, c.side[1].syncing = true, true // not in sync until a message start is seen
}

// Proto reports what the connection was recognised to carry so far:
// ProtoOther once a side gave up scanning and nothing was recognised.
func (c *Conn) Proto() Proto {
	if c.proto == ProtoUnknown && (c.side[0].gaveUp || c.side[1].gaveUp) {
		return ProtoOther
	}
	return c.proto
}

// SNI returns the server_name of a TLS ClientHello seen on the connection, or "".
func (c *Conn) SNI() string { return c.sni }

// spanCursor maps offsets of one Data call's bytes to their Span.
type spanCursor struct {
	spans []Span
	i     int
	base  int // offset of spans[i]
}

func (sc *spanCursor) at(off int) (uint64, time.Time) {
	if len(sc.spans) == 0 {
		return 0, time.Time{}
	}
	for sc.i < len(sc.spans)-1 && off >= sc.base+sc.spans[sc.i].Len {
		sc.base += sc.spans[sc.i].Len
		sc.i++
	}
	return sc.spans[sc.i].Frame, sc.spans[sc.i].Time
}

// Data consumes in-order bytes sent by side sd. data is only valid during the
// call; spans say which frames carried it (their lengths should add up to
// len(data); bytes past the last span are attributed to it).
func (c *Conn) Data(sd Side, data []byte, spans []Span) {
	if sd > 1 || len(data) == 0 {
		return
	}
	// Most deliveries are body bytes that do not finish the body: they
	// only count down what remains (step's stBody, stChunkData and
	// stUntilClose, reached through feed and step, two calls a segment:
	// callgrind counted feed and step 14.8M -> 5.3M instructions on the
	// 100 MB benchmark capture, 0.9% of the run).
	if s := &c.side[sd]; (s.st == stBody || s.st == stChunkData) && int64(len(data)) < s.remain || s.st == stUntilClose {
		s.seen = true
		if s.st != stUntilClose {
			s.remain -= int64(len(data))
		}
		return
	}
	c.data(sd, data, spans)
}

// data is Data past its shortcut.
func (c *Conn) data(sd Side, data []byte, spans []Span) {
	// No c.closed test: Close leaves both sides stOff, which drops the
	// bytes as a side given up does (reading closed, far from the side,
	// was a cache miss per delivery). seen needs no update on a stOff
	// side: it counts only for a connection still unrecognised at Close,
	// whose sides turn stOff only on data or a gap, which set it.
	s := &c.side[sd]
	if s.st == stOff {
		return
	}
	s.seen = true
	// While looking for a message start, the first byte of a delivery (a new
	// segment) is also a candidate, not only a line beginning: a request
	// often starts its own segment after bytes that are not HTTP, such as a
	// SOCKS handshake or a TCP keep-alive probe's garbage byte.
	if s.syncing && (s.st == stSkipLine || (s.st == stLine && s.midLine && len(s.buf) == 0)) {
		s.st, s.midLine = stLine, false
	}
	cur := spanCursor{spans: spans}
	c.feed(int(sd), data, &cur)
}

func (c *Conn) feed(sd int, data []byte, cur *spanCursor) {
	s := &c.side[sd]
	off, stalls := 0, 0
	for off < len(data) {
		if s.st == stOff {
			return
		}
		n := c.step(sd, data[off:], off, cur)
		if n == 0 {
			if stalls++; stalls > 4 {
				c.st.anomaly("internal-stall")
				s.st = stOff
				s.release()
				return
			}
			continue
		}
		stalls = 0
		off += n
	}
}

// step consumes a prefix of data (at offset off of the Data call) in the
// side's current state and returns its length; 0 only when the state changed.
func (c *Conn) step(sd int, data []byte, off int, cur *spanCursor) int {
	s := &c.side[sd]
	switch s.st {
	case stDetect:
		switch {
		case c.proto == ProtoHTTP:
			s.st = stLine
		case (data[0] == recordHandshake || data[0] == recordApplication) && (c.proto == ProtoUnknown || c.proto == ProtoTLS):
			s.st = stTLS
		case c.proto == ProtoTLS:
			s.st = stOff
		default:
			s.st = stLine
		}
		return 0

	case stTLS:
		return c.stepTLS(sd, data, off, cur)

	case stLine:
		return c.stepLine(sd, data, off, cur)

	case stSkipLine:
		i := bytes.IndexByte(data, '\n')
		n := len(data)
		if i >= 0 {
			n = i + 1
			s.st, s.midLine = stLine, false
		}
		s.skipped = true
		c.scan(sd, n)
		return n

	case stHeader:
		return c.stepHeader(sd, data, off, cur)

	case stBody:
		n := int(min(s.remain, int64(len(data))))
		if s.remain -= int64(n); s.remain == 0 {
			c.endMessage(sd)
		}
		return n

	case stChunkSize:
		i := bytes.IndexByte(data, '\n')
		limit := min(maxChunkLine, c.lim.MaxHeaderBytes) // MaxHeaderBytes bounds every buffer of a side
		if i >= 0 && i < limit && len(s.buf) == 0 {
			// The whole line is in this delivery (the usual case): parsed
			// where it lies, as the buffered path below would parse it.
			c.chunkSize(sd, trimEOL(data[:i+1]))
			return i + 1
		}
		chunk := data
		if i >= 0 {
			chunk = data[:i+1]
		}
		if len(s.buf)+len(chunk) > limit {
			c.st.anomaly("bad-chunk-size")
			c.lostSync(sd, stSkipLine)
			return 0
		}
		s.take(c.lim.MaxHeaderBytes) // the initial capacity only: chunk lines are bounded by limit above
		s.buf = append(s.buf, chunk...)
		if i < 0 {
			return len(chunk)
		}
		line := trimEOL(s.buf)
		s.buf = s.buf[:0] // line stays valid: nothing is appended before chunkSize returns
		c.chunkSize(sd, line)
		return len(chunk)

	case stChunkData:
		n := int(min(s.remain, int64(len(data))))
		if s.remain -= int64(n); s.remain == 0 {
			s.st = stChunkEnd
		}
		return n

	case stChunkEnd:
		switch data[0] {
		case '\r':
			if len(data) > 1 && data[1] == '\n' { // CRLF at once: one step instead of two
				s.st = stChunkSize
				return 2
			}
			return 1
		case '\n':
			s.st = stChunkSize
			return 1
		}
		c.st.anomaly("bad-chunk-end")
		s.st = stChunkSize
		return 0

	case stTrailer:
		i := bytes.IndexByte(data, '\n')
		if len(s.buf) == 0 && (i == 0 || (i == 1 && data[0] == '\r')) {
			c.endMessage(sd) // no trailer fields (the usual case): nothing to buffer
			return i + 1
		}
		chunk := data
		if i >= 0 {
			chunk = data[:i+1]
		}
		if len(s.buf)+len(chunk) > c.lim.MaxHeaderBytes {
			c.st.anomaly("header-too-large")
			c.lostSync(sd, stSkipLine)
			return 0
		}
		s.take(c.lim.MaxHeaderBytes)
		s.buf = append(s.buf, chunk...)
		if i >= 0 {
			if len(trimEOL(s.buf[s.lineStart:])) == 0 {
				c.endMessage(sd)
			} else {
				s.lineStart = len(s.buf)
			}
		}
		return len(chunk)

	case stWait:
		c.st.anomaly("data-while-waiting")
		return len(data)

	default: // stUntilClose; stOff returns in feed
		return len(data)
	}
}

// chunkSize acts on a complete chunk-size line (without its end of line).
func (c *Conn) chunkSize(sd int, line []byte) {
	s := &c.side[sd]
	size, ok := parseChunkSize(line)
	switch {
	case !ok:
		c.st.anomaly("bad-chunk-size")
		c.lostSync(sd, stLine)
	case size == 0:
		s.st, s.lineStart = stTrailer, 0
	default:
		s.st, s.remain = stChunkData, size
	}
}

// scan accounts bytes scanned without recognising a message start; on a
// connection not (yet) known as HTTP it gives the side up past MaxScanBytes.
func (c *Conn) scan(sd, n int) {
	s := &c.side[sd]
	if c.proto != ProtoUnknown {
		return
	}
	if s.scanned += n; s.scanned > c.lim.MaxScanBytes {
		s.st, s.gaveUp = stOff, true
		s.release()
	}
}

// expects reports which start lines side sd may begin a message with.
func (c *Conn) expects(sd int) (req, resp bool) {
	if c.client < 0 {
		return true, true
	}
	return c.client == sd, c.client != sd
}

func (c *Conn) stepLine(sd int, data []byte, off int, cur *spanCursor) int {
	s := &c.side[sd]
	i := bytes.IndexByte(data, '\n')
	chunk := data
	if i >= 0 {
		chunk = data[:i+1]
	}
	wantReq, wantResp := c.expects(sd)
	wantReq = wantReq && !s.midLine // a request line starts at a line beginning
	// Bodies rarely end with a line end, so while resynchronising a status
	// line is also looked for right after any byte ("hunting").
	hunting := s.syncing && wantResp
	if hunting && len(s.buf) == 0 && !(wantReq && requestPrefixOK(chunk[:min(len(chunk), maxMethodLen+1)])) {
		n := 0
		if j := bytes.Index(chunk, []byte(httpPrefix)); j > 0 {
			n = j
		} else if j < 0 {
			n = len(chunk) - partialSuffix(chunk)
		}
		if n > 0 {
			s.skipped = true
			s.midLine = chunk[n-1] != '\n'
			c.scan(sd, n)
			return n
		}
	}
	if len(s.buf) == 0 && i >= 0 {
		if n := c.headInPlace(sd, data, i, wantReq, wantResp, off, cur); n > 0 {
			return n
		}
	}
	if len(s.buf)+len(chunk) > c.lim.MaxHeaderBytes {
		c.badStart(sd, false, 0)
		return 0
	}
	s.take(c.lim.MaxHeaderBytes)
	s.grow(len(chunk), c.lim.MaxHeaderBytes)
	s.buf = append(s.buf, chunk...)
	for {
		line := s.buf
		complete := line[len(line)-1] == '\n'
		if complete {
			if line = trimEOL(line); len(line) == 0 { // empty lines before a message are ignored (RFC 9112 2.2)
				s.buf, s.midLine = s.buf[:0], false
				return len(chunk)
			}
			isReq := wantReq && isRequestLine(line)
			if isReq || (wantResp && isStatusLine(line)) {
				c.startMessage(sd, isReq)
				s.lastFrame, s.lastTime = cur.at(off + i)
				return len(chunk)
			}
		} else {
			prefix := line[:min(len(line), maxMethodLen+1)]
			if (len(prefix) == 1 && prefix[0] == '\r') ||
				(wantReq && requestPrefixOK(prefix)) || (wantResp && statusPrefixOK(prefix)) {
				return len(chunk)
			}
		}
		if !hunting {
			// A body longer than its framing said runs into the next
			// status line: "…tail of bodyHTTP/1.1 200 OK". Start there.
			if j := bytes.Index(line, []byte(httpPrefix)); complete && wantResp && j > 0 && isStatusLine(line[j:]) {
				c.st.anomaly("bad-start-line") // as when the candidate arrives in pieces and hunting finds the status line
				s.buf = s.buf[:copy(s.buf, s.buf[j:])]
				s.skipped = true
				c.startMessage(sd, false)
				s.lastFrame, s.lastTime = cur.at(off + i)
				return len(chunk)
			}
			// Likewise, after a loss a request often follows the rest of a
			// body that does not end with a line end: "…body tailGET / HTTP/1.1".
			if j := embeddedRequest(line); complete && wantReq && s.syncing && j > 0 {
				s.buf = s.buf[:copy(s.buf, s.buf[j:])]
				s.skipped = true
				c.startMessage(sd, true)
				s.lastFrame, s.lastTime = cur.at(off + i)
				return len(chunk)
			}
			c.badStart(sd, complete, len(chunk))
			return len(chunk)
		}
		// Hunting: keep the next "HTTP/1." after the candidate's first byte,
		// or the longest suffix that could begin one.
		b := s.buf[1:]
		if j := bytes.Index(b, []byte(httpPrefix)); j >= 0 {
			b = b[j:]
		} else {
			b = b[len(b)-partialSuffix(b):]
		}
		n := copy(s.buf, b)
		s.buf = s.buf[:n]
		s.skipped, s.midLine, wantReq = true, !(complete && n == 0), false
		c.scan(sd, len(chunk))
		if n == 0 || s.st != stLine {
			return len(chunk)
		}
	}
}

// headInPlace handles the common case of a head that arrives whole in one
// delivery: data begins with a start line (its LF at data[eol]) and the
// empty line that ends the block is in data too, within MaxHeaderBytes. The
// block is then parsed where it lies instead of being copied line by line
// into the side's buffer and parsed from there, and the side needs no
// buffer at all. It returns the bytes consumed through the empty line, or 0
// with nothing done when the line is no start line or the block does not
// end in data: the buffered path (which gives the same result for the same
// bytes, whatever their segmentation) then takes over.
func (c *Conn) headInPlace(sd int, data []byte, eol int, wantReq, wantResp bool, off int, cur *spanCursor) int {
	line := trimEOL(data[:eol+1])
	if len(line) == 0 {
		return 0
	}
	isReq := wantReq && isRequestLine(line)
	if !isReq && !(wantResp && isStatusLine(line)) {
		return 0
	}
	// The buffered path refuses a block whose bytes through the final LF
	// exceed MaxHeaderBytes: an LF found below the bound is within it.
	end := min(len(data), c.lim.MaxHeaderBytes)
	if c.filter != nil {
		return c.headInPlaceFiltered(sd, data, eol, end, isReq, off, cur)
	}
	for p := eol + 1; p < end; {
		j := bytes.IndexByte(data[p:end], '\n')
		if j < 0 {
			return 0
		}
		lf := p + j
		if j == 0 || (j == 1 && data[p] == '\r') { // the empty line (trimEOL of it is empty)
			s := &c.side[sd]
			c.startMessage(sd, isReq)
			s.lastFrame, s.lastTime = cur.at(off + lf)
			c.complete(sd, data[:p], false)
			return lf + 1
		}
		p = lf + 1
	}
	return 0
}

// headInPlaceFiltered is headInPlace's search for the block's end on a
// Conn with a MessageFilter: each line is parsed into the scratch fields as
// it is found (what parseHeadInto would make of the block), so the block is
// scanned once instead of once to find its end and again to parse it.
func (c *Conn) headInPlaceFiltered(sd int, data []byte, eol, end int, isReq bool, off int, cur *spanCursor) int {
	var f headFlags
	start := unsafe.String(unsafe.SliceData(data), eol)
	if eol > 0 && start[eol-1] == '\r' {
		start = start[:eol-1]
	} else {
		f.bareLF = true
	}
	hdrs := c.takeScratch()
	for p := eol + 1; p < end; {
		j := bytes.IndexByte(data[p:end], '\n')
		if j < 0 {
			break
		}
		lf := p + j
		if j == 0 || (j == 1 && data[p] == '\r') {
			s := &c.side[sd]
			c.startMessage(sd, isReq)
			s.lastFrame, s.lastTime = cur.at(off + lf)
			c.completeFiltered(sd, data[:p], start, hdrs, f, false)
			c.putBack()
			return lf + 1
		}
		line := unsafe.String(&data[p], j)
		if line[j-1] == '\r' {
			line = line[:j-1]
		} else {
			f.bareLF = true
		}
		hdrs = headerLine(hdrs, line, &f)
		p = lf + 1
	}
	clear(hdrs) // strings into data must not outlive the call
	*c.scratch = hdrs[:0]
	c.putBack()
	return 0
}

// partialSuffix returns the length of the longest proper suffix of b that
// is a prefix of "HTTP/1.".
func partialSuffix(b []byte) int {
	for k := min(len(b), len(httpPrefix)-1); k > 0; k-- {
		if string(b[len(b)-k:]) == httpPrefix[:k] {
			return k
		}
	}
	return 0
}

// startMessage records a valid start line (in buf) on side sd; it decides
// the connection's direction if that was still open.
func (c *Conn) startMessage(sd int, isReq bool) {
	s := &c.side[sd]
	if c.client < 0 {
		c.client = sd
		if !isReq {
			c.client = 1 - sd
		}
		c.proto = ProtoHTTP
		c.st.HTTPConns++
		for o := range c.side {
			if c.side[o].gaveUp { // scanning stopped before the connection proved HTTP
				c.side[o].gaveUp, c.side[o].st, c.side[o].syncing = false, stSkipLine, true
			}
		}
	}
	if s.skipped {
		c.st.Resyncs++
	}
	s.syncing, s.skipped, s.midLine = false, false, false
	s.st, s.lineStart = stHeader, len(s.buf)
}

// badStart handles bytes that cannot start a message: counted once per loss
// of sync on an HTTP connection, then skipped. atLineEnd says the bad line
// was consumed through its LF; n bytes were consumed.
func (c *Conn) badStart(sd int, atLineEnd bool, n int) {
	s := &c.side[sd]
	if !s.syncing && c.proto == ProtoHTTP {
		c.st.anomaly("bad-start-line")
	}
	s.syncing, s.skipped = true, true
	s.buf = s.buf[:0]
	if atLineEnd {
		s.st, s.midLine = stLine, false
	} else {
		s.st = stSkipLine
	}
	c.scan(sd, n)
}

func (c *Conn) stepHeader(sd int, data []byte, off int, cur *spanCursor) int {
	s := &c.side[sd]
	i := bytes.IndexByte(data, '\n')
	chunk := data
	if i >= 0 {
		chunk = data[:i+1]
	}
	if len(s.buf)+len(chunk) > c.lim.MaxHeaderBytes {
		c.st.anomaly("header-too-large")
		c.emitTruncated(sd)
		c.lostSync(sd, stSkipLine)
		return 0
	}
	s.take(c.lim.MaxHeaderBytes)
	s.grow(len(chunk), c.lim.MaxHeaderBytes)
	s.buf = append(s.buf, chunk...)
	if i < 0 {
		return len(chunk)
	}
	s.lastFrame, s.lastTime = cur.at(off + i)
	if len(trimEOL(s.buf[s.lineStart:])) > 0 {
		s.lineStart = len(s.buf)
		return len(chunk)
	}
	c.complete(sd, s.buf[:s.lineStart], false)
	return len(chunk)
}

// lostSync drops the side's partial state and starts scanning for a message
// start in state next (stLine at a line beginning, else stSkipLine).
func (c *Conn) lostSync(sd int, next state) {
	s := &c.side[sd]
	s.syncing, s.skipped, s.midLine = true, true, false
	s.st = next
	s.resetBuf()
}

// resetBuf empties the side's buffer at a message boundary or a loss of
// sync, giving its storage back: heads, chunk-size lines and trailers that
// arrive whole in one delivery are parsed where they lie (headInPlace), so
// a side needs a buffer only while a line or block straddles deliveries,
// and an idle keep-alive connection should not hold one.
func (s *sideState) resetBuf() {
	s.release()
	s.lineStart = 0
}

// emitTruncated emits the complete lines of a header block cut short.
func (c *Conn) emitTruncated(sd int) {
	if c.side[sd].st == stHeader {
		c.st.TruncatedHeaders++
		c.complete(sd, c.side[sd].buf[:c.side[sd].lineStart], true)
	}
}

// complete parses the header block (the side's buf through lineStart, or
// the bytes of the delivery for a head parsed in place), emits it and moves
// the side to the body state. truncated: the block was cut short and
// the side must resynchronise afterwards (the caller arranges that).
//
// On a Conn with a MessageFilter the block is first parsed in place (its strings
// point into the block and are dropped before complete returns); only a
// message the filter wants gets strings of its own (ownHead) and is handed
// to the Handler. That keeps the others free of allocation.
func (c *Conn) complete(sd int, block []byte, truncated bool) {
	if c.transient {
		// The block is in the side's buffer (bufPool's, shared with other
		// goroutines), which emit gives back before the Handler is called:
		// a Transient Conn's messages point into a copy in storage of its own.
		m := c.takeMsgs()
		m.block = append(m.block[:0], block...)
		block = m.block
	}
	if c.filter != nil || c.transient {
		start, hdrs, flags := parseHeadInto(c.takeScratch(), unsafe.String(unsafe.SliceData(block), len(block)))
		c.completeFiltered(sd, block, start, hdrs, flags, truncated)
		c.putBack()
		return
	}
	start, hdrs, flags := parseHead(string(block))
	c.emit(sd, start, hdrs, flags, truncated, nil)
}

// takeScratch returns the Conn's scratch header slice, emptied, taking one
// from scratchPool if it has none.
func (c *Conn) takeScratch() []Header {
	if c.scratch == nil {
		c.scratch = scratchPool.Get().(*[]Header)
	}
	return (*c.scratch)[:0]
}

// completeFiltered is complete on a Conn with a MessageFilter, for the
// block parsed in place into start and hdrs (the scratch slice).
func (c *Conn) completeFiltered(sd int, block []byte, start string, hdrs []Header, flags headFlags, truncated bool) {
	s := &c.side[sd]
	*c.scratch = hdrs[:0]
	if c.filter != nil && !c.filter.Want(sd == c.client, start, hdrs, s.lastFrame, s.lastTime) {
		flags.count(c.st)
		fr := framingOf(hdrs)
		clear(hdrs) // no string into buf may outlive this call
		if sd == c.client {
			c.lightRequest(sd, start, block, fr, truncated)
		} else {
			c.lightResponse(sd, start, fr, truncated)
		}
		s.resetBuf()
		if s.st == stHeader {
			s.st = stLine
		}
		return
	}
	if c.transient {
		c.emit(sd, start, hdrs, flags, truncated, block)
		clear(hdrs) // the strings point into the Data call's bytes
		return
	}
	start, hdrs = ownHead(block, start, hdrs)
	clear(*c.scratch)
	c.emit(sd, start, hdrs, flags, truncated, nil)
}

// emit builds the Request or Response of a head whose strings it owns,
// pairs it, sets up its body and hands it to the Handler. On a Transient
// Conn the strings point into block (which a request's pending slot then
// copies) and the message is built in c.msgs.
func (c *Conn) emit(sd int, start string, hdrs []Header, flags headFlags, truncated bool, block []byte) {
	s := &c.side[sd]
	flags.count(c.st)
	s.resetBuf()
	s.st = stLine
	fr := framingOf(hdrs)
	client, server := c.info.Addr[c.client], c.info.Addr[1-c.client]
	msg := Message{Client: client, Server: server, Headers: hdrs, Frame: s.lastFrame, Time: s.lastTime, Truncated: truncated}
	if sd == c.client {
		var req *Request
		if c.transient {
			m := c.takeMsgs()
			m.req = Request{}
			m.cks = fillRequest(&m.req, start, hdrs, m.cks[:0])
			req = &m.req
		} else {
			req = newRequest(start, hdrs)
		}
		proto := req.Proto
		req.Message = msg
		req.Proto = proto
		c.st.Requests++
		if !truncated {
			c.requestBody(sd, req.Method == "CONNECT", fr)
		}
		p := c.pushPending()
		p.req, p.isHead, p.isConnect = req, req.Method == "HEAD", req.Method == "CONNECT"
		if c.transient {
			// Kept as a declined request is (lightRequest): its block, from
			// which request builds the Request again for its response.
			p.req = nil
			p.keep(block, c.lim.MaxHeaderBytes)
			p.frame, p.time, p.truncated = s.lastFrame, s.lastTime, truncated
		}
		if c.h != nil {
			c.h.Request(&c.info, req)
		}
		return
	}
	var resp *Response
	if c.transient {
		m := c.takeMsgs()
		m.resp = Response{}
		m.scs = fillResponse(&m.resp, start, hdrs, m.scs[:0])
		resp = &m.resp
	} else {
		resp = newResponse(start, hdrs)
	}
	proto := resp.Proto
	resp.Message = msg
	resp.Proto = proto
	c.st.Responses++
	informational := resp.Status >= 100 && resp.Status < 200 && resp.Status != 101
	p, ok := c.answer(informational)
	if ok {
		resp.Request = c.request(p)
	}
	if !truncated {
		c.responseBody(sd, resp.Status, p, ok, fr, informational)
	}
	if !informational && ok {
		c.popPending()
	}
	if c.h != nil {
		c.h.Response(&c.info, resp)
	}
}

// ownHead turns a head parsed in place in block (start and the fields of
// inPlace point into it) into one that owns its strings: block is copied
// once and every string is re-pointed into the copy, which is what parsing
// the copy again would give without the second parse. A value joined from
// folded lines is already a string of its own and is kept as it is. The
// fields go into a new slice of exactly their number.
func ownHead(block []byte, start string, inPlace []Header) (string, []Header) {
	own := string(block)
	base := uintptr(unsafe.Pointer(unsafe.SliceData(block)))
	rebase := func(s string) string {
		if s == "" {
			return ""
		}
		off := uintptr(unsafe.Pointer(unsafe.StringData(s))) - base
		if off >= uintptr(len(block)) {
			return s // not in block (also when below it: off wraps around)
		}
		return own[off : int(off)+len(s)]
	}
	hdrs := make([]Header, len(inPlace))
	for i, h := range inPlace {
		hdrs[i] = Header{Name: rebase(h.Name), Value: rebase(h.Value)}
	}
	return rebase(start), hdrs
}

// HasCookieHeader reports whether hdrs hold a Cookie (request) or Set-Cookie
// (response) field: the ones newRequest and newResponse parse.
func HasCookieHeader(hdrs []Header, request bool) bool {
	name := "Set-Cookie"
	if request {
		name = "Cookie"
	}
	for _, h := range hdrs {
		if len(h.Name) == len(name) && strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

// lightRequest records a request without cookie headers: counted, framed
// and queued for pairing, its header block kept for request.
func (c *Conn) lightRequest(sd int, start string, block []byte, fr framing, truncated bool) {
	s := &c.side[sd]
	c.st.Requests++
	connect := strings.HasPrefix(start, "CONNECT ")
	p := c.pushPending()
	p.keep(block, c.lim.MaxHeaderBytes)
	p.frame, p.time, p.truncated = s.lastFrame, s.lastTime, truncated
	p.isHead, p.isConnect = strings.HasPrefix(start, "HEAD "), connect
	s.st = stLine
	if !truncated {
		c.requestBody(sd, connect, fr)
	}
}

// lightResponse handles a response without Set-Cookie as complete does,
// without building it.
func (c *Conn) lightResponse(sd int, start string, fr framing, truncated bool) {
	s := &c.side[sd]
	s.st = stLine
	c.st.Responses++
	status := int(start[9]-'0')*100 + int(start[10]-'0')*10 + int(start[11]-'0')
	informational := status >= 100 && status < 200 && status != 101
	p, ok := c.answer(informational)
	if !truncated {
		c.responseBody(sd, status, p, ok, fr, informational)
	}
	if !informational && ok {
		c.popPending()
	}
}

// answer returns the pending request a response answers (the oldest),
// counting an orphan when a final response finds none.
func (c *Conn) answer(informational bool) (*pendingReq, bool) {
	if len(c.pending) > 0 {
		return &c.pending[0], true
	}
	if !informational {
		c.st.Orphans++
	}
	return nil, false
}

// request returns p's Request, building it from the kept header block the
// first time for a request that was recorded without one.
func (c *Conn) request(p *pendingReq) *Request {
	if p.req == nil && c.transient {
		// Parsed where the slot keeps it, into storage reused by the next
		// response: the head is not copied again, and nothing is allocated.
		m := c.takeMsgs()
		start, hdrs, _ := parseHeadInto(m.phdrs[:0], unsafe.String(unsafe.SliceData(p.head), len(p.head)))
		m.phdrs = hdrs
		m.preq = Request{}
		m.pcks = fillRequest(&m.preq, start, hdrs, m.pcks[:0])
		proto := m.preq.Proto
		m.preq.Message = Message{Client: c.info.Addr[c.client], Server: c.info.Addr[1-c.client], Headers: hdrs,
			Frame: p.frame, Time: p.time, Truncated: p.truncated}
		m.preq.Proto = proto
		return &m.preq
	}
	if p.req == nil {
		start, hdrs, _ := parseHead(string(p.head)) // anomalies were counted when it arrived
		req := newRequest(start, hdrs)
		proto := req.Proto
		req.Message = Message{Client: c.info.Addr[c.client], Server: c.info.Addr[1-c.client], Headers: hdrs,
			Frame: p.frame, Time: p.time, Truncated: p.truncated}
		req.Proto = proto
		p.req = req
	}
	return p.req
}

// pushPending appends a cleared slot to the pending queue (dropping the
// oldest over MaxPending) and returns it; slots and their buffers are reused.
func (c *Conn) pushPending() *pendingReq {
	if len(c.pending) >= c.lim.MaxPending {
		c.st.anomaly("too-many-pending")
		c.popPending()
	}
	n := len(c.pending)
	if n < cap(c.pending) {
		c.pending = c.pending[:n+1]
	} else {
		c.pending = append(c.pending, pendingReq{})
	}
	p := &c.pending[n]
	head := p.head[:0]
	if cap(head) > smallBuffer {
		head = nil
	}
	*p = pendingReq{head: head, pooled: p.pooled}
	return p
}

// keep copies a request's header block into the slot, whose storage comes
// from bufPool when it fits: a connection's slots would each grow their
// own (8,000 connections took 9 MB per GB of capture). Its capacity is at most max (MaxHeaderBytes), which bounds a block.
func (p *pendingReq) keep(block []byte, max int) {
	if p.head == nil && len(block) <= pooledBuffer {
		if p.pooled == nil {
			p.pooled = bufPool.Get().(*[pooledBuffer]byte)
		}
		p.head = p.pooled[:0:min(pooledBuffer, max)]
	}
	p.head = append(p.head[:0], block...)
}

// popPending removes the oldest pending request, moving its slot (and
// buffer) to the spare end of the queue.
func (c *Conn) popPending() {
	n := len(c.pending)
	if n == 0 {
		return
	}
	old := c.pending[0]
	copy(c.pending, c.pending[1:])
	old.req = nil
	c.pending[n-1] = old
	c.pending = c.pending[:n-1]
}

// dropPending forgets the pending requests for good (tunnel, Close),
// including slot0, which lives in the Conn: a closed Conn may stay
// referenced a while (by the capture's connection state) and must not keep
// a Request or a header buffer alive meanwhile.
//
// giveBack returns the slots' pooled head storage to bufPool: at Close,
// after the last message was handed over. A tunnel drops the slots before
// its response reaches the Handler, and a Transient Handler's Response.Request
// may point into a slot's head, so there the storage is left to the collector.
func (c *Conn) dropPending(giveBack bool) {
	if giveBack {
		for _, p := range c.pending[:cap(c.pending)] {
			if p.pooled != nil {
				bufPool.Put(p.pooled)
			}
		}
	}
	c.pending = nil
	c.slot0[0] = pendingReq{}
}

func (c *Conn) requestBody(sd int, connect bool, fr framing) {
	s := &c.side[sd]
	switch {
	case fr.te:
		if fr.contentLength >= 0 || fr.badLength {
			c.st.anomaly("te-and-cl")
		}
		if !fr.chunked {
			c.st.anomaly("bad-transfer-encoding")
			c.lostSync(sd, stLine)
			return
		}
		s.st = stChunkSize
		return
	case fr.badLength:
		c.st.anomaly("bad-content-length")
		c.lostSync(sd, stLine)
		return
	case fr.contentLength > 0:
		s.st, s.remain = stBody, fr.contentLength
		return
	}
	if connect || fr.upgrade {
		s.st = stWait
	}
}

// responseBody sets up the body of a response with status, answering the
// pending request p (hasReq false: an orphan).
func (c *Conn) responseBody(sd int, status int, p *pendingReq, hasReq bool, fr framing, informational bool) {
	s := &c.side[sd]
	cl := c.client
	if !informational && hasReq && c.side[cl].st == stWait {
		c.side[cl].st = stLine // the answer to CONNECT or Upgrade came
	}
	if status == 101 || (hasReq && p.isConnect && status/100 == 2) {
		c.st.Tunnels++
		for o := range c.side {
			c.side[o].st = stOff
			c.side[o].release()
		}
		c.dropPending(false)
		return
	}
	switch {
	case informational || status == 204 || status == 304 || (hasReq && p.isHead):
		return
	case fr.te:
		if fr.contentLength >= 0 || fr.badLength {
			c.st.anomaly("te-and-cl")
		}
		if fr.chunked {
			s.st = stChunkSize
		} else {
			s.st = stUntilClose
		}
	case fr.badLength:
		c.st.anomaly("bad-content-length")
		c.lostSync(sd, stLine)
	case fr.contentLength > 0:
		s.st, s.remain = stBody, fr.contentLength
	case fr.contentLength < 0:
		s.st = stUntilClose
	}
}

// endMessage is called when a body ends: the next message may start.
func (c *Conn) endMessage(sd int) {
	s := &c.side[sd]
	s.resetBuf()
	s.st, s.syncing, s.midLine = stLine, false, false
}

// Gap says n bytes (n < 0: unknown) were lost on side sd before its next Data.
// Inside a Content-Length body or chunk data a known gap that fits is skipped
// and the side stays in sync; otherwise a header block in progress is emitted
// with Truncated set and the side resynchronises at the next message start.
func (c *Conn) Gap(sd Side, n int) {
	if c.closed || sd > 1 {
		return
	}
	c.st.Gaps++
	c.gap(int(sd), n)
}

func (c *Conn) gap(sd, n int) {
	s := &c.side[sd]
	s.seen = true
	switch s.st {
	case stBody, stChunkData:
		if n >= 0 && int64(n) <= s.remain {
			if s.remain -= int64(n); s.remain == 0 {
				if s.st == stBody {
					c.endMessage(sd)
				} else {
					s.st = stChunkEnd
				}
			}
			return
		}
	case stUntilClose, stOff, stWait:
		return
	case stTLS:
		c.tlsCut(sd)
		s.st = stOff
		s.release()
		if c.proto == ProtoUnknown {
			s.gaveUp = true
		}
		return
	case stHeader:
		c.emitTruncated(sd)
	}
	// The bytes after a gap may start a message: look at them as a line
	// beginning.
	c.lostSync(sd, stLine)
}

// Close ends both directions: a header block cut by the end of input is
// emitted with Truncated set, and all state is released. Later calls do nothing.
func (c *Conn) Close() {
	if c.closed {
		return
	}
	for sd := range c.side {
		c.tlsCut(sd)
		c.emitTruncated(sd)
		c.side[sd].release()
		c.side[sd].st = stOff
	}
	c.side[0].st, c.side[1].st = stOff, stOff // Data relies on it, whatever the emissions above did
	if c.proto == ProtoUnknown && (c.side[0].seen || c.side[1].seen) {
		c.proto = ProtoOther
		c.st.OtherConns++
	}
	c.dropPending(true)
	if c.scratch != nil {
		scratchPool.Put(c.scratch) // cleared after each use
		c.scratch = nil
	}
	if c.msgs != nil {
		c.msgs.release()
		c.msgs = nil
	}
	c.closed = true
}
