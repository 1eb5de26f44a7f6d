package httpparse

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// recorder is a Handler keeping every message and a one-line summary of each.
type recorder struct {
	reqs  []*Request
	resps []*Response
	log   []string
}

func (r *recorder) Request(c *ConnInfo, req *Request) {
	r.reqs = append(r.reqs, req)
	s := fmt.Sprintf("req %s %s host=%s path=%s h=%d", req.Method, req.Target, req.Host, req.Path, len(req.Headers))
	if req.Truncated {
		s += " trunc"
	}
	r.log = append(r.log, s)
}

func (r *recorder) Response(c *ConnInfo, resp *Response) {
	r.resps = append(r.resps, resp)
	to := "-"
	if resp.Request != nil {
		to = resp.Request.Method + " " + resp.Request.Target
	}
	s := fmt.Sprintf("resp %d to=%s h=%d", resp.Status, to, len(resp.Headers))
	if resp.Truncated {
		s += " trunc"
	}
	r.log = append(r.log, s)
}

var testInfo = ConnInfo{Addr: [2]netip.AddrPort{
	netip.MustParseAddrPort("10.0.0.1:51000"),
	netip.MustParseAddrPort("10.0.0.2:80"),
}}

// step is one call on a Conn: data on a side, or a gap when data is empty.
type step struct {
	side Side
	data string
	gap  int
}

func c2s(s string) step       { return step{side: 0, data: s} }
func s2c(s string) step       { return step{side: 1, data: s} }
func gap(sd Side, n int) step { return step{side: sd, gap: n} }

// run feeds steps to a new Conn, each data step cut into pieces of at most
// chunk bytes (0: whole), and closes it.
func run(t *testing.T, steps []step, chunk int, lim Limits) (*recorder, *Stats, *Conn) {
	t.Helper()
	rec := &recorder{}
	st := &Stats{}
	c := NewConn(testInfo, rec, lim, st)
	// The same input on a Conn whose Handler wants only cookie messages.
	co, cst := &cookieRecorder{}, &Stats{}
	cc := NewConn(testInfo, co, lim, cst)
	// And on Conns whose Handlers take transient messages (all of them, or
	// only cookie messages).
	tr, trst := &transientRecorder{}, &Stats{}
	tc := NewConn(testInfo, tr, lim, trst)
	tco, tcst := &transientCookieRecorder{}, &Stats{}
	tcc := NewConn(testInfo, tco, lim, tcst)
	// And on a Conn held by value in its Handler (as cmd/cookiewatch's
	// conn holds it), made by Init over a Conn already used: it must
	// parse as the NewConn of tc.
	ih := newInPlace(lim)
	defer func() {
		checkCookieOnly(t, rec, st, co, cst)
		checkTransient(t, rec, &tr.recorder, st, trst, &co.recorder, &tco.recorder, cst, tcst)
		checkTransient(t, &tr.recorder, &ih.recorder, trst, &ih.st, &tco.recorder, &tco.recorder, tcst, tcst)
	}()
	frame := uint64(0)
	for _, s := range steps {
		if s.data == "" {
			for _, x := range []*Conn{c, cc, tc, tcc, &ih.c} {
				x.Gap(s.side, s.gap)
			}
			continue
		}
		d := []byte(s.data)
		for len(d) > 0 {
			n := len(d)
			if chunk > 0 {
				n = min(n, chunk)
			}
			frame++
			for _, x := range []*Conn{c, cc, tc, tcc, &ih.c} {
				piece := append([]byte(nil), d[:n]...)
				x.Data(s.side, piece, []Span{{Len: n, Frame: frame, Time: time.Unix(int64(frame), 0)}})
				clear(piece) // data is only valid during the call (Transient messages point into it)
			}
			d = d[n:]
		}
	}
	for _, x := range []*Conn{c, cc, tc, tcc, &ih.c} {
		x.Close()
	}
	return rec, st, c
}

// inPlace is a Handler holding its Conn by value (Conn.Init).
type inPlace struct {
	c  Conn
	st Stats
	transientRecorder
}

// newInPlace returns an inPlace whose Conn was used before it was made
// again with Init: what the first use left (side state, buffers, pending
// requests, the protocol, counts) must all be reset.
func newInPlace(lim Limits) *inPlace {
	h := &inPlace{}
	var junk Stats
	h.c.Init(ConnInfo{}, &recorder{}, Limits{MaxHeaderBytes: 64}, &junk)
	for _, d := range []string{"GET /a HTTP/1.1\r\nHost: x\r\nCookie: a=1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", "\x16\x03\x01\x00"} {
		h.c.Data(0, []byte(d), nil)
	}
	h.c.Data(1, []byte("HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nContent-Len"), nil)
	h.c.Init(testInfo, h, lim, &h.st)
	return h
}

// cookieRecorder is a recorder that wants only messages with cookie headers.
type cookieRecorder struct{ recorder }

func (*cookieRecorder) Want(request bool, _ string, hdrs []Header, _ uint64, _ time.Time) bool {
	return HasCookieHeader(hdrs, request)
}

