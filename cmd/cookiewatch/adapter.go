package main

import (
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
	"github.com/cookiewatch/cookiewatch/tlsdecrypt"
)

// pipeline joins the stages for one worker: capture hands each connection's
// bytes to an httpparse.Conn, whose messages rules turns into findings that
// the aggregator folds, and which also go to the cross-connection
// correlator through feed. It is used from one goroutine; the aggregator
// may be shared by the workers of a file (aggMu).
type pipeline struct {
	file        string
	limits      httpparse.Limits
	opts        rules.Options
	agg         *rules.Aggregator
	aggMu       *sync.Mutex   // non-nil: agg is shared with other workers (analyze.go)
	aggLen      *atomic.Int64 // with aggMu: agg.Len() for other goroutines (the progress bar)
	hstats      httpparse.Stats
	occurrences int
	suppressed  int // findings dropped by the policy's ignore entries
	messages    uint64
	protos      map[httpparse.Proto]uint64
	feed        *feed              // this worker's input to the correlator (correlate.go)
	keys        *tlsdecrypt.KeyLog // nil: no decryption (tlsconn.go)
	tstats      tlsdecrypt.Stats
	h2conns     uint64
	tlsHook     func(*httpparse.Message) // tests: sees each decrypted message head

	// found, when set (live capture), takes every finding instead of agg.
	found func(rules.Finding)

	scratch []rules.Finding // reused by add: one message's findings
	foldFn  rules.Folder    // p.fold, made once

	// interned holds the copies of hosts and stack headers that conns
	// keep (conn.host, conn.hints): a capture has few distinct ones, and
	// every new connection copied them again. Bounded (maxInterned
	// strings of at most maxInternLen bytes); past that, strings are
	// copied as before.
	interned map[string]string
}

const (
	maxInterned  = 1024
	maxInternLen = 128
)

// intern returns a copy of s that p keeps (s may be a parser's buffer).
func (p *pipeline) intern(s string) string {
	if c, ok := p.interned[s]; ok {
		return c
	}
	c := strings.Clone(s)
	if len(s) <= maxInternLen && len(p.interned) < maxInterned {
		if p.interned == nil {
			p.interned = map[string]string{}
		}
		p.interned[c] = c
	}
	return c
}

func newPipeline(cfg config, agg *rules.Aggregator) *pipeline {
	return &pipeline{limits: cfg.limits, opts: cfg.opts, agg: agg, protos: map[httpparse.Proto]uint64{}, tlsHook: cfg.tlsHook}
}

// merge adds the counts and findings of a worker's pipeline o to p.
func (p *pipeline) merge(o *pipeline) {
	p.hstats.Add(&o.hstats)
	p.occurrences += o.occurrences
	p.suppressed += o.suppressed
	p.messages += o.messages
	for k, v := range o.protos {
		p.protos[k] += v
	}
	if o.agg != p.agg {
		p.agg.Merge(o.agg)
	}
	p.tstats.Add(&o.tstats)
	p.h2conns += o.h2conns
}

// Open implements capture.Handler.
func (p *pipeline) Open(key capture.ConnKey) capture.Conn {
	c := &conn{p: p}
	c.info.Addr = [2]netip.AddrPort{key.A, key.B}
	c.hc.Init(c.info, c, p.limits, &p.hstats)
	if p.keys != nil {
		c.tls = newTLSConn(p, c.info)
	}
	return c
}

// conn adapts one capture.Conn to an httpparse.Conn and is that Conn's
// httpparse.Handler, so per-connection context (the server's stack headers)
// stays with the connection.
//
// conn is an httpparse.Transient handler (TransientMessages, correlate.go):
// the Request, Response and header strings Want, Request and Response are
// given live in storage the parser reuses and point into packet bytes.
// Whatever these methods keep past the call must be copied (as the
// findings store, noteHints and the correlation feed do).
type conn struct {
	// hc is held by value and first, so the parser state every Data call
	// reads lies at the conn's own address (a Conn of its own was a
	// second cache miss, after the conn's, for most segments).
	hc    httpparse.Conn
	p     *pipeline
	info  httpparse.ConnInfo
	hints rules.Hints // Server / X-Powered-By last seen on this connection
	host  string      // Host of the last declined request (a copy)
	tls   *tlsConn    // with keys only
}

// httpSpans views capture spans as httpparse spans without copying them
// (the capture layer hands out a span for every delivery: converting them
// one by one cost about 5% of the pipeline). The two types have the same
// fields, which the conversion below checks at compile time.
func httpSpans(s []capture.Span) []httpparse.Span {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*httpparse.Span)(unsafe.Pointer(&s[0])), len(s))
}

var _ = httpparse.Span(capture.Span{}) // same fields, so the same layout

func (c *conn) Data(d capture.Dir, data []byte, spans []capture.Span) {
	c.hc.Data(httpparse.Side(d), data, httpSpans(spans))
	if c.tls != nil {
		c.tls.data(d, data, spans)
	}
}

func (c *conn) Gap(d capture.Dir, n int) {
	c.hc.Gap(httpparse.Side(d), n)
	if c.tls != nil {
		c.tls.gap(d)
	}
}

func (c *conn) Close() {
	c.hc.Close()
	if c.tls != nil {
		c.tls.close()
	}
	c.p.protos[c.hc.Proto()]++
}

