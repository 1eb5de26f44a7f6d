package correlate

import (
	"net/netip"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// TestFiredStateLetGo: once mixed-scheme-session has fired for a cookie name,
// its exposure is let go (the host report still counts the name), and once
// secure-cookie-shadowed has, the two Set-Cookies it compared; later
// messages neither bring them back nor fire the rules again.
func TestFiredStateLetGo(t *testing.T) {
	c, err := New(Config{Key: []byte("k")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	cli, srv := netip.MustParseAddrPort("10.0.0.1:40000"), netip.MustParseAddrPort("192.0.2.80:80")
	c.TLSHello("a.pcap", &httpparse.TLSInfo{Client: cli, Server: netip.AddrPortFrom(srv.Addr(), 443), ClientHello: true,
		SNI: "shop.example", Versions: []uint16{0x0304}, HelloFrame: 1, HelloTime: t0, Latest: 1})
	req := func(frame uint64) {
		c.Request("a.pcap", &httpparse.Request{Message: httpparse.Message{Client: cli, Server: srv, Frame: frame, Time: t0.Add(time.Duration(frame) * time.Second)},
			Method: "GET", Host: "shop.example", Path: "/", Cookies: []httpparse.Cookie{{Name: "sessionid", Value: "v1"}}})
	}
	resp := func(frame uint64, secure bool) {
		c.Response("a.pcap", &httpparse.Response{Message: httpparse.Message{Client: cli, Server: srv, Frame: frame, Time: t0.Add(time.Duration(frame) * time.Second)},
			Status: 200, Request: &httpparse.Request{Method: "GET", Host: "shop.example", Path: "/"}, SetCookies: []httpparse.SetCookie{{Name: "sessionid", Value: "v2", Secure: secure}}})
	}
	count := map[string]int{}
	take := func() {
		for _, f := range c.Take() {
			count[f.Rule]++
		}
	}
	req(2)
	take()
	ns := c.hosts["shop.example"].names["sessionid"]
	if count["mixed-scheme-session"] != 1 || !ns.mixed || ns.exposed != nil {
		t.Fatalf("after the first plaintext request: %v findings, mixed %v, exposure kept %v", count, ns.mixed, ns.exposed != nil)
	}
	resp(3, true)
	resp(4, false)
	take()
	if count["secure-cookie-shadowed"] != 1 || !ns.shadowed || ns.secure != nil || ns.insecure != nil {
		t.Fatalf("after Secure then plain Set-Cookie: %v findings, shadowed %v, secure/insecure kept %v/%v", count, ns.shadowed, ns.secure != nil, ns.insecure != nil)
	}
	req(5)
	resp(6, true)
	resp(7, false)
	take()
	if count["mixed-scheme-session"] != 1 || count["secure-cookie-shadowed"] != 1 || ns.exposed != nil || ns.secure != nil || ns.insecure != nil {
		t.Fatalf("later messages: %v findings, exposure/secure/insecure kept %v/%v/%v", count, ns.exposed != nil, ns.secure != nil, ns.insecure != nil)
	}
	if hs := c.Hosts(); len(hs) != 1 || hs[0].SessionCookies != 1 {
		t.Fatalf("hosts %+v, want shop.example with 1 session cookie", hs)
	}
}
