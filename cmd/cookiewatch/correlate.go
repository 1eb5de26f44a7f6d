package main

import (
	"cmp"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// correlation owns a run's cross-connection state. Correlation needs every
// connection, whichever worker parsed it, and its findings must not depend
// on how many workers there are or how their goroutines interleave. So each
// worker sends the messages the correlator reads down its own channel
// (feed), tagged with the frame that worker was processing, and merge feeds
// them to the correlator in one canonical order: by that frame, and within
// one frame by the message's own frame, connection and order on the
// connection. One worker or several, the correlator sees the same sequence.
//
// Events travel in batches (corrBatch), one channel operation per batch
// rather than per event: a worker sends a batch down its channel when it
// starts filling it, and merge reads a batch only once the next one (or the
// channel's close) has arrived, which the Go memory model orders after every
// write to it. A progress mark ends a batch, so merge is never held up
// longer than the worker's progress interval; each worker has feedBatches
// batches, reused, which bounds what is in flight.
//
// The parser's messages are transient (httpparse.Transient: valid only
// during the Handler call, so it copies no head and allocates no message),
// so a plaintext request or response is copied into its batch's
// correlate.Arena, with only what the correlator reads, in storage the
// batch reuses: the correlator copies what it keeps, and merge gives a
// batch back only once the events read from it were applied.
type correlation struct {
	c           *correlate.Correlator // used by merge only while workers run
	agg         *rules.Aggregator     // takes the cross-connection findings (analyze: the run's)
	aggMu       *sync.Mutex           // non-nil: agg is the run's, shared with the workers (pipeline.aggMu)
	found       func(rules.Finding)   // live capture: takes the findings instead of agg
	occurrences int
}

// corrEvent is one input of the correlator, or a progress mark.
type corrEvent struct {
	at             uint64 // frame the worker was processing (capture.Analyzer.Frame)
	mark           bool   // progress mark: nothing more from this worker with a smaller at
	frame          uint64 // the message's own frame
	client, server netip.AddrPort
	seq            uint64 // order within the worker
	file           string
	req            *httpparse.Request
	resp           *httpparse.Response
	hello          *httpparse.TLSInfo // a copy: the parser updates its own
	tls            bool               // req or resp was decrypted from TLS (tlsconn.go)
	host           string             // a declined request's Host: seen over plaintext at t
	t              time.Time
	batch          *corrBatch // on the channel: the batch the worker fills next (nothing else set)
}

// corrBatch is a run of one worker's events.
type corrBatch struct {
	ev    []corrEvent
	arena correlate.Arena // the plaintext messages of ev (feed.request, feed.response)
	free  chan *corrBatch // its feed's free list: merge returns it there, emptied
}

// release empties b and gives it back to its feed.
func (b *corrBatch) release() {
	clear(b.ev) // drop the messages
	b.ev = b.ev[:0]
	b.arena.Reset()
	b.free <- b // never blocks: it has room for every batch of the feed
}

// TransientMessages implements httpparse.Transient for the worker's
// connections: the rules read a message during the Handler call (the
// findings store copies what it keeps; live capture streams findings at
// once), hints are copied (noteHints), and feed copies what crosses to the
// correlator.
func (c *conn) TransientMessages() {}

const (
	feedBatch   = 256 // events per batch at most
	feedBatches = 8   // batches per feed
)

// feed is one worker's side of the correlation. With direct set (a live
// capture: one worker, findings wanted at once) events are applied as they
// come instead of going through ch and merge.
type feed struct {
	ch     chan corrEvent
	direct *correlation
	frame  func() uint64 // the worker's capture.Analyzer.Frame
	seq    uint64
	cur    *corrBatch      // sent already; being filled (merge reads it once the next is sent)
	free   chan *corrBatch // batches merge is done with
	made   int             // batches made, at most feedBatches
}

func (f *feed) send(e corrEvent) {
	if f.direct != nil {
		f.direct.apply(e)
		return
	}
	f.batch()
	f.push(e)
}

// batch returns the batch the next event goes in, sending a new one when
// the current one is full.
func (f *feed) batch() *corrBatch {
	if f.cur == nil || len(f.cur.ev) >= feedBatch {
		f.next()
	}
	return f.cur
}

// push appends e to the current batch (batch made sure there is one with room).
func (f *feed) push(e corrEvent) {
	f.seq++
	e.at, e.seq = f.frame(), f.seq
	f.cur.ev = append(f.cur.ev, e)
}

// next ends the current batch by sending the next one, waiting for merge to
// free one when all feedBatches are in flight.
func (f *feed) next() {
	if f.free == nil {
		f.free = make(chan *corrBatch, feedBatches)
	}
	var b *corrBatch
	select {
	case b = <-f.free:
	default:
		if f.made < feedBatches {
			f.made++
			b = &corrBatch{ev: make([]corrEvent, 0, feedBatch), free: f.free}
		} else {
			b = <-f.free
		}
	}
	f.ch <- corrEvent{batch: b}
	f.cur = b
}

// mark is capture.Config.Progress: it ends the current batch with a mark.
func (f *feed) mark(frame uint64) {
	if f.direct != nil {
		return
	}
	if f.cur == nil {
		f.next()
	}
	f.cur.ev = append(f.cur.ev, corrEvent{at: frame, mark: true})
	f.next()
}

// request sends a plaintext request: applied at once with direct (it is
// valid during the call), else copied into the batch's arena.
func (f *feed) request(file string, req *httpparse.Request) {
	e := corrEvent{frame: req.Frame, client: req.Client, server: req.Server, file: file, req: req}
	if f.direct != nil {
		f.direct.apply(e)
		return
	}
	e.req = f.batch().arena.Request(req)
	f.push(e)
}

// response sends a plaintext response as request sends a request.
func (f *feed) response(file string, resp *httpparse.Response) {
	e := corrEvent{frame: resp.Frame, client: resp.Client, server: resp.Server, file: file, resp: resp}
	if f.direct != nil {
		f.direct.apply(e)
		return
	}
	e.resp = f.batch().arena.Response(resp)
	f.push(e)
}

func (f *feed) tlsHello(file string, t *httpparse.TLSInfo) {
	h := *t
	fr := h.HelloFrame
	if h.Latest == 2 {
		fr = h.ServerFrame
	}
	f.send(corrEvent{frame: fr, client: h.Client, server: h.Server, file: file, hello: &h})
}

// seen reports a request the rules do not read (no allocation: host is the
// connection's own copy) so the host report knows its host was seen over
// plaintext.
func (f *feed) seen(host string, frame uint64, t time.Time, addr [2]netip.AddrPort) {
	f.send(corrEvent{frame: frame, client: addr[0], server: addr[1], host: host, t: t})
}

// merge reads the workers' channels until all are closed and feeds the
// correlator: each round takes every event at the smallest pending frame
// (channels are in frame order, so none can come later), sorts them
// canonically and hands them on.
//
// The correlator's findings go to the aggregator as they are decided
// (correlate.Correlator.Sink), those of keys it holds folded before they
// are built: the rules.Aggregator.Fold the workers use. That holds for the
// findings End decides too (the bulk: a leak per session value), which
// End then no longer returns.
func (c *correlation) merge(chs []chan corrEvent) {
	c.sink()
	mergeEvents(chs, c.apply)
}

// sink points the correlator's findings at the aggregator (merge).
func (c *correlation) sink() {
	if c.found != nil {
		return // live capture: Drain hands them to found
	}
	c.c.Sink(c.fold, c.addOne)
}

// fold is rules.Folder for the correlator's findings: Fold counts what it
// folds as an occurrence, as addOne would.
func (c *correlation) fold(f *rules.Finding) bool {
	if c.aggMu != nil {
		c.aggMu.Lock()
		defer c.aggMu.Unlock()
	}
	if !c.agg.Fold(f) {
		return false
	}
	c.occurrences++
	return true
}

// mergeEvents is merge, handing each event to apply.
func mergeEvents(chs []chan corrEvent, apply func(corrEvent)) {
	m := &merger{ins: make([]mergeIn, len(chs))}
	for i, ch := range chs {
		m.ins[i] = mergeIn{ch: ch, open: true, m: m}
	}
	ins := m.ins
	for {
		lo, any := uint64(0), false
		for i := range ins {
			if e := ins[i].head(); e != nil && (!any || e.at < lo) {
				lo, any = e.at, true
			}
		}
		if !any {
			m.release()
			return
		}
		m.group = m.group[:0]
		for i := range ins {
			for e := ins[i].head(); e != nil && e.at == lo; e = ins[i].head() {
				if !e.mark {
					m.group = append(m.group, *e)
				}
				ins[i].pos++
			}
		}
		slices.SortStableFunc(m.group, func(a, b corrEvent) int {
			return cmp.Or(cmp.Compare(a.frame, b.frame), a.client.Compare(b.client), a.server.Compare(b.server),
				cmp.Compare(a.seq, b.seq))
		})
		for _, e := range m.group {
			apply(e)
		}
		clear(m.group) // drop the messages
		m.release()
	}
}

// merger is mergeEvents' state: the group of events being collected, which
// may point into the arenas of batches read to their end (retired), which go
// back to their feeds once the group is applied.
type merger struct {
	ins     []mergeIn
	group   []corrEvent
	retired []*corrBatch
	spare   correlate.Arena // detach's copies (not reused: a detached group may be long)
}

// release gives the retired batches back to their feeds.
func (m *merger) release() {
	for i, b := range m.retired {
		b.release()
		m.retired[i] = nil
	}
	m.retired = m.retired[:0]
}

// detach makes the group's messages copies of their own, so that the
// retired batches can go back before the group is applied: done before
// merge waits for a worker, which may be waiting for a batch (a group can
// span more batches than a feed has, e.g. many messages ending in one
// frame).
func (m *merger) detach() {
	if len(m.retired) == 0 {
		return
	}
	m.spare = correlate.Arena{}
	for i := range m.group {
		e := &m.group[i]
		switch {
		case e.tls: // not from an arena
		case e.req != nil:
			e.req = m.spare.Request(e.req)
		case e.resp != nil:
			e.resp = m.spare.Response(e.resp)
		}
	}
	m.release()
}

// mergeIn is merge's side of one worker's channel.
type mergeIn struct {
	ch      chan corrEvent
	open    bool
	ready   *corrBatch // complete: merge reads ready.ev[pos:]
	pos     int
	pending *corrBatch // the worker may still be filling it
	m       *merger
}

// head returns the worker's next event, receiving until a batch with one is
// complete; nil when the channel is closed and drained. A batch read to its
// end is retired (merger).
func (in *mergeIn) head() *corrEvent {
	for {
		if b := in.ready; b != nil {
			if in.pos < len(b.ev) {
				return &b.ev[in.pos]
			}
			in.m.retired = append(in.m.retired, b)
			in.ready = nil
		}
		if in.pending == nil && !in.open {
			return nil
		}
		if in.open {
			var e corrEvent
			var ok bool
			select {
			case e, ok = <-in.ch:
			default:
				in.m.detach() // the worker may be waiting for a retired batch
				e, ok = <-in.ch
			}
			if !ok {
				in.open = false
			} else if in.pending == nil { // the first batch: wait for the next
				in.pending = e.batch
				continue
			}
			in.ready, in.pending = in.pending, e.batch // nil after the close
		} else {
			in.ready, in.pending = in.pending, nil
		}
		in.pos = 0
	}
}

func (c *correlation) apply(e corrEvent) {
	switch {
	case e.req != nil && e.tls:
		c.c.TLSRequest(e.file, e.req)
	case e.resp != nil && e.tls:
		c.c.TLSResponse(e.file, e.resp)
	case e.req != nil:
		c.c.Request(e.file, e.req)
	case e.resp != nil:
		c.c.Response(e.file, e.resp)
	case e.hello != nil:
		c.c.TLSHello(e.file, e.hello)
	case e.host != "":
		c.c.SeenPlaintext(e.host, e.t)
		return
	}
	c.c.Drain(c.addOne)
}

// add folds cross-connection findings (their file and frames come from
// their chain) into the correlation's aggregator.
func (c *correlation) add(fs []rules.Finding) {
	for _, f := range fs {
		c.addOne(f)
	}
}

func (c *correlation) addOne(f rules.Finding) {
	c.occurrences++
	if c.found != nil {
		c.found(f)
		return
	}
	if c.aggMu != nil {
		c.aggMu.Lock()
		defer c.aggMu.Unlock()
	}
	c.agg.Add(f)
}

// hostRows converts the correlator's hosts into report rows with their
// findings counted by severity.
func hostRows(c *correlate.Correlator, fs report.Findings) []report.Host {
	var out []report.Host
	for _, h := range c.Hosts() {
		out = append(out, report.Host{Host: h.Host, TLS: h.TLS, Plaintext: h.Plaintext, HSTS: h.HSTS, Decrypted: h.Decrypted,
			TLSVersions: h.TLSVersions, ALPN: h.ALPN, SessionCookies: h.SessionCookies, First: h.First, Last: h.Last})
	}
	report.CountFindings(out, fs, correlate.HostKey)
	return out
}

func correlationSummary(c *correlate.Correlator) report.Correlation {
	st := c.Stats()
	return report.Correlation{Hosts: st.Hosts, Values: st.Values, Evictions: counters(st.Evictions)}
}
