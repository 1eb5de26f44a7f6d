package correlate

import (
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// TestStateOwnsItsText: the strings of a message point into one copy of its
// head (httpparse's ownHead), so what the state keeps from a message (host
// keys, cookie names, an exposure's method and path, ALPN protocols) must
// be copies: here every message's text lies in a 256 KiB head of its own,
// and the state, after the messages are gone, holds far less than one head
// per message.
func TestStateOwnsItsText(t *testing.T) {
	c, err := New(Config{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	const n, headSize = 40, 256 << 10
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	feed := func(i int) {
		fields := fmt.Sprintf("h%d.example sessionid_%d GET /p%d h2x", i, i, i)
		head := fields + strings.Repeat(" ", headSize-len(fields))
		f := strings.Fields(head[:len(fields)]) // substrings of head
		host, name, method, path, alpn := f[0], f[1], f[2], f[3], f[4]
		cli, srv := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), 40000), netip.MustParseAddrPort("192.0.2.80:80")
		at := t0.Add(time.Duration(i) * time.Second)
		c.TLSHello("a.pcap", &httpparse.TLSInfo{Client: cli, Server: netip.AddrPortFrom(srv.Addr(), 443), ClientHello: true,
			SNI: host, ALPN: []string{alpn}, Versions: []uint16{0x0304}, HelloFrame: uint64(3 * i), HelloTime: at, Latest: 1})
		req := &httpparse.Request{Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(3*i + 1), Time: at},
			Method: method, Host: host, Path: path, Cookies: []httpparse.Cookie{{Name: name, Value: "value-" + name}}}
		c.Request("a.pcap", req)
		c.Response("a.pcap", &httpparse.Response{Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(3*i + 2), Time: at},
			Status: 200, Request: req, SetCookies: []httpparse.SetCookie{{Name: name + "x", Value: "v"}, {Name: name, Value: "w", Secure: true}}})
		c.Take()
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		feed(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if st := c.Stats(); st.Hosts != n || st.Values < 2*n {
		t.Fatalf("%d hosts, %d values tracked, want %d and at least %d", st.Hosts, st.Values, n, 2*n)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > n*headSize/8 {
		t.Errorf("the state holds %d KiB after %d messages of %d KiB heads: it keeps heads alive", grew>>10, n, headSize>>10)
	}
	runtime.KeepAlive(c)
}