// checkCookieOnly checks that a cookie-only Handler saw exactly the
// messages with cookie headers that a full one saw, equal in every field
// (a response's Request included), and that both Conns counted the same.
func checkCookieOnly(t *testing.T, full *recorder, fst *Stats, co *cookieRecorder, cst *Stats) {
	t.Helper()
	var reqs []*Request
	for _, r := range full.reqs {
		if HasCookieHeader(r.Headers, true) {
			reqs = append(reqs, r)
		}
	}
	var resps []*Response
	for _, r := range full.resps {
		if HasCookieHeader(r.Headers, false) {
			resps = append(resps, r)
		}
	}
	if !reflect.DeepEqual(reqs, co.reqs) {
		t.Errorf("cookie-only handler: requests differ:\n got %+v\nwant %+v", co.reqs, reqs)
	}
	if !reflect.DeepEqual(resps, co.resps) {
		t.Errorf("cookie-only handler: responses differ:\n got %+v\nwant %+v", co.resps, resps)
	}
	if !reflect.DeepEqual(fst, cst) {
		t.Errorf("cookie-only handler: stats differ:\n got %+v\nwant %+v", cst, fst)
	}
}

const (
	getReq  = "GET /a HTTP/1.1\r\nHost: example.com\r\nCookie: SID=1; theme=dark\r\n\r\n"
	okResp  = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nSet-Cookie: SID=2; Secure\r\nSet-Cookie: x=y; HttpOnly\r\n\r\nhello"
	headReq = "HEAD /h HTTP/1.1\r\nHost: example.com\r\n\r\n"
)