// Want implements httpparse.MessageFilter: only messages that some rule or
// the correlator reads are built; the others (most of a capture: requests
// for assets, responses without cookies) are framed and counted by httpparse
// without allocation. A request is wanted when it carries a Cookie,
// Authorization or Referer header, a query or path parameters
// (session-id-in-url) or is a POST (login detection); a response when it sets
// a cookie or carries HSTS (host report). A declined request still tells
// the host report that its host was seen over plaintext, and a declined
// response still updates the connection's stack headers when it has them.
// The strings point into the parser's buffer: nothing is kept past the call
// except copies.
func (c *conn) Want(request bool, start string, hdrs []httpparse.Header, frame uint64, t time.Time) bool {
	host := ""
	if request {
		method, rest, _ := strings.Cut(start, " ")
		target, _, _ := strings.Cut(rest, " ")
		if method == "POST" || strings.ContainsAny(target, "?;") {
			return true
		}
	}
	for _, h := range hdrs {
		if request {
			if headerIs(h.Name, "Cookie") || headerIs(h.Name, "Authorization") ||
				headerIs(h.Name, "Proxy-Authorization") || headerIs(h.Name, "Referer") {
				return true
			}
			if headerIs(h.Name, "Host") {
				host = h.Value
			}
		} else if headerIs(h.Name, "Set-Cookie") || headerIs(h.Name, "Strict-Transport-Security") {
			return true
		}
	}
	if request {
		if host != "" {
			if host != c.host {
				c.host = c.p.intern(host)
			}
			c.p.feed.seen(c.host, frame, t, c.info.Addr)
		}
	} else {
		c.noteHints(hdrs)
	}
	return false
}

// noteHints keeps the stack headers of a response for the framework guess of
// later requests on the connection (copied only when they change).
func (c *conn) noteHints(hdrs []httpparse.Header) {
	for _, h := range hdrs {
		switch {
		case headerIs(h.Name, "Server") && h.Value != c.hints.Server:
			c.hints.Server = c.p.intern(h.Value)
		case headerIs(h.Name, "X-Powered-By") && h.Value != c.hints.PoweredBy:
			c.hints.PoweredBy = c.p.intern(h.Value)
		}
	}
}

func headerIs(name, want string) bool {
	return len(name) == len(want) && strings.EqualFold(name, want)
}

// Request implements httpparse.Handler.
func (c *conn) Request(_ *httpparse.ConnInfo, req *httpparse.Request) {
	p := c.p
	p.messages++
	p.scratch = rules.AppendRequestFolded(p.scratch[:0], req, false, c.hints, p.opts, p.folder())
	p.addMessage(p.scratch)
	p.feed.request(p.file, req)
}

// Response implements httpparse.Handler.
func (c *conn) Response(_ *httpparse.ConnInfo, resp *httpparse.Response) {
	p := c.p
	c.noteHints(resp.Headers)
	p.messages++
	p.scratch = rules.AppendResponseFolded(p.scratch[:0], resp, false, p.opts, p.folder())
	p.addMessage(p.scratch)
	p.feed.response(p.file, resp)
}

// folder returns the rules.Folder of p's messages: p.fold, or nil in live
// capture, where every occurrence goes to found.
func (p *pipeline) folder() rules.Folder {
	if p.found != nil {
		return nil
	}
	if p.foldFn == nil {
		p.foldFn = p.fold
	}
	return p.foldFn
}

// fold is rules.Folder for the message being evaluated: an occurrence that
// only grows the count of a finding kept already is folded before rules
// builds it (its value hash, fingerprint, attributes, fix…). The policy's
// ignore entries are applied first, as add applies them.
func (p *pipeline) fold(f *rules.Finding) bool {
	if _, ok := p.opts.Ignored(f); ok {
		p.suppressed++
		return true
	}
	f.Message, f.File = p.messages, p.file
	if p.aggMu != nil {
		p.aggMu.Lock()
		defer p.aggMu.Unlock()
	}
	if !p.agg.Fold(f) {
		return false
	}
	p.occurrences++
	return true
}

// TLSHello implements httpparse.TLSHandler: hellos go to the correlator.
func (c *conn) TLSHello(_ *httpparse.ConnInfo, t *httpparse.TLSInfo) {
	c.p.feed.tlsHello(c.p.file, t)
}

// add adds the findings of the next message.
func (p *pipeline) add(fs []rules.Finding) {
	p.messages++
	p.addMessage(fs)
}

// addMessage adds the findings of message number p.messages, setting
// their Message and File. They are read in place: a Finding is 512
// bytes, and ranging over copies of them and handing each to
// Aggregator.Add copied each twice (the loop's line was 30 ms of the CPU
// profile's 8 runs of the 1 GB capture).
func (p *pipeline) addMessage(fs []rules.Finding) {
	if p.aggMu != nil && p.found == nil && len(fs) > 0 {
		p.aggMu.Lock()
		defer func() {
			p.aggLen.Store(int64(p.agg.Len()))
			p.aggMu.Unlock()
		}()
	}
	for k := range fs {
		f := &fs[k]
		if _, ok := p.opts.Ignored(f); ok {
			p.suppressed++
			continue
		}
		f.Message = p.messages
		f.File = p.file
		p.occurrences++
		if p.found != nil {
			p.found(*f)
			continue
		}
		p.agg.AddFinding(f)
	}
}
