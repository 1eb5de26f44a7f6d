// Package h2parse turns the two decrypted byte streams of an HTTP/2
// connection into httpparse.Request and httpparse.Response values, so the
// rules judge cookies inside h2 exactly as inside HTTP/1.x. Frames are read
// with golang.org/x/net/http2's Framer and header blocks (HEADERS or
// PUSH_PROMISE followed by CONTINUATION frames) decoded with its hpack
// decoder, one per direction, so the dynamic table stays in step. Cookie
// headers split into several fields (RFC 9113 8.2.3) give one Cookie per pair
// of every field; every set-cookie field gives one SetCookie.
//
// Bodies (DATA) and control frames are skipped without buffering. Push-style
// like httpparse.Conn: it never blocks and is not safe for concurrent use.
package h2parse

import (
	"bytes"
	"strings"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// Preface is what an HTTP/2 client sends first (RFC 9113 3.4).
const Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

const (
	frameHeader    = 9
	maxBlock       = 256 << 10 // a header block (HEADERS + CONTINUATION) kept
	maxTable       = 64 << 10  // dynamic table size a peer may ask for
	maxOpenStreams = 1000      // requests waiting for their response
	typeHeaders    = 0x1
	typePush       = 0x5
	typeCont       = 0x9
)

// side is one direction's frame reader.
type side struct {
	buf      []byte
	preface  int // preface bytes still expected (client)
	skip     int // payload bytes of a skipped frame still to drop
	src      bytes.Reader
	fr       *http2.Framer
	dec      *hpack.Decoder
	block    []byte // header block being collected
	stream   uint32
	push     bool // the block belongs to a PUSH_PROMISE
	stopped  bool
	frame    uint64
	when     time.Time
	overflow bool // the block exceeded maxBlock: decoded no more
}

// Conn parses one HTTP/2 connection.
type Conn struct {
	info    httpparse.ConnInfo
	h       httpparse.Handler
	st      *httpparse.Stats
	client  int
	side    [2]side
	streams map[uint32]*httpparse.Request
}

// NewConn returns a parser; client is the side (0 or 1) that sent the
// ClientHello. st may be nil. Requests, responses and trouble are counted in
// st (anomalies "h2-bad-preface", "h2-bad-frame", "h2-bad-header-block",
// "h2-header-block-too-large", "too-many-pending").
func NewConn(info httpparse.ConnInfo, client int, h httpparse.Handler, st *httpparse.Stats) *Conn {
	if st == nil {
		st = &httpparse.Stats{}
	}
	c := &Conn{info: info, h: h, st: st, client: client, streams: map[uint32]*httpparse.Request{}}
	for i := range c.side {
		s := &c.side[i]
		s.fr = http2.NewFramer(nil, &s.src)
		s.fr.SetMaxReadFrameSize(1<<24 - 1)
		s.dec = hpack.NewDecoder(4096, nil)
		s.dec.SetAllowedMaxDynamicTableSize(maxTable)
		s.dec.SetMaxStringLength(maxBlock)
	}
	c.side[client].preface = len(Preface)
	return c
}

func (c *Conn) anomaly(kind string) {
	if c.st.Anomalies == nil {
		c.st.Anomalies = map[string]uint64{}
	}
	c.st.Anomalies[kind]++
}

// Data consumes in-order bytes of side dir that arrived in frame at t (a
// decrypted TLS record). data is only valid during the call.
func (c *Conn) Data(dir int, data []byte, frame uint64, t time.Time) {
	if dir < 0 || dir > 1 {
		return
	}
	s := &c.side[dir]
	s.frame, s.when = frame, t
	for len(data) > 0 && !s.stopped {
		switch {
		case s.preface > 0:
			n := min(s.preface, len(data))
			off := len(Preface) - s.preface
			if string(data[:n]) != Preface[off:off+n] {
				c.anomaly("h2-bad-preface")
				c.stop(dir)
				return
			}
			s.preface -= n
			data = data[n:]
		case s.skip > 0:
			n := min(s.skip, len(data))
			s.skip -= n
			data = data[n:]
		default:
			n := c.frameBytes(dir, data)
			data = data[n:]
		}
	}
}

// frameBytes buffers the start of a frame; a complete header-carrying frame
// goes to the Framer, any other frame's payload is skipped.
func (c *Conn) frameBytes(dir int, data []byte) int {
	s := &c.side[dir]
	if len(s.buf) < frameHeader {
		n := min(frameHeader-len(s.buf), len(data))
		s.buf = append(s.buf, data[:n]...)
		if len(s.buf) < frameHeader {
			return n
		}
		typ, length := s.buf[3], int(s.buf[0])<<16|int(s.buf[1])<<8|int(s.buf[2])
		if typ != typeHeaders && typ != typeCont && typ != typePush {
			s.buf, s.skip = s.buf[:0], length
			return n
		}
		if length > maxBlock {
			c.anomaly("h2-header-block-too-large")
			c.stop(dir)
			return len(data)
		}
		return n
	}
	length := int(s.buf[0])<<16 | int(s.buf[1])<<8 | int(s.buf[2])
	n := min(frameHeader+length-len(s.buf), len(data))
	s.buf = append(s.buf, data[:n]...)
	if len(s.buf) == frameHeader+length {
		c.frame(dir)
		s.buf = s.buf[:0]
	}
	return n
}

// frame reads one complete HEADERS, PUSH_PROMISE or CONTINUATION frame.
func (c *Conn) frame(dir int) {
	s := &c.side[dir]
	s.src.Reset(s.buf)
	f, err := s.fr.ReadFrame()
	if err != nil {
		c.anomaly("h2-bad-frame")
		c.stop(dir)
		return
	}
	var frag []byte
	ended := false
	switch f := f.(type) {
	case *http2.HeadersFrame:
		s.block, s.stream, s.push, s.overflow = s.block[:0], f.StreamID, false, false
		frag, ended = f.HeaderBlockFragment(), f.HeadersEnded()
	case *http2.PushPromiseFrame:
		s.block, s.stream, s.push, s.overflow = s.block[:0], f.StreamID, true, false
		frag, ended = f.HeaderBlockFragment(), f.HeadersEnded()
	case *http2.ContinuationFrame:
		frag, ended = f.HeaderBlockFragment(), f.HeadersEnded()
	default:
		return
	}
	if len(s.block)+len(frag) > maxBlock {
		c.anomaly("h2-header-block-too-large")
		c.stop(dir) // the dynamic table cannot be kept in step without the block
		return
	}
	s.block = append(s.block, frag...)
	if !ended {
		return
	}
	fields, err := s.dec.DecodeFull(s.block)
	if err != nil {
		c.anomaly("h2-bad-header-block")
		c.stop(dir)
		return
	}
	if cap(s.block) > 16<<10 {
		s.block = nil
	}
	if s.push {
		return // a promised request: the server's guess, not what the client sent
	}
	if dir == c.client {
		c.request(s.stream, fields, s.frame, s.when)
	} else {
		c.response(s.stream, fields, s.frame, s.when)
	}
}

func (c *Conn) stop(dir int) {
	c.side[dir] = side{stopped: true}
}

// Close releases the connection's state.
func (c *Conn) Close() {
	c.stop(0)
	c.stop(1)
	c.streams = nil
}

func (c *Conn) message(fields []hpack.HeaderField, frame uint64, t time.Time) (httpparse.Message, map[string]string) {
	m := httpparse.Message{Client: c.info.Addr[c.client], Server: c.info.Addr[1-c.client], Proto: "HTTP/2", Frame: frame, Time: t}
	pseudo := map[string]string{}
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			pseudo[f.Name] = f.Value
			continue
		}
		m.Headers = append(m.Headers, httpparse.Header{Name: f.Name, Value: f.Value})
	}
	return m, pseudo
}