var connTests = []struct {
	name      string
	steps     []step
	lim       Limits
	want      []string
	anomalies map[string]uint64 // subset that must match
	proto     Proto
	segments  bool // the outcome depends on where deliveries start (a segment start is a candidate message start)
}{
	{name: "simple get and response", steps: []step{c2s(getReq), s2c(okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=3"}},
	{name: "keep-alive with content-length bodies",
		steps: []step{c2s("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world" + getReq), s2c(okResp + okResp)},
		want: []string{"req POST /p host=h path=/p h=2", "req GET /a host=example.com path=/a h=2",
			"resp 200 to=POST /p h=3", "resp 200 to=GET /a h=3"}},
	{name: "chunked with extensions and trailers",
		steps: []step{c2s(getReq + getReq), s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"5;ext=1\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-Trailer: 1\r\nSet-Cookie: t=1\r\n\r\n" + okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "req GET /a host=example.com path=/a h=2",
			"resp 200 to=GET /a h=1", "resp 200 to=GET /a h=3"}},
	{name: "chunked request body",
		steps: []step{c2s("POST /u HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" + getReq)},
		want:  []string{"req POST /u host= path=/u h=1", "req GET /a host=example.com path=/a h=2"}},
	{name: "head response has no body",
		steps: []step{c2s(headReq + getReq), s2c("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + okResp)},
		want: []string{"req HEAD /h host=example.com path=/h h=1", "req GET /a host=example.com path=/a h=2",
			"resp 200 to=HEAD /h h=1", "resp 200 to=GET /a h=3"}},
	{name: "204 and 304 have no body",
		steps: []step{c2s(getReq + getReq + getReq), s2c("HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n" +
			"HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n" + okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "req GET /a host=example.com path=/a h=2", "req GET /a host=example.com path=/a h=2",
			"resp 204 to=GET /a h=1", "resp 304 to=GET /a h=1", "resp 200 to=GET /a h=3"}},
	{name: "100-continue then 200",
		steps: []step{c2s("PUT /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
			s2c("HTTP/1.1 100 Continue\r\n\r\n"), c2s("data"), s2c(okResp)},
		want: []string{"req PUT /f host= path=/f h=2", "resp 100 to=PUT /f h=0", "resp 200 to=PUT /f h=3"}},
	{name: "pipelining pairs in order",
		steps: []step{c2s("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"),
			s2c("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\n2HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")},
		want: []string{"req GET /1 host= path=/1 h=0", "req GET /2 host= path=/2 h=0", "req GET /3 host= path=/3 h=0",
			"resp 200 to=GET /1 h=1", "resp 404 to=GET /2 h=1", "resp 500 to=GET /3 h=1"}},
	{name: "101 upgrade stops parsing",
		steps: []step{c2s("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
			s2c("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"),
			c2s("\x81\x85GET / HTTP/1.1\r\n\r\n"), s2c("HTTP/1.1 200 OK\r\n\r\n")},
		want: []string{"req GET /ws host= path=/ws h=2", "resp 101 to=GET /ws h=1"}},
	{name: "connect tunnel stops parsing",
		steps: []step{c2s("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
			s2c("HTTP/1.1 200 Connection established\r\n\r\n"), c2s("\x16\x03\x01\x00\x05hello"), s2c("\x16\x03\x03\x00\x01x")},
		want: []string{"req CONNECT example.com:443 host=example.com:443 path= h=1", "resp 200 to=CONNECT example.com:443 h=0"}},
	{name: "connect refused goes on",
		steps: []step{c2s("CONNECT example.com:443 HTTP/1.1\r\n\r\n"),
			s2c("HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n"), c2s(getReq), s2c(okResp)},
		want: []string{"req CONNECT example.com:443 host=example.com:443 path= h=0", "resp 407 to=CONNECT example.com:443 h=1",
			"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=3"}},
	{name: "absolute-form target",
		steps: []step{c2s("GET http://user:pw@proxy.example:8080/x/y?q=1#frag HTTP/1.1\r\n\r\nGET http://b.example HTTP/1.1\r\nHost: other\r\n\r\n")},
		want: []string{"req GET http://user:pw@proxy.example:8080/x/y?q=1#frag host=proxy.example:8080 path=/x/y?q=1 h=0",
			"req GET http://b.example host=other path=/ h=1"}},
	{name: "obs-fold joined",
		steps: []step{c2s("GET / HTTP/1.1\r\nX-Long: a\r\n  b\r\n\tc\r\nHost: h\r\n\r\n")},
		want:  []string{"req GET / host=h path=/ h=2"}, anomalies: map[string]uint64{"obs-fold": 1}},
	{name: "obs-fold in a wanted message", // the filter's in-place head re-pointed into its copy, folded values kept
		steps: []step{c2s("GET / HTTP/1.1\r\nCookie: a=1;\r\n b=2\r\nX: \r\n\tfirst\r\nHost: h\r\n\r\n"),
			s2c("HTTP/1.1 200 OK\r\nSet-Cookie: s=1;\r\n Secure\r\nContent-Length: 0\r\n\r\n")},
		want:      []string{"req GET / host=h path=/ h=3", "resp 200 to=GET / h=2"},
		anomalies: map[string]uint64{"obs-fold": 2}},
	{name: "bare LF accepted",
		steps: []step{c2s("GET / HTTP/1.1\nHost: h\n\n"), s2c("HTTP/1.0 200 OK\nContent-Length: 0\n\n")},
		want:  []string{"req GET / host=h path=/ h=1", "resp 200 to=GET / h=1"}, anomalies: map[string]uint64{"bare-lf": 2}},
	{name: "mid-stream start in a body tail",
		steps: []step{s2c("ail of some body\r\nmore\nHTTP/1.1 nope\r\n" + okResp), c2s(getReq), s2c(okResp)},
		want:  []string{"resp 200 to=- h=3", "req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=3"}},
	{name: "mid-stream binary body tail before request",
		steps: []step{c2s("\x00\x01\xff\r\n\x89PNG\r\n" + getReq), s2c(okResp)},
		want:  []string{"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=3"}},
	{name: "gap in content-length body stays in sync",
		steps: []step{c2s(getReq + getReq), s2c("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"), gap(1, 80), s2c("0123456789" + okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "req GET /a host=example.com path=/a h=2",
			"resp 200 to=GET /a h=1", "resp 200 to=GET /a h=3"}},
	{name: "gap in chunk data stays in sync",
		steps: []step{c2s(getReq + getReq), s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n01234"), gap(1, 6), s2c("abcde\r\n0\r\n\r\n" + okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "req GET /a host=example.com path=/a h=2",
			"resp 200 to=GET /a h=1", "resp 200 to=GET /a h=3"}},
	{name: "gap in headers truncates and resyncs",
		steps: []step{c2s(getReq + getReq), s2c("HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Coo"), gap(1, -1), s2c("kie: b=2\r\nContent-Length: 3\r\n\r\nabc" + okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "req GET /a host=example.com path=/a h=2",
			"resp 200 to=GET /a h=1 trunc", "resp 200 to=GET /a h=3"}},
	{name: "after a lost request head, a request right after the body tail is found",
		steps: []step{c2s(getReq), gap(0, 300), c2s("body line\nrest of the body, no line endGET /b HTTP/1.1\r\nHost: example.com\r\nCookie: SID=3\r\n\r\n")},
		// Found in a line collected whole: a delivery cut inside the line
		// while resynchronising skips it (delivery starts are candidates instead).
		want: []string{"req GET /a host=example.com path=/a h=2", "req GET /b host=example.com path=/b h=2"}, segments: true},
	{name: "not resynchronising, a request after other bytes on a line is not one",
		steps: []step{c2s("POST /p HTTP/1.1\r\nContent-Length: 2\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n")},
		want:  []string{"req POST /p host= path=/p h=1"}, segments: true},
	{name: "unknown gap in body resyncs",
		steps: []step{c2s(getReq), s2c("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123"), gap(1, -1), c2s(getReq), s2c("tail\r\n" + okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=1",
			"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=3"}},
	{name: "socks handshake before the request",
		steps: []step{c2s("\x05\x01\x00"), s2c("\x05\x00"), c2s("\x05\x01\x00\x03\x0bexample.com\x00\x50"),
			s2c("\x05\x00\x00\x01\x0a\x00\x00\x02\x00\x50"), c2s(getReq), s2c(okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=3"}, segments: true},
	{name: "keep-alive probe byte before the request",
		steps: []step{c2s("\x00"), c2s(getReq), s2c(okResp)},
		want:  []string{"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=3"}, segments: true},
	{name: "body longer than content-length runs into the next status line",
		steps: []step{c2s(getReq + getReq), s2c("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello, world" + okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "req GET /a host=example.com path=/a h=2",
			"resp 200 to=GET /a h=1", "resp 200 to=GET /a h=3"},
		anomalies: map[string]uint64{"bad-start-line": 1}},
	{name: "orphan response",
		steps: []step{s2c(okResp)},
		want:  []string{"resp 200 to=- h=3"}},
	{name: "header cut by close is truncated",
		steps: []step{c2s("GET /x HTTP/1.1\r\nHost: h\r\nCookie: a")},
		want:  []string{"req GET /x host=h path=/x h=1 trunc"}},
	{name: "header too large then next message parsed",
		lim:       Limits{MaxHeaderBytes: 200},
		steps:     []step{c2s("GET /big HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("x", 300) + "\r\n\r\n" + getReq)},
		want:      []string{"req GET /big host=h path=/big h=1 trunc", "req GET /a host=example.com path=/a h=2"},
		anomalies: map[string]uint64{"header-too-large": 1}},
	{name: "too many pending drops oldest",
		lim:   Limits{MaxPending: 2},
		steps: []step{c2s("GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n"), s2c(okResp)},
		want: []string{"req GET /1 host= path=/1 h=0", "req GET /2 host= path=/2 h=0", "req GET /3 host= path=/3 h=0",
			"resp 200 to=GET /2 h=3"},
		anomalies: map[string]uint64{"too-many-pending": 1}},
	{name: "bad start line counted and skipped",
		steps: []step{c2s(getReq), s2c(okResp + "garbage line\r\n" + okResp), c2s(getReq)},
		want: []string{"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=3", "resp 200 to=- h=3",
			"req GET /a host=example.com path=/a h=2"},
		anomalies: map[string]uint64{"bad-start-line": 1}},
	{name: "bad chunk size resyncs",
		steps: []step{c2s(getReq + getReq), s2c("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nbody\r\n" + okResp)},
		want: []string{"req GET /a host=example.com path=/a h=2", "req GET /a host=example.com path=/a h=2",
			"resp 200 to=GET /a h=1", "resp 200 to=GET /a h=3"},
		anomalies: map[string]uint64{"bad-chunk-size": 1}},
	{name: "response without framing reads until close",
		steps: []step{c2s(getReq), s2c("HTTP/1.0 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n\r\n")},
		want:  []string{"req GET /a host=example.com path=/a h=2", "resp 200 to=GET /a h=0"}},
	{name: "leading empty lines before request ignored",
		steps: []step{c2s("\r\n\r\n" + getReq)},
		want:  []string{"req GET /a host=example.com path=/a h=2"}},
	{name: "not http", steps: []step{c2s("SSH-2.0-OpenSSH_9.6\r\n"), s2c("SSH-2.0-OpenSSH_9.6\r\n")}, proto: ProtoOther},
	{name: "webdav method", steps: []step{c2s("PROPFIND /d HTTP/1.1\r\nDepth: 1\r\n\r\n")},
		want: []string{"req PROPFIND /d host= path=/d h=1"}},
	{name: "unknown method is not a start", steps: []step{c2s("FROB / HTTP/1.1\r\n\r\n")}, proto: ProtoOther},
}

func TestConn(t *testing.T) {
	for _, tt := range connTests {
		t.Run(tt.name, func(t *testing.T) {
			rec, st, c := run(t, tt.steps, 0, tt.lim)
			if !reflect.DeepEqual(rec.log, tt.want) {
				t.Errorf("messages:\n%s\nwant:\n%s", strings.Join(rec.log, "\n"), strings.Join(tt.want, "\n"))
			}
			for k, v := range tt.anomalies {
				if st.Anomalies[k] != v {
					t.Errorf("anomaly %q = %d, want %d (all: %v)", k, st.Anomalies[k], v, st.Anomalies)
				}
			}
			if st.Anomalies["internal-stall"] != 0 {
				t.Errorf("internal-stall anomaly")
			}
			want := tt.proto
			if want == ProtoUnknown {
				want = ProtoHTTP
			}
			if c.Proto() != want {
				t.Errorf("Proto = %v, want %v", c.Proto(), want)
			}
		})
	}
}

// stripPos removes what legitimately depends on how input was split.
func stripPos(rec *recorder) *recorder {
	out := &recorder{log: rec.log}
	for _, r := range rec.reqs {
		r2 := *r
		r2.Frame, r2.Time = 0, time.Time{}
		out.reqs = append(out.reqs, &r2)
	}
	for _, r := range rec.resps {
		r2 := *r
		r2.Frame, r2.Time = 0, time.Time{}
		if r2.Request != nil {
			q := *r2.Request
			q.Frame, q.Time = 0, time.Time{}
			r2.Request = &q
		}
		out.resps = append(out.resps, &r2)
	}
	return out
}

func TestConnSplitAnywhere(t *testing.T) {
	for _, tt := range connTests {
		if tt.segments {
			continue // by design: where a segment starts matters while resynchronising
		}
		t.Run(tt.name, func(t *testing.T) {
			whole, wst, _ := run(t, tt.steps, 0, tt.lim)
			for _, chunk := range []int{1, 2, 3, 7} {
				got, st, _ := run(t, tt.steps, chunk, tt.lim)
				if !reflect.DeepEqual(stripPos(got), stripPos(whole)) {
					t.Fatalf("fed %d bytes at a time:\n%s\nwhole:\n%s", chunk, strings.Join(got.log, "\n"), strings.Join(whole.log, "\n"))
				}
				if !reflect.DeepEqual(st.Anomalies, wst.Anomalies) {
					t.Errorf("fed %d bytes at a time: anomalies %v, whole %v", chunk, st.Anomalies, wst.Anomalies)
				}
			}
		})
	}
}

func TestConnMessageFields(t *testing.T) {
	rec, st, c := run(t, []step{c2s(getReq), s2c(okResp)}, 0, Limits{})
	if len(rec.reqs) != 1 || len(rec.resps) != 1 {
		t.Fatalf("got %d requests, %d responses", len(rec.reqs), len(rec.resps))
	}
	req, resp := rec.reqs[0], rec.resps[0]
	wantCookies := []Cookie{{Name: "SID", Value: "1", Line: 1}, {Name: "theme", Value: "dark", Line: 1}}
	if !reflect.DeepEqual(req.Cookies, wantCookies) {
		t.Errorf("Cookies = %+v, want %+v", req.Cookies, wantCookies)
	}
	if req.Client != testInfo.Addr[0] || req.Server != testInfo.Addr[1] || req.Proto != "HTTP/1.1" {
		t.Errorf("request Client/Server/Proto = %v %v %q", req.Client, req.Server, req.Proto)
	}
	if resp.Request != req || resp.Reason != "OK" || resp.Proto != "HTTP/1.1" {
		t.Errorf("response Request/Reason/Proto = %p %q %q", resp.Request, resp.Reason, resp.Proto)
	}
	if len(resp.SetCookies) != 2 || !resp.SetCookies[0].Secure || resp.SetCookies[0].Name != "SID" ||
		!resp.SetCookies[1].HttpOnly || resp.SetCookies[1].Raw != "x=y; HttpOnly" {
		t.Errorf("SetCookies = %+v", resp.SetCookies)
	}
	wantHdr := []Header{{"Content-Length", "5"}, {"Set-Cookie", "SID=2; Secure"}, {"Set-Cookie", "x=y; HttpOnly"}}
	if !reflect.DeepEqual(resp.Headers, wantHdr) {
		t.Errorf("Headers = %q", resp.Headers)
	}
	if st.Requests != 1 || st.Responses != 1 || st.HTTPConns != 1 || st.Orphans != 0 || c.Proto() != ProtoHTTP {
		t.Errorf("stats %+v proto %v", st, c.Proto())
	}
}

func TestConnDirectionByContent(t *testing.T) {
	// The client sends from port 80 to port 4660, and the capture layer
	// oriented the connection with the server as side 0.
	info := ConnInfo{Addr: [2]netip.AddrPort{netip.MustParseAddrPort("10.0.0.9:4660"), netip.MustParseAddrPort("10.0.0.8:80")}}
	rec := &recorder{}
	c := NewConn(info, rec, Limits{}, nil)
	c.Data(1, []byte(getReq), nil)
	c.Data(0, []byte(okResp), nil)
	c.Close()
	if len(rec.resps) != 1 || rec.resps[0].Request == nil {
		t.Fatalf("log %v", rec.log)
	}
	if r := rec.reqs[0]; r.Client != info.Addr[1] || r.Server != info.Addr[0] {
		t.Errorf("Client %v Server %v, want %v %v", r.Client, r.Server, info.Addr[1], info.Addr[0])
	}
}

func TestConnFrameOfHeaderEnd(t *testing.T) {
	rec := &recorder{}
	c := NewConn(testInfo, rec, Limits{}, nil)
	t0 := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	// One Data call carrying three frames: the header block ends in the second.
	msg := "GET / HTTP/1.1\r\nHost: h\r\n\r\n"
	data := []byte("GET / HTTP/1.1\r\n" + "Host: h\r\n\r\n" + "GET /next HT")
	c.Data(0, data, []Span{{Len: 16, Frame: 7, Time: t0}, {Len: len(msg) - 16, Frame: 9, Time: t0.Add(time.Second)}, {Len: 12, Frame: 12, Time: t0.Add(2 * time.Second)}})
	c.Data(0, []byte("TP/1.1\r\n"), []Span{{Len: 6, Frame: 13, Time: t0.Add(3 * time.Second)}, {Len: 2, Frame: 14, Time: t0.Add(4 * time.Second)}})
	c.Data(0, []byte("\r\n"), []Span{{Len: 2, Frame: 15, Time: t0.Add(5 * time.Second)}})
	if len(rec.reqs) != 2 {
		t.Fatalf("log %v", rec.log)
	}
	if r := rec.reqs[0]; r.Frame != 9 || !r.Time.Equal(t0.Add(time.Second)) {
		t.Errorf("first request Frame %d Time %v, want 9", r.Frame, r.Time)
	}
	if r := rec.reqs[1]; r.Frame != 15 {
		t.Errorf("second request Frame %d, want 15", r.Frame)
	}
	// A truncated block takes the frame of its last complete line.
	c.Data(0, []byte("GET /t HTTP/1.1\r\nA: b\r\nC"), []Span{{Len: 17, Frame: 20}, {Len: 6, Frame: 21}, {Len: 1, Frame: 22}})
	c.Close()
	if r := rec.reqs[2]; !r.Truncated || r.Frame != 21 || len(r.Headers) != 1 {
		t.Errorf("truncated request %+v", r)
	}
}

func TestConnBufferBounded(t *testing.T) {
	lim := Limits{MaxHeaderBytes: 1024}
	c := NewConn(testInfo, nil, lim, nil)
	c.Data(0, []byte(getReq), nil)
	for i := 0; i < 100; i++ {
		c.Data(0, []byte("GET /x HTTP/1.1\r\nX: "+strings.Repeat("a", 500)), nil)
		for sd := range c.side {
			if n := cap(c.side[sd].buf); n > lim.MaxHeaderBytes+smallBuffer {
				t.Fatalf("side %d buffer cap %d", sd, n)
			}
		}
	}
}

// TestMessagesOutliveBuffers keeps every message of a long keep-alive
// connection (as the correlator does, on another goroutine) and checks
// them only at the end against what was sent: the side buffers and scratch
// fields are reused and pooled, so a message string left pointing into them
// would have been overwritten by the later messages. Both a Handler that
// wants everything and one with a MessageFilter (heads parsed in place, then
// copied) are checked, with segments cut at odd places.
func TestMessagesOutliveBuffers(t *testing.T) {
	const n = 300
	var client, server []byte
	for i := range n {
		client = fmt.Appendf(client, "GET /p%d?q=%d HTTP/1.1\r\nHost: h%d.example\r\nCookie: sid=v%d; t=%d\r\nX-Fold: a%d\r\n b%d\r\n\r\n", i, i, i, i, i, i, i)
		server = fmt.Appendf(server, "HTTP/1.1 200 OK%d\r\nSet-Cookie: sid=w%d; Path=/%d\r\nContent-Length: 3\r\n\r\nabc", i, i, i)
	}
	for _, filtered := range []bool{false, true} {
		var rec *recorder
		var h Handler
		if filtered {
			co := &cookieRecorder{}
			rec, h = &co.recorder, co
		} else {
			rec = &recorder{}
			h = rec
		}
		c := NewConn(testInfo, h, Limits{}, nil)
		feed := func(sd Side, b []byte, cut int) {
			for len(b) > 0 {
				k := min(len(b), cut)
				d := append([]byte(nil), b[:k]...)
				c.Data(sd, d, []Span{{Len: k, Frame: 1}})
				clear(d) // data is only valid during the call
				b = b[k:]
			}
		}
		// Interleave: a few requests, then their responses (pipelined).
		for i := 0; i < n; i += 7 {
			j := min(i+7, n)
			feed(0, requestsOf(client, i, j), 37)
			feed(1, responsesOf(server, i, j), 53)
		}
		c.Close()
		if len(rec.reqs) != n || len(rec.resps) != n {
			t.Fatalf("filtered=%v: %d requests, %d responses", filtered, len(rec.reqs), len(rec.resps))
		}
		for i, r := range rec.reqs {
			want := []Header{{"Host", fmt.Sprintf("h%d.example", i)}, {"Cookie", fmt.Sprintf("sid=v%d; t=%d", i, i)},
				{"X-Fold", fmt.Sprintf("a%d b%d", i, i)}}
			if r.Path != fmt.Sprintf("/p%d?q=%d", i, i) || r.Host != want[0].Value || !reflect.DeepEqual(r.Headers, want) ||
				len(r.Cookies) != 2 || r.Cookies[0].Value != fmt.Sprintf("v%d", i) {
				t.Fatalf("filtered=%v: request %d changed: %+v", filtered, i, r)
			}
		}
		for i, r := range rec.resps {
			if r.Reason != fmt.Sprintf("OK%d", i) || len(r.SetCookies) != 1 || r.SetCookies[0].Value != fmt.Sprintf("w%d", i) ||
				r.SetCookies[0].Path != fmt.Sprintf("/%d", i) || r.Request != rec.reqs[i] {
				t.Fatalf("filtered=%v: response %d changed: %+v", filtered, i, r)
			}
		}
	}
}

// requestsOf returns messages i..j-1 of a stream of requests (each ends
// with an empty line).
func requestsOf(stream []byte, i, j int) []byte {
	return messagesOf(stream, []byte("GET "), i, j)
}

func responsesOf(stream []byte, i, j int) []byte {
	return messagesOf(stream, []byte("HTTP/1.1 "), i, j)
}

func messagesOf(stream, start []byte, i, j int) []byte {
	var offs []int
	for k := 0; ; {
		x := bytes.Index(stream[k:], start)
		if x < 0 {
			break
		}
		offs = append(offs, k+x)
		k += x + 1
	}
	offs = append(offs, len(stream))
	return stream[offs[i]:offs[j]]
}

// TestTrimEOL holds trimEOL to its former definition (LF, then one CR,
// stripped with bytes.TrimSuffix) on every short line of the bytes that
// matter.
func TestTrimEOL(t *testing.T) {
	old := func(line []byte) []byte {
		return bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	}
	alphabet := []byte{'\r', '\n', 'a', ' '}
	var lines [][]byte
	lines = append(lines, nil, []byte{})
	for n := 1; n <= 4; n++ {
		for k := 0; k < 1<<(2*n); k++ {
			line := make([]byte, n)
			for i := range line {
				line[i] = alphabet[(k>>(2*i))&3]
			}
			lines = append(lines, line)
		}
	}
	for _, line := range lines {
		if got, want := trimEOL(line), old(line); !bytes.Equal(got, want) || len(got) != len(want) {
			t.Errorf("trimEOL(%q) = %q, want %q", line, got, want)
		}
	}
}

// TestBuffersReturned checks that a side holds a pooled buffer only while a
// head straddles deliveries and hands it back when the head is complete,
// when the connection ends and on a tunnel, so pooled buffers are not held
// by idle or finished connections, and that a Conn holds no scratch fields
// (nor a Transient one its message storage) between heads.
func TestBuffersReturned(t *testing.T) {
	held := func(c *Conn) bool {
		return c.side[0].pooled != nil || c.side[1].pooled != nil || c.side[0].buf != nil || c.side[1].buf != nil ||
			c.side[0].big != nil || c.side[1].big != nil
	}
	co := &cookieRecorder{}
	c := NewConn(testInfo, co, Limits{}, nil)
	c.Data(0, []byte(getReq), nil)
	c.Data(1, []byte(okResp), nil)
	if held(c) || c.scratch != nil {
		t.Fatalf("heads in one delivery each: expected no buffer nor scratch fields held between heads")
	}
	tc := NewConn(testInfo, &transientCookieRecorder{}, Limits{}, nil)
	tc.Data(0, []byte(getReq[:20]), nil)
	tc.Data(0, []byte(getReq[20:]), nil)
	tc.Data(1, []byte(okResp), nil)
	if held(tc) || tc.scratch != nil || tc.msgs != nil {
		t.Fatalf("transient handler: buffer, scratch fields or message storage held between heads")
	}
	c.Data(0, []byte(getReq[:20]), nil)
	if c.side[0].pooled == nil {
		t.Fatalf("head cut after 20 bytes: expected a pooled buffer in use")
	}
	c.Data(0, []byte(getReq[20:]), nil)
	if held(c) {
		t.Errorf("head completed: buffer still held")
	}
	// A head of 3 KiB in two deliveries outgrows the pooled buffer into a
	// big one, given back with it.
	lc := NewConn(testInfo, &cookieRecorder{}, Limits{}, nil)
	long := "GET /long HTTP/1.1\r\nCookie: a=1\r\nX-Long: " + strings.Repeat("x", 3000) + "\r\n\r\n"
	lc.Data(0, []byte(long[:2000]), nil)
	if lc.side[0].big == nil || lc.side[0].pooled == nil {
		t.Fatalf("3 KiB head cut after 2,000 bytes: expected a big buffer in use")
	}
	lc.Data(0, []byte(long[2000:]), nil)
	if held(lc) {
		t.Errorf("long head completed: buffer still held")
	}
	c.Data(1, []byte(okResp[:30]), nil)
	c.Data(1, []byte(okResp[30:]), nil)
	if held(c) {
		t.Errorf("response head completed: buffer still held")
	}
	c.Data(0, []byte(getReq), nil) // never answered: pending at Close, in slot0
	if c.slot0[0].req == nil || len(c.pending) != 1 {
		t.Fatalf("expected a pending request in slot0")
	}
	c.Data(0, []byte(getReq[:len(getReq)-2]), nil) // cut before the empty line: emitted truncated at Close
	c.Close()
	if held(c) || c.scratch != nil || c.slot0[0].req != nil || c.slot0[0].head != nil {
		t.Errorf("closed connection still holds its buffers")
	}
	c.Data(0, []byte(getReq), nil) // after Close: ignored (Data relies on the sides being stOff)
	c.Data(1, []byte(okResp[:30]), nil)
	if held(c) || len(co.reqs) != 4 || len(co.resps) != 2 {
		t.Errorf("data after Close was parsed: %d requests, %d responses", len(co.reqs), len(co.resps))
	}
	if len(co.reqs) != 4 || len(co.resps) != 2 || co.reqs[1].Cookies[1].Value != "dark" || !co.reqs[3].Truncated {
		t.Errorf("messages: %+v %+v", co.reqs, co.resps)
	}

	c = NewConn(testInfo, co, Limits{}, nil)
	c.Data(0, []byte("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"), nil)
	c.Data(1, []byte("HTTP/1.1 200 OK\r\n\r\n"), nil)
	if held(c) {
		t.Errorf("tunnel: buffers still held")
	}
}

// TestInPlaceAtLimits: heads, chunk-size lines and trailers that arrive
// whole are parsed where they lie, the others through the side's buffer;
// at and around the size limits both must decide alike: a header block of
// exactly MaxHeaderBytes through its final LF is a message, one byte more
// is cut ("header-too-large", emitted truncated); a chunk-size line of
// min(maxChunkLine, MaxHeaderBytes) bytes is read, one more is
// "bad-chunk-size" (so a side's buffer stays within MaxHeaderBytes).
func TestInPlaceAtLimits(t *testing.T) {
	const max = 256
	lim := Limits{MaxHeaderBytes: max}
	head := func(size int) string { // a request head of size bytes through the final LF
		h := "GET /a HTTP/1.1\r\nCookie: a=1\r\nX-Pad: "
		return h + strings.Repeat("p", size-len(h)-4) + "\r\n\r\n"
	}
	chunked := func(lineLen int) string { // a chunked response whose first chunk-size line is lineLen bytes with CRLF
		line := "5;e=" + strings.Repeat("x", lineLen-6) + "\r\n"
		return "HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nTransfer-Encoding: chunked\r\n\r\n" + line + "hello\r\n0\r\n\r\n" +
			"HTTP/1.1 204 No Content\r\nSet-Cookie: t=2\r\n\r\n"
	}
	for _, tc := range []struct {
		name      string
		steps     []step
		messages  int
		anomalies map[string]uint64
	}{
		{"head at limit", []step{c2s(head(max) + head(max-1))}, 2, nil},
		{"head over limit", []step{c2s(head(max+1) + head(max))}, 2, map[string]uint64{"header-too-large": 1}},
		{"chunk line at limit", []step{c2s(getReq), s2c(chunked(max))}, 3, nil},
		{"chunk line over limit", []step{c2s(getReq), s2c(chunked(max + 1))}, 3, map[string]uint64{"bad-chunk-size": 1}},
		{"chunk line at 4 KiB", []step{c2s(getReq), s2c(chunked(maxChunkLine))}, 3, map[string]uint64{"bad-chunk-size": 1}},
		{"default limits: chunk line at 4 KiB", []step{c2s(getReq), s2c(chunked(maxChunkLine))}, 3, nil},
		{"default limits: chunk line over 4 KiB", []step{c2s(getReq), s2c(chunked(maxChunkLine + 1))}, 3, map[string]uint64{"bad-chunk-size": 1}},
		{"trailer field", []step{c2s(getReq), s2c("HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: v\r\n\r\n" +
			"HTTP/1.1 204 No Content\r\nSet-Cookie: t=2\r\n\r\n")}, 3, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := lim
			if strings.HasPrefix(tc.name, "default limits") {
				lim = Limits{}
			}
			whole, wst, _ := run(t, tc.steps, 0, lim)
			if len(whole.log) != tc.messages {
				t.Fatalf("whole: %d messages, want %d:\n%s", len(whole.log), tc.messages, strings.Join(whole.log, "\n"))
			}
			want := tc.anomalies
			if want == nil {
				want = map[string]uint64{}
			}
			got := wst.Anomalies
			if got == nil {
				got = map[string]uint64{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("whole: anomalies %v, want %v", got, want)
			}
			for _, chunk := range []int{1, 5, 100} {
				split, sst, _ := run(t, tc.steps, chunk, lim)
				if !reflect.DeepEqual(stripPos(split), stripPos(whole)) {
					t.Errorf("fed %d bytes at a time:\n%s\nwhole:\n%s", chunk, strings.Join(split.log, "\n"), strings.Join(whole.log, "\n"))
				}
				if !reflect.DeepEqual(sst.Anomalies, wst.Anomalies) || sst.TruncatedHeaders != wst.TruncatedHeaders {
					t.Errorf("fed %d bytes at a time: anomalies %v truncated %d, whole %v %d", chunk, sst.Anomalies, sst.TruncatedHeaders, wst.Anomalies, wst.TruncatedHeaders)
				}
			}
		})
	}
}

// TestFieldNamesASCII: a field name matches a known one only in ASCII case
// folding (as HasCookieHeader does), not through Unicode folding (ſ U+017F
// as s, K U+212A as k), which no server applies to field names.
func TestFieldNamesASCII(t *testing.T) {
	rec, st, _ := run(t, []step{c2s("POST /a HTTP/1.1\r\nHo\u017ft: x\r\nCoo\u212aie: c=1\r\nTran\u017ffer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" +
		"GET /b HTTP/1.1\r\nHost: y\r\n\r\n")}, 0, Limits{})
	want := []string{"req POST /a host= path=/a h=4", "req GET /b host=y path=/b h=1"}
	if !reflect.DeepEqual(rec.log, want) || len(rec.reqs[0].Cookies) != 0 || len(st.Anomalies) != 0 {
		t.Errorf("messages:\n%s\ncookies %v anomalies %v", strings.Join(rec.log, "\n"), rec.reqs[0].Cookies, st.Anomalies)
	}
}
