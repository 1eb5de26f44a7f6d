package h2parse

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

type sink struct {
	reqs  []*httpparse.Request
	resps []*httpparse.Response
}

func (s *sink) Request(_ *httpparse.ConnInfo, r *httpparse.Request)   { s.reqs = append(s.reqs, r) }
func (s *sink) Response(_ *httpparse.ConnInfo, r *httpparse.Response) { s.resps = append(s.resps, r) }

// block encodes fields with enc (whose dynamic table persists across calls).
func block(enc *hpack.Encoder, buf *bytes.Buffer, fields ...string) []byte {
	buf.Reset()
	for i := 0; i < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), buf.Bytes()...)
}

// TestHeadersAndContinuation writes frames with x/net/http2's Framer and
// hpack Encoder (a second, independent implementation) and feeds them split
// at every byte boundary of a few sizes: cookie fields split in two, a
// Set-Cookie header block spread over HEADERS and two CONTINUATION frames,
// DATA, SETTINGS, padding, and a second request reusing the dynamic table.
func TestHeadersAndContinuation(t *testing.T) {
	var c2s, s2c bytes.Buffer
	c2s.WriteString(Preface)
	cf, sf := http2.NewFramer(&c2s, nil), http2.NewFramer(&s2c, nil)
	var cb, sb bytes.Buffer
	ce, se := hpack.NewEncoder(&cb), hpack.NewEncoder(&sb)
	cf.WriteSettings()
	sf.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	req := block(ce, &cb, ":method", "GET", ":scheme", "https", ":authority", "shop.test", ":path", "/cart?x=1",
		"cookie", "sessionid=abc123", "cookie", "theme=dark; lang=en")
	cf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: req, EndStream: true, EndHeaders: true, PadLength: 7})
	resp := block(se, &sb, ":status", "200", "set-cookie", "sessionid=new456; Path=/; HttpOnly", "set-cookie", "theme=light; Secure", "content-type", "text/plain")
	third := len(resp) / 3
	sf.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: resp[:third]})
	sf.WriteContinuation(1, false, resp[third:2*third])
	sf.WriteContinuation(1, true, resp[2*third:])
	sf.WriteData(1, false, bytes.Repeat([]byte("body"), 5000))
	sf.WriteData(1, true, nil)
	req2 := block(ce, &cb, ":method", "GET", ":scheme", "https", ":authority", "shop.test", ":path", "/next",
		"cookie", "sessionid=abc123")
	cf.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: req2, EndStream: true, EndHeaders: true})
	sf.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(se, &sb, ":status", "204"), EndStream: true, EndHeaders: true})

	info := httpparse.ConnInfo{Addr: [2]netip.AddrPort{netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("10.0.0.2:443")}}
	for _, size := range []int{1, 7, 100, 1 << 20} {
		s := &sink{}
		var st httpparse.Stats
		c := NewConn(info, 0, s, &st)
		for i, b := range [][]byte{c2s.Bytes(), s2c.Bytes()} {
			for off := 0; off < len(b); off += size {
				c.Data(i, b[off:min(off+size, len(b))], uint64(off/size+1), time.Time{})
			}
		}
		if len(s.reqs) != 2 || len(s.resps) != 2 {
			t.Fatalf("size %d: %d requests, %d responses; anomalies %v", size, len(s.reqs), len(s.resps), st.Anomalies)
		}
		r := s.reqs[0]
		if r.Method != "GET" || r.Host != "shop.test" || r.Path != "/cart?x=1" || r.Proto != "HTTP/2" || len(r.Cookies) != 3 ||
			r.Cookies[0].Name != "sessionid" || r.Cookies[2].Name != "lang" || r.Cookies[2].Line != 1 || r.Client != info.Addr[0] {
			t.Errorf("size %d: request %+v", size, r)
		}
		if r2 := s.reqs[1]; r2.Path != "/next" || len(r2.Cookies) != 1 || r2.Cookies[0].Value != "abc123" {
			t.Errorf("size %d: second request (dynamic table) %+v", size, r2)
		}
		p := s.resps[0]
		if p.Status != 200 || p.Request != r || len(p.SetCookies) != 2 || p.SetCookies[0].Name != "sessionid" ||
			!p.SetCookies[0].HttpOnly || p.SetCookies[0].Secure || !p.SetCookies[1].Secure {
			t.Errorf("size %d: response %+v", size, p)
		}
		if s.resps[1].Status != 204 || s.resps[1].Request != s.reqs[1] || len(st.Anomalies) != 0 {
			t.Errorf("size %d: second response %+v, anomalies %v", size, s.resps[1], st.Anomalies)
		}
	}
}

func TestBadPreface(t *testing.T) {
	var st httpparse.Stats
	s := &sink{}
	c := NewConn(httpparse.ConnInfo{}, 1, s, &st)
	c.Data(1, []byte("GET / HTTP/1.1\r\n\r\n"), 1, time.Time{})
	if st.Anomalies["h2-bad-preface"] != 1 || len(s.reqs) != 0 {
		t.Errorf("anomalies %v", st.Anomalies)
	}
}
