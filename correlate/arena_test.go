package correlate

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// viaArena, when set, makes randomTraffic hand the Correlator copies of its
// plaintext requests and responses made in it, poisoned after each message.
var viaArena *Arena

// poison overwrites everything a's copies point to, then resets a: a
// Correlator that kept a string or slice of a copy instead of copying it
// would see the junk.
func poison(a *Arena) {
	junk := a.text[:cap(a.text)]
	for i := range junk {
		junk[i] = '#'
	}
	fill(a.reqs, httpparse.Request{Method: "JUNK", Host: "junk.invalid", Path: "/junk", Cookies: []httpparse.Cookie{{Name: "junk", Value: "junk"}}})
	fill(a.resps, httpparse.Response{Status: 599})
	fill(a.cks, httpparse.Cookie{Name: "junk", Value: "junk"})
	fill(a.scs, httpparse.SetCookie{Name: "junk", Value: "junk"})
	fill(a.hdrs, httpparse.Header{Name: "Location", Value: "https://junk.invalid/"})
	a.Reset()
}

// fill sets every element of s up to its capacity to x.
func fill[T any](s []T, x T) {
	s = s[:cap(s)]
	for i := range s {
		s[i] = x
	}
}

// TestArenaMatches is TestRandomTrafficGolden with the plaintext messages
// copied into an Arena, which is poisoned after each message: the findings
// (every field, the chains), stats and hosts must be the golden ones, so
// the copies hold all the Correlator reads, and it keeps nothing of them.
func TestArenaMatches(t *testing.T) {
	viaArena = &Arena{}
	defer func() { viaArena = nil }()
	for _, tc := range []struct {
		name    string
		cfg     Config
		seed    uint64
		clients int
	}{
		{"tight", Config{MaxValues: 25, MaxHosts: 5, MaxNames: 4, MaxLogins: 2, Window: 2 * time.Minute}, 1, 0},
		{"defaults", Config{}, 2, 0},
		{"window", Config{Window: 30 * time.Second}, 3, 0},
		{"clients", Config{}, 4, 19},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Key = []byte("golden key")
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			randomTraffic(&w, c, tc.seed, 6000, tc.clients)
			want, err := readGzip(filepath.Join("testdata", "random-traffic-"+tc.name+".golden.gz"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.Bytes(), want) {
				t.Fatalf("findings differ from the golden ones (%d bytes, want %d)", w.Len(), len(want))
			}
		})
	}
}

// TestArenaCopies checks the fields an Arena copy keeps, and that it owns
// them.
func TestArenaCopies(t *testing.T) {
	src := []byte("GET /p?q HOST.example sid v1 Location https://x/ max-age=1")
	str := func(i, j int) string { return string(src[i:j]) }
	at := time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	m := httpparse.Message{Client: testAddr("10.0.0.1:4000"), Server: testAddr("192.0.2.1:80"), Frame: 7, Time: at, Proto: "HTTP/1.1",
		Headers: []httpparse.Header{{Name: "X", Value: "y"}, {Name: "location", Value: str(38, 48)}, {Name: "Location", Value: "second"},
			{Name: "Strict-Transport-Security", Value: str(49, 58)}}}
	req := &httpparse.Request{Message: m, Method: str(0, 3), Target: str(4, 8), Host: str(9, 21), Path: str(4, 8),
		Cookies: []httpparse.Cookie{{Name: str(22, 25), Value: str(26, 28), Line: 3}}}
	resp := &httpparse.Response{Message: m, Status: 302, Reason: "Found", Request: req,
		SetCookies: []httpparse.SetCookie{{Raw: "raw", Name: str(22, 25), Value: str(26, 28), Secure: true, HttpOnly: true,
			MaxAge: 5, HasMaxAge: true, Expires: at, HasExpires: true, Domain: "d", Path: "/"}}}
	var a Arena
	r, p := a.Request(req), a.Response(resp)
	wantReq := &httpparse.Request{Message: httpparse.Message{Client: m.Client, Server: m.Server, Frame: 7, Time: at},
		Method: "GET", Host: "HOST.example", Path: "/p?q", Cookies: []httpparse.Cookie{{Name: "sid", Value: "v1", Line: 3}}}
	if !reflect.DeepEqual(r, wantReq) {
		t.Errorf("request copy %+v\nwant %+v", r, wantReq)
	}
	wantPReq := *wantReq
	wantPReq.Cookies = nil
	wantResp := &httpparse.Response{Message: httpparse.Message{Client: m.Client, Server: m.Server, Frame: 7, Time: at,
		Headers: []httpparse.Header{{Name: "Location", Value: "https://x/"}, {Name: "Strict-Transport-Security", Value: "max-age=1"}}},
		Status: 302, Request: &wantPReq,
		SetCookies: []httpparse.SetCookie{{Name: "sid", Value: "v1", Secure: true, HttpOnly: true, MaxAge: 5, HasMaxAge: true, Expires: at, HasExpires: true}}}
	if !reflect.DeepEqual(p, wantResp) {
		t.Errorf("response copy %+v\nwant %+v", p, wantResp)
	}
	if header(p.Headers, "Location") != header(resp.Headers, "Location") || hasHeader(p.Headers, "strict-transport-security") != true {
		t.Errorf("headers as Response reads them differ")
	}
}

func testAddr(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

// TestArenaLetsGoOfBursts: storage a burst of Set-Cookies grew is let go
// at the first Reset after a batch that needed little of it.
func TestArenaLetsGoOfBursts(t *testing.T) {
	var a Arena
	burst := &httpparse.Response{Status: 200, SetCookies: make([]httpparse.SetCookie, 5000)}
	for i := range burst.SetCookies {
		burst.SetCookies[i] = httpparse.SetCookie{Name: "n", Value: strings.Repeat("v", 100)}
	}
	a.Response(burst)
	a.Reset()
	if cap(a.scs) < 5000 || cap(a.text) < 500000 {
		t.Fatalf("storage used in full was let go: %d Set-Cookies, %d bytes", cap(a.scs), cap(a.text))
	}
	a.Response(&httpparse.Response{Status: 200, SetCookies: []httpparse.SetCookie{{Name: "n", Value: "v"}}})
	a.Reset()
	if cap(a.scs) > 64 || cap(a.text) > 4<<10 {
		t.Errorf("after a normal batch: %d Set-Cookies, %d bytes of text kept", cap(a.scs), cap(a.text))
	}
}
