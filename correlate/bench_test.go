package correlate

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// benchCorrelator returns a Correlator with nValues session values tracked on
// shop.example, sent by nClients client addresses (round robin), and the
// time after the last of them.
func benchCorrelator(b *testing.B, nValues, nClients int) (*Correlator, time.Time) {
	b.Helper()
	c, err := New(Config{Key: []byte("bench key")})
	if err != nil {
		b.Fatal(err)
	}
	t := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	srv := netip.MustParseAddrPort("192.0.2.80:80")
	for i := range nValues {
		t = t.Add(time.Millisecond)
		cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i % nClients >> 8), byte(i % nClients)}), 40000)
		c.Request("b.pcap", &httpparse.Request{
			Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: t},
			Method:  "GET", Host: "shop.example", Path: "/cart",
			Cookies: []httpparse.Cookie{{Name: "sessionid", Value: fmt.Sprintf("value-%d-0123456789abcdef", i)}},
		})
	}
	c.Take()
	return c, t
}

// BenchmarkRequestKnown is the common case: a request with five cookies (two
// session cookies whose values are tracked already) to a known host.
func BenchmarkRequestKnown(b *testing.B) {
	c, t := benchCorrelator(b, 1000, 50)
	req := &httpparse.Request{
		Message: httpparse.Message{Client: netip.MustParseAddrPort("10.0.0.7:40000"), Server: netip.MustParseAddrPort("192.0.2.80:80"), Frame: 5000, Time: t},
		Method:  "GET", Host: "shop.example", Path: "/product/42",
		Cookies: []httpparse.Cookie{
			{Name: "sessionid", Value: "value-7-0123456789abcdef"},
			{Name: "theme", Value: "dark"},
			{Name: "csrftoken", Value: "0123456789abcdef0123456789abcdef"},
			{Name: "_ga", Value: "GA1.2.123456789.1700000000"},
			{Name: "PHPSESSID", Value: "abcdefabcdefabcdefabcdef01"},
		},
	}
	c.Request("b.pcap", req)
	c.Take()
	b.ReportAllocs()
	for b.Loop() {
		req.Frame++
		req.Time = req.Time.Add(time.Microsecond)
		c.Request("b.pcap", req)
		c.Take()
	}
}

// BenchmarkLoginResponse is a response-based login (it sets an auth cookie)
// while many values are tracked on the host, a few of them by its client.
func BenchmarkLoginResponse(b *testing.B) {
	c, t := benchCorrelator(b, 20000, 2000)
	req := &httpparse.Request{
		Message: httpparse.Message{Client: netip.MustParseAddrPort("10.0.0.7:40000"), Server: netip.MustParseAddrPort("192.0.2.80:80"), Frame: 30000, Time: t},
		Method:  "POST", Host: "shop.example", Path: "/account",
	}
	resp := &httpparse.Response{
		Message: httpparse.Message{Client: req.Client, Server: req.Server, Frame: 30001, Time: t},
		Status:  200, Request: req,
		SetCookies: []httpparse.SetCookie{{Name: "remember_token", Value: "r0123456789abcdef", HttpOnly: true}},
	}
	b.ReportAllocs()
	for b.Loop() {
		resp.Frame++
		resp.Time = resp.Time.Add(time.Microsecond)
		c.Response("b.pcap", resp)
		c.Take()
	}
}

// BenchmarkLoginRequest is a POST to a login path while many values are
// tracked on the host.
func BenchmarkLoginRequest(b *testing.B) {
	c, t := benchCorrelator(b, 20000, 2000)
	req := &httpparse.Request{
		Message: httpparse.Message{Client: netip.MustParseAddrPort("10.0.0.7:40000"), Server: netip.MustParseAddrPort("192.0.2.80:80"), Frame: 30000, Time: t},
		Method:  "POST", Host: "shop.example", Path: "/login",
		Cookies: []httpparse.Cookie{{Name: "sessionid", Value: "value-7-0123456789abcdef"}},
	}
	b.ReportAllocs()
	for b.Loop() {
		req.Frame++
		req.Time = req.Time.Add(time.Microsecond)
		c.Request("b.pcap", req)
		c.Take()
	}
}

// BenchmarkResponseSetCookie is a plaintext response setting a session
// cookie (a new value each time) and a preference cookie on a known host.
func BenchmarkResponseSetCookie(b *testing.B) {
	c, t := benchCorrelator(b, 1000, 50)
	req := &httpparse.Request{
		Message: httpparse.Message{Client: netip.MustParseAddrPort("10.0.0.7:40000"), Server: netip.MustParseAddrPort("192.0.2.80:80"), Frame: 5000, Time: t},
		Method:  "GET", Host: "shop.example", Path: "/product/42",
	}
	resp := &httpparse.Response{
		Message: httpparse.Message{Client: req.Client, Server: req.Server, Frame: 5001, Time: t,
			Headers: []httpparse.Header{{Name: "Server", Value: "nginx"}, {Name: "Content-Type", Value: "text/html"},
				{Name: "Content-Length", Value: "512"}, {Name: "Cache-Control", Value: "no-cache"},
				{Name: "Set-Cookie", Value: "…"}, {Name: "Set-Cookie", Value: "…"}}},
		Status: 200, Request: req,
		SetCookies: []httpparse.SetCookie{
			{Name: "sessionid", Value: "value-7-0123456789abcdef", HttpOnly: true, Path: "/"},
			{Name: "theme", Value: "dark", Path: "/"},
		},
	}
	b.ReportAllocs()
	for b.Loop() {
		resp.Frame++
		resp.Time = resp.Time.Add(time.Microsecond)
		c.Response("b.pcap", resp)
		c.Take()
	}
}

// BenchmarkValueMemory reports the live heap the correlator holds per tracked
// session value (bytes/value), measured after a GC: 20,000 values on 300 hosts
// from 2,000 clients (internal/gen's numbers), each sent by its client in two
// requests (the generated 1 GB capture has 34,595 cookie headers for 18,126
// values), one in ten also set in a plaintext response and one in twenty
// sent by a second client.
func BenchmarkValueMemory(b *testing.B) {
	const n = 20000
	srv := netip.MustParseAddrPort("192.0.2.80:80")
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	var perValue float64
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c, err := New(Config{Key: []byte("bench key")})
		if err != nil {
			b.Fatal(err)
		}
		for i := range 2 * n {
			v := i % n
			t := t0.Add(time.Duration(i) * time.Millisecond)
			cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(v % 2000 >> 8), byte(v % 2000)}), uint16(40000+i%7))
			if i >= n && v%20 == 0 {
				cli = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 2, byte(v >> 8), byte(v)}), 50000)
			}
			req := &httpparse.Request{
				Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: t},
				Method:  "GET", Host: fmt.Sprintf("h%03d.example", v%300), Path: fmt.Sprintf("/shop/item/%d", i),
				Cookies: []httpparse.Cookie{{Name: "sessionid", Value: fmt.Sprintf("value-%d-0123456789abcdef", v)}, {Name: "theme", Value: "dark"}},
			}
			c.Request("bench.pcap", req)
			if i < n && v%10 == 0 {
				c.Response("bench.pcap", &httpparse.Response{
					Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: t}, Status: 200, Request: req,
					SetCookies: []httpparse.SetCookie{{Name: "sessionid", Value: fmt.Sprintf("value-%d-0123456789abcdef", v), HttpOnly: true}},
				})
			}
			c.Take()
		}
		if got := c.Stats().Values; got != n {
			b.Fatalf("%d values tracked, want %d", got, n)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		perValue = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
		runtime.KeepAlive(c)
	}
	b.ReportMetric(perValue, "bytes/value")
}
