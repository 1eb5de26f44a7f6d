package main

import (
	"cmp"
	"net/netip"
	"slices"
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
type correlation struct {
	c           *correlate.Correlator // used by merge only while workers run
	agg         *rules.Aggregator     // cross-connection findings
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
}

// feed is one worker's side of the correlation. With direct set (a live
// capture: one worker, findings wanted at once) events are applied as they
// come instead of going through ch and merge.
type feed struct {
	ch     chan corrEvent
	direct *correlation
	frame  func() uint64 // the worker's capture.Analyzer.Frame
	seq    uint64
}

func (f *feed) send(e corrEvent) {
	if f.direct != nil {
		f.direct.apply(e)
		return
	}
	f.seq++
	e.at, e.seq = f.frame(), f.seq
	f.ch <- e
}

// mark is capture.Config.Progress.
func (f *feed) mark(frame uint64) {
	if f.direct == nil {
		f.ch <- corrEvent{at: frame, mark: true}
	}
}

func (f *feed) request(file string, req *httpparse.Request) {
	f.send(corrEvent{frame: req.Frame, client: req.Client, server: req.Server, file: file, req: req})
}

func (f *feed) response(file string, resp *httpparse.Response) {
	f.send(corrEvent{frame: resp.Frame, client: resp.Client, server: resp.Server, file: file, resp: resp})
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
func (c *correlation) merge(chs []chan corrEvent) {
	heads := make([]corrEvent, len(chs))
	has := make([]bool, len(chs))
	open := make([]bool, len(chs))
	for i := range open {
		open[i] = true
	}
	next := func(i int) {
		e, ok := <-chs[i]
		heads[i], has[i] = e, ok
		if !ok {
			open[i] = false
		}
	}
	var group []corrEvent
	for {
		for i := range chs {
			if open[i] && !has[i] {
				next(i)
			}
		}
		lo, any := uint64(0), false
		for i := range chs {
			if has[i] && (!any || heads[i].at < lo) {
				lo, any = heads[i].at, true
			}
		}
		if !any {
			return
		}
		group = group[:0]
		for i := range chs {
			for has[i] && heads[i].at == lo {
				if !heads[i].mark {
					group = append(group, heads[i])
				}
				next(i)
			}
		}
		slices.SortStableFunc(group, func(a, b corrEvent) int {
			return cmp.Or(cmp.Compare(a.frame, b.frame), a.client.Compare(b.client), a.server.Compare(b.server),
				cmp.Compare(a.seq, b.seq))
		})
		for _, e := range group {
			c.apply(e)
		}
		clear(group) // drop the messages
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
	c.add(c.c.Take())
}

// add folds cross-connection findings (their file and frames come from
// their chain) into the correlation's aggregator.
func (c *correlation) add(fs []rules.Finding) {
	for _, f := range fs {
		c.occurrences++
		if c.found != nil {
			c.found(f)
			continue
		}
		c.agg.Add(f)
	}
}

// hostRows converts the correlator's hosts into report rows with their
// findings counted by severity.
func hostRows(c *correlate.Correlator, fs []rules.Finding) []report.Host {
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
