package main

import (
	"net/netip"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
)

// pipeline joins the stages for one run: capture hands each connection's
// bytes to an httpparse.Conn, whose messages rules turns into findings that
// the aggregator folds. It is used from one goroutine.
type pipeline struct {
	file        string
	limits      httpparse.Limits
	opts        rules.Options
	agg         *rules.Aggregator
	hstats      httpparse.Stats
	occurrences int
	messages    uint64
	protos      map[httpparse.Proto]uint64

	// found, when set (live capture), takes every finding instead of agg.
	found func(rules.Finding)
}

// Open implements capture.Handler.
func (p *pipeline) Open(key capture.ConnKey) capture.Conn {
	c := &conn{p: p}
	c.info.Addr = [2]netip.AddrPort{key.A, key.B}
	c.hc = httpparse.NewConn(c.info, p, p.limits, &p.hstats)
	return c
}

// conn adapts one capture.Conn to an httpparse.Conn.
type conn struct {
	p     *pipeline
	info  httpparse.ConnInfo
	hc    *httpparse.Conn
	spans []httpparse.Span // reused
}

func (c *conn) Data(d capture.Dir, data []byte, spans []capture.Span) {
	c.spans = c.spans[:0]
	for _, s := range spans {
		c.spans = append(c.spans, httpparse.Span{Len: s.Len, Frame: s.Frame, Time: s.Time})
	}
	c.hc.Data(httpparse.Side(d), data, c.spans)
}

func (c *conn) Gap(d capture.Dir, n int) { c.hc.Gap(httpparse.Side(d), n) }

func (c *conn) Close() {
	c.hc.Close()
	c.p.protos[c.hc.Proto()]++
}

// Request implements httpparse.Handler.
func (p *pipeline) Request(_ *httpparse.ConnInfo, req *httpparse.Request) {
	p.add(rules.EvaluateRequest(req, false, p.opts))
}

// Response implements httpparse.Handler.
func (p *pipeline) Response(_ *httpparse.ConnInfo, resp *httpparse.Response) {
	p.add(rules.EvaluateResponse(resp, false, p.opts))
}

func (p *pipeline) add(fs []rules.Finding) {
	p.messages++
	for _, f := range fs {
		f.Message = p.messages
		f.File = p.file
		p.occurrences++
		if p.found != nil {
			p.found(f)
			continue
		}
		p.agg.Add(f)
	}
}