// request emits a request's header block; a trailer block (no :method) is ignored.
func (c *Conn) request(stream uint32, fields []hpack.HeaderField, frame uint64, t time.Time) {
	m, ps := c.message(fields, frame, t)
	method, ok := ps[":method"]
	if !ok {
		return
	}
	req := &httpparse.Request{Message: m, Method: method, Target: ps[":path"], Path: ps[":path"], Host: ps[":authority"]}
	if method == "CONNECT" {
		req.Target, req.Path = ps[":authority"], ""
	}
	if i := strings.LastIndexByte(req.Host, '@'); i >= 0 {
		req.Host = req.Host[i+1:] // never keep userinfo
	}
	if req.Host == "" {
		for _, h := range m.Headers {
			if h.Name == "host" {
				req.Host = h.Value
			}
		}
	}
	req.Path, _, _ = strings.Cut(req.Path, "#")
	for i, h := range m.Headers {
		if strings.EqualFold(h.Name, "cookie") {
			for _, ck := range httpparse.ParseCookieHeader(h.Value) {
				ck.Line = i
				req.Cookies = append(req.Cookies, ck)
			}
		}
	}
	c.st.Requests++
	if _, dup := c.streams[stream]; !dup && len(c.streams) >= maxOpenStreams {
		c.anomaly("too-many-pending")
	} else {
		c.streams[stream] = req
	}
	if c.h != nil {
		c.h.Request(&c.info, req)
	}
}

// response emits a response's header block, paired with its stream's request.
func (c *Conn) response(stream uint32, fields []hpack.HeaderField, frame uint64, t time.Time) {
	m, ps := c.message(fields, frame, t)
	st, ok := ps[":status"]
	if !ok {
		return // trailers
	}
	code := 0
	for _, ch := range st {
		if ch < '0' || ch > '9' || code > 999 {
			code = -1
			break
		}
		code = code*10 + int(ch-'0')
	}
	resp := &httpparse.Response{Message: m, Status: code, Request: c.streams[stream]}
	if code >= 200 || code < 0 {
		delete(c.streams, stream)
	}
	if resp.Request == nil {
		c.st.Orphans++
	}
	for _, h := range m.Headers {
		if strings.EqualFold(h.Name, "set-cookie") {
			resp.SetCookies = append(resp.SetCookies, httpparse.ParseSetCookie(h.Value))
		}
	}
	c.st.Responses++
	if c.h != nil {
		c.h.Response(&c.info, resp)
	}
}
