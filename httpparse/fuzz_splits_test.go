package httpparse

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// feedSplit feeds data to side sd in pieces whose lengths come from cuts
// (each byte a piece length 1..256, cycling). Every piece is a full slice
// expression (capacity = length), so reading past it panics, and the input
// must come back unchanged.
func feedSplit(t *testing.T, c *Conn, sd Side, data, cuts []byte) {
	t.Helper()
	orig := bytes.Clone(data)
	for off, k := 0, 0; off < len(data); k++ {
		n := len(data) - off
		if len(cuts) > 0 {
			n = min(n, int(cuts[k%len(cuts)])+1)
		}
		piece := data[off : off+n : off+n]
		c.Data(sd, piece, []Span{{Len: n, Frame: uint64(off + 1)}})
		off += n
	}
	if !bytes.Equal(data, orig) {
		t.Fatalf("the parser modified its input")
	}
}

// FuzzConnSplits checks that segmentation does not change what the parser
// sees: a client and a server stream fed whole and fed in fuzzer-chosen
// pieces (down to one byte) give the same messages, whenever the whole
// feeding found no anomaly, skipped no bytes and needed no
// resynchronisation (after lost sync, a segment's first byte is
// deliberately a candidate message start, so splits may then differ).
// Pieces are fed without spare capacity.
func FuzzConnSplits(f *testing.F) {
	f.Add([]byte(getReq+getReq), []byte(okResp+okResp), []byte{0})
	f.Add([]byte("POST /p HTTP/1.1\r\nContent-Length: 5\r\nCookie: a=1; b=2\r\n\r\nhelloGET / HTTP/1.0\r\n\r\n"),
		[]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nSet-Cookie: s=1; Secure\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"),
		[]byte{2, 0, 7, 1})
	f.Add([]byte("HEAD / HTTP/1.1\nX: a\n b\n\n"), []byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), []byte{3, 255})
	// bodies of every framing over many pieces (Data's shortcut counts
	// down those that do not finish the body): Content-Length, chunked,
	// until the connection closes
	f.Add([]byte(getReq+getReq+getReq), []byte("HTTP/1.1 200 OK\r\nContent-Length: 300\r\n\r\n"+strings.Repeat("b", 300)+
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\n"+strings.Repeat("c", 256)+"\r\n0\r\n\r\n"+
		"HTTP/1.0 200 OK\r\nSet-Cookie: u=1\r\n\r\n"+strings.Repeat("u", 200)), []byte{9, 40, 0, 77})
	f.Fuzz(func(t *testing.T, client, server, cuts []byte) {
		lim := Limits{MaxHeaderBytes: 512, MaxPending: 8, MaxScanBytes: 1024}
		whole, wst := &recorder{}, &Stats{}
		c := NewConn(testInfo, whole, lim, wst)
		feedSplit(t, c, 0, client, nil)
		feedSplit(t, c, 1, server, nil)
		// Bytes skipped while looking for a first message start lose sync
		// as much as a resynchronisation does, but count none when no
		// message start follows them.
		skipped := c.side[0].skipped || c.side[1].skipped
		c.Close()
		split, sst := &recorder{}, &Stats{}
		c = NewConn(testInfo, split, lim, sst)
		feedSplit(t, c, 0, client, cuts)
		feedSplit(t, c, 1, server, cuts)
		for sd := range c.side {
			if n := cap(c.side[sd].buf); n > 2*lim.MaxHeaderBytes+64 {
				t.Fatalf("side %d buffer cap %d over the %d limit", sd, n, lim.MaxHeaderBytes)
			}
		}
		c.Close()
		if sst.Anomalies["internal-stall"] != 0 {
			t.Fatalf("internal stall")
		}
		if len(wst.Anomalies) > 0 || wst.Resyncs > 0 || wst.Gaps > 0 || skipped {
			return
		}
		if !slices.Equal(whole.log, split.log) {
			t.Errorf("whole:\n%q\nsplit %v:\n%q", whole.log, cuts, split.log)
		}
	})
}
