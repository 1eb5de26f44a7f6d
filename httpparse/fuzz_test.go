package httpparse

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// FuzzParseSetCookie checks that any line parses without panic and that,
// where net/http also accepts the line and it lies in the comparable subset,
// name, value and flags agree except for the deliberate differences listed
// in diff_test.go and doc.go.
func FuzzParseSetCookie(f *testing.F) {
	for _, s := range []string{"SID=1; Secure; HttpOnly; SameSite=Lax", "SID=", "=1", "a=b;;SameSite",
		"id=1; Max-Age=007", "id=1; Expires=Sun, 06 Nov 1994 08:49:37 GMT", "nameless; Secure",
		"id=1; Domain=.Example.com; Path=/a; Path=b", "id=\"q\"; Partitioned"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c := ParseSetCookie(line)
		if c.Raw != line {
			t.Fatalf("Raw not kept")
		}
		if c.Err == nil && c.Name == "" && c.Value == "" {
			t.Errorf("%q: empty cookie accepted", line)
		}
		if d := compareSetCookie(line); d != "" {
			t.Errorf("%q: %s", line, d)
		}
	})
}

// FuzzParseCookieHeader compares with net/http.ParseCookie where it succeeds.
func FuzzParseCookieHeader(f *testing.F) {
	for _, s := range []string{"a=1", "a=1; b=2", " ; a=;b", `a="x"`, "nameless", "a=b=c;  d=e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		got := ParseCookieHeader(line)
		want := 0 // every non-empty token is one pair: nothing dropped
		for tok := range strings.SplitSeq(line, ";") {
			if trimWSP(tok) != "" {
				want++
			}
		}
		if len(got) != want {
			t.Errorf("%q: %d pairs, want %d", line, len(got), want)
		}
		if d := compareCookieHeader(line); d != "" {
			t.Error(d)
		}
	})
}

// FuzzConn feeds arbitrary bytes to both sides, cut at fuzzer-chosen points
// with an optional gap, and checks: no panic, no internal stall, buffers
// within limits, and for a client stream that net/http.ReadRequest parses
// completely, the same number of header fields on the first request.
func FuzzConn(f *testing.F) {
	f.Add([]byte(getReq), []byte(okResp), uint16(3), uint16(20), int16(0))
	f.Add([]byte(getReq+getReq), []byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"+okResp), uint16(40), uint16(50), int16(4))
	f.Add([]byte("GET / HTTP/1.1\nX: a\n b\n\n"), []byte("tail\nHTTP/1.0 200 OK\n\n"), uint16(1), uint16(2), int16(-1))
	f.Add([]byte("CONNECT h:443 HTTP/1.1\r\n\r\n"), []byte("HTTP/1.1 200 OK\r\n\r\n\x16\x03"), uint16(0), uint16(0), int16(0))
	f.Add([]byte("\x16\x03\x01\x00\x10\x01\x00\x00\x0c\x03\x03"), []byte{}, uint16(5), uint16(0), int16(0))
	const maxHdr = 256
	f.Fuzz(func(t *testing.T, client, server []byte, cutC, cutS uint16, gapN int16) {
		st := &Stats{}
		rec := &recorder{}
		lim := Limits{MaxHeaderBytes: maxHdr, MaxPending: 4, MaxScanBytes: 512}
		c := NewConn(testInfo, rec, lim, st)
		// The same input on a Conn whose Handler wants only cookie messages;
		// the Data calls below are repeated on it.
		cst, co := &Stats{}, &cookieRecorder{}
		cc := NewConn(testInfo, co, lim, cst)
		// And on Conns whose Handlers take transient messages.
		trst, tr := &Stats{}, &transientRecorder{}
		tc := NewConn(testInfo, tr, lim, trst)
		tcst, tco := &Stats{}, &transientCookieRecorder{}
		tcc := NewConn(testInfo, tco, lim, tcst)
		check := func(c *Conn) {
			for sd := range c.side {
				if n := cap(c.side[sd].buf); n > 2*maxHdr+64 {
					t.Fatalf("side %d buffer cap %d over limit", sd, n)
				}
			}
			if len(c.pending) > 4 {
				t.Fatalf("%d pending", len(c.pending))
			}
			for _, p := range c.pending[:cap(c.pending)] {
				if cap(p.head) > 2*maxHdr+64 {
					t.Fatalf("pending head cap %d over limit", cap(p.head))
				}
			}
		}
		kc, ks := int(cutC)%(len(client)+1), int(cutS)%(len(server)+1)
		for _, x := range []*Conn{c, cc, tc, tcc} {
			x.Data(0, client[:kc], []Span{{Len: kc, Frame: 1}})
			check(x)
			x.Data(1, server[:ks], []Span{{Len: ks, Frame: 2}})
			check(x)
			if gapN != 0 {
				x.Gap(1, int(gapN))
			}
			x.Data(0, client[kc:], []Span{{Len: 1, Frame: 3}, {Len: len(client) - kc, Frame: 4}})
			check(x)
			x.Data(1, server[ks:], nil)
			check(x)
		}
		for _, x := range []*Conn{c, cc, tc, tcc} {
			x.Close()
		}
		checkCookieOnly(t, rec, st, co, cst)
		checkTransient(t, rec, &tr.recorder, st, trst, &co.recorder, &tco.recorder, cst, tcst)
		if st.Anomalies["internal-stall"] != 0 {
			t.Fatalf("internal stall")
		}
		// Differential: a single, complete, bodiless request.
		br := bufio.NewReader(bytes.NewReader(client))
		r, err := http.ReadRequest(br)
		if err != nil || br.Buffered() != 0 || r.ContentLength != 0 || len(r.TransferEncoding) != 0 ||
			len(client) > maxHdr || len(rec.reqs) == 0 || rec.reqs[0].Truncated {
			return
		}
		if rec.reqs[0].Client != testInfo.Addr[0] {
			return // the first request came from the other side (client bytes that are no request for us, e.g. HTTP/0.0)
		}
		if st.Anomalies["space-before-colon"] > 0 {
			// By design: "Host :" is a Host field here (name trimmed, anomaly
			// counted) but a field named "Host " to net/http, which then does
			// not move it out of Header: the counts below cannot agree.
			return
		}
		n := 0
		for _, v := range r.Header {
			n += len(v)
		}
		if _, ok := headerValue(rec.reqs[0].Headers, "Host"); ok {
			n++ // net/http moves Host out of Header
		}
		if got := len(rec.reqs[0].Headers); got != n {
			t.Errorf("%q: %d header fields, net/http %d", client, got, n)
		}
	})
}
