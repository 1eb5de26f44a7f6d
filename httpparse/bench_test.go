package httpparse

import (
	"strings"
	"testing"
	"time"
)

type nopHandler struct{}

func (nopHandler) Request(*ConnInfo, *Request)   {}
func (nopHandler) Response(*ConnInfo, *Response) {}

// cookieFilter is a Handler doing nothing with the messages that carry
// cookie headers, the only ones it wants (as the cmd adapter's filter).
type cookieFilter struct{ nopHandler }

func (cookieFilter) Want(request bool, _ string, hdrs []Header, _ uint64, _ time.Time) bool {
	return HasCookieHeader(hdrs, request)
}

func BenchmarkConnKeepAlive(b *testing.B) { benchKeepAlive(b, nopHandler{}) }

// BenchmarkConnKeepAliveFiltered is BenchmarkConnKeepAlive with a
// MessageFilter that wants the two messages (heads parsed in place first).
func BenchmarkConnKeepAliveFiltered(b *testing.B) { benchKeepAlive(b, cookieFilter{}) }

// transientCookieFilter is cookieFilter taking transient messages, as the
// cmd adapter does (Transient).
type transientCookieFilter struct{ cookieFilter }

func (transientCookieFilter) TransientMessages() {}

// BenchmarkConnKeepAliveTransient is BenchmarkConnKeepAliveFiltered with a
// Transient Handler: no head is copied, no message allocated (the response's
// Request is parsed again from its pending slot).
func BenchmarkConnKeepAliveTransient(b *testing.B) { benchKeepAlive(b, transientCookieFilter{}) }

// BenchmarkConnNoCookie is the path most messages of a capture take: a
// request and a response without cookie headers, which the filter declines
// (framed, paired and counted without building anything).
func BenchmarkConnNoCookie(b *testing.B) {
	req := "GET /static/app.js HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: */*\r\nAccept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
	resp := "HTTP/1.1 200 OK\r\nContent-Type: application/javascript\r\nContent-Length: 1000\r\nCache-Control: max-age=3600\r\n" +
		"Server: nginx\r\nDate: Fri, 01 Mar 2024 12:00:00 GMT\r\n\r\n" + strings.Repeat("x", 1000)
	benchStreams(b, cookieFilter{}, []byte(req), []byte(resp))
}

func benchKeepAlive(b *testing.B, h Handler) {
	req := []byte("GET /account/settings HTTP/1.1\r\nHost: shop.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n" +
		"Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.5\r\n" +
		"Cookie: SID=31d4d96e407aad42; theme=dark; _ga=GA1.2.1234567890.1234567890\r\nConnection: keep-alive\r\n\r\n")
	body := strings.Repeat("<p>lorem ipsum dolor sit amet</p>\n", 400)[:10240]
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 10240\r\n" +
		"Set-Cookie: SID=31d4d96e407aad42; Path=/; Secure; HttpOnly; SameSite=Lax\r\n" +
		"Set-Cookie: theme=dark; Max-Age=31536000; Path=/\r\nCache-Control: private\r\n\r\n" + body)
	benchStreams(b, h, req, resp)
}

// benchStreams feeds req in one delivery and resp in MSS-sized ones, again
// and again on one connection.
func benchStreams(b *testing.B, h Handler, req, resp []byte) {
	spansReq := []Span{{Len: len(req), Frame: 1}}
	// The response arrives in MSS-sized segments, as reassembly delivers it.
	var segs [][]byte
	for d := resp; len(d) > 0; {
		n := min(len(d), 1448)
		segs = append(segs, d[:n])
		d = d[n:]
	}
	c := NewConn(testInfo, h, Limits{}, &Stats{})
	b.SetBytes(int64(len(req) + len(resp)))
	b.ReportAllocs()
	for b.Loop() {
		c.Data(0, req, spansReq)
		for _, s := range segs {
			c.Data(1, s, []Span{{Len: len(s), Frame: 2}})
		}
	}
}

func BenchmarkParseSetCookie(b *testing.B) {
	line := "SID=31d4d96e407aad42; Path=/; Domain=.example.com; Expires=Wed, 09 Jun 2021 10:18:14 GMT; Secure; HttpOnly; SameSite=Lax"
	b.ReportAllocs()
	for b.Loop() {
		_ = ParseSetCookie(line)
	}
}

// BenchmarkManyConnsBody is the per-delivery cost on connections whose
// state is not in cache: deliveries go round-robin over 50,000 connections,
// each inside a long Content-Length body, as segments of many concurrent
// downloads arrive in a capture.
func BenchmarkManyConnsBody(b *testing.B) {
	const n = 50000
	head := []byte("HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n")
	conns := make([]*Conn, n)
	for i := range conns {
		conns[i] = NewConn(testInfo, cookieFilter{}, Limits{}, &Stats{})
		conns[i].Data(1, head, nil)
	}
	seg := []byte(strings.Repeat("x", 1448))
	spans := []Span{{Len: len(seg), Frame: 3}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		conns[i].Data(1, seg, spans)
		if i++; i == n {
			i = 0
		}
	}
}
