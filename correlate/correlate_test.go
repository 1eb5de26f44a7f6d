package correlate

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
)

func TestCatalogue(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range rules.Catalogue() {
		seen[r.ID] = true
	}
	for _, r := range catalogue {
		t.Run(r.ID, func(t *testing.T) {
			if r.ID == "" || seen[r.ID] {
				t.Fatalf("empty or duplicate rule ID %q (IDs are shared with the per-message catalogue)", r.ID)
			}
			seen[r.ID] = true
			if r.CWE == 0 || r.Severity == rules.SeverityInvalid || r.Confidence == rules.ConfidenceInvalid || r.When == 0 {
				t.Errorf("CWE %d, severity %v, confidence %v, decision %d: none may be zero", r.CWE, r.Severity, r.Confidence, r.When)
			}
			if r.Title == "" || r.Explanation == "" || r.Fix == "" || r.Holds == nil || r.Check != nil {
				t.Errorf("title, explanation, fix and Holds are required; the Observation Check must stay nil")
			}
			if len(r.FiresOn) == 0 || len(r.SilentOn) == 0 {
				t.Errorf("needs samples that must fire and must stay silent")
			}
			for _, f := range r.FiresOn {
				if !r.Holds(f) {
					t.Errorf("does not fire on %+v", f)
				}
			}
			for _, f := range r.SilentOn {
				if r.Holds(f) {
					t.Errorf("fires on %+v", f)
				}
			}
		})
	}
}

func TestHostKey(t *testing.T) {
	for in, want := range map[string]string{
		"Shop.Example":        "shop.example",
		"shop.example:8080":   "shop.example",
		"shop.example.":       "shop.example",
		"192.0.2.1:80":        "192.0.2.1",
		"[2001:db8::1]:443":   "2001:db8::1",
		"2001:db8::1":         "2001:db8::1",
		"::ffff:192.0.2.1":    "192.0.2.1",
		" shop.example:":      "shop.example",
		"":                    "",
		"weird:host:name":     "weird:host:name",
		"shop.example:notnum": "shop.example:notnum",
		"shop-1_x.example":    "shop-1_x.example",
		"192.0.2.1":           "192.0.2.1",
		"ÄRGER.example":       "ärger.example",
		"shop.example\v":      "shop.example",
	} {
		if got := HostKey(in); got != want {
			t.Errorf("HostKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLoginLike(t *testing.T) {
	for path, want := range map[string]bool{
		"/login": true, "/accounts/login/?next=/": true, "/users/sign_in": true, "/session": true,
		"/j_security_check": true, "/api/authenticate": true, "/logout": false, "/search?q=login": false,
		"/": false, "/cart": false,
	} {
		if got := isLoginPath(path); got != want {
			t.Errorf("isLoginPath(%q) = %v, want %v", path, got, want)
		}
	}
	for n, want := range map[string]bool{".ASPXAUTH": true, "remember_me": true, "wordpress_logged_in_x": true, "sessionid": false, "theme": false} {
		if got := isAuthCookie(n); got != want {
			t.Errorf("isAuthCookie(%q) = %v, want %v", n, got, want)
		}
	}
}

// harness feeds real parsed messages to a Correlator: each send is one Data
// call and one frame, at a capture time given in seconds.
type harness struct {
	t     *testing.T
	c     *Correlator
	frame uint64
	t0    time.Time
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	cfg.Key = []byte("test key")
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, t0: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

type fwd struct{ h *harness }

func (f fwd) Request(_ *httpparse.ConnInfo, r *httpparse.Request)   { f.h.c.Request("t.pcap", r) }
func (f fwd) Response(_ *httpparse.ConnInfo, r *httpparse.Response) { f.h.c.Response("t.pcap", r) }
func (f fwd) TLSHello(_ *httpparse.ConnInfo, t *httpparse.TLSInfo)  { f.h.c.TLSHello("t.pcap", t) }

type tconn struct {
	h  *harness
	hc *httpparse.Conn
}

func (h *harness) conn(client, server string) *tconn {
	info := httpparse.ConnInfo{Addr: [2]netip.AddrPort{netip.MustParseAddrPort(client), netip.MustParseAddrPort(server)}}
	return &tconn{h: h, hc: httpparse.NewConn(info, fwd{h}, httpparse.Limits{}, nil)}
}

// send delivers text (lines joined with CRLF, a blank line appended) from the
// client or the server at second sec; it returns the frame number.
func (tc *tconn) send(fromClient bool, sec int, lines ...string) uint64 {
	return tc.raw(fromClient, sec, []byte(strings.Join(lines, "\r\n")+"\r\n\r\n"))
}

func (tc *tconn) raw(fromClient bool, sec int, b []byte) uint64 {
	tc.h.frame++
	sd := httpparse.Side(0)
	if !fromClient {
		sd = 1
	}
	tc.hc.Data(sd, b, []httpparse.Span{{Len: len(b), Frame: tc.h.frame, Time: tc.h.t0.Add(time.Duration(sec) * time.Second)}})
	return tc.h.frame
}

var helloCache = map[string][]byte{}

func hello(t *testing.T, sni string) []byte {
	t.Helper()
	if b, ok := helloCache[sni]; ok {
		return b
	}
	cfg := &tls.Config{ServerName: sni}
	if sni == "" {
		cfg = &tls.Config{InsecureSkipVerify: true}
	}
	b, err := capturetest.ClientHello(cfg)
	if err != nil {
		t.Fatal(err)
	}
	helloCache[sni] = b
	return b
}

// got is a finding reduced to what scenarios check.
type got struct {
	rule, cookie string
	chain        []uint64
}

func (g got) String() string { return fmt.Sprintf("%s %s %v", g.rule, g.cookie, g.chain) }

func (h *harness) end() []got {
	var out []got
	for _, f := range h.c.End() {
		g := got{rule: f.Rule, cookie: f.Cookie}
		for _, l := range f.Chain {
			g.chain = append(g.chain, l.Frame)
		}
		if f.Frame != f.Chain[len(f.Chain)-1].Frame {
			h.t.Errorf("%s: frame %d is not the last link's %v", f.Rule, f.Frame, g.chain)
		}
		if f.Value.Raw != "" {
			h.t.Errorf("%s: raw value kept", f.Rule)
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b got) int { return strings.Compare(a.String(), b.String()) })
	return out
}

const (
	alice = "10.0.0.2:50000"
	bob   = "10.0.0.9:50000"
	web   = "192.0.2.80:80"
	web2  = "192.0.2.81:80"
	tlsSv = "192.0.2.80:443"
)

func TestScenarios(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		run  func(h *harness) []got // builds the traffic, returns the findings wanted
	}{
		{name: "set over TLS, leaked over HTTP", run: func(h *harness) []got {
			hf := h.conn(alice, tlsSv).raw(true, 1, hello(t, "shop.example"))
			rf := h.conn(alice, web).send(true, 5, "GET /cart HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			return []got{{"cookie-set-over-tls-leaked", "sessionid", []uint64{hf, rf}}, {"mixed-scheme-session", "sessionid", []uint64{hf, rf}}}
		}},
		{name: "TLS seen only later: mixed still fires", run: func(h *harness) []got {
			rf := h.conn(alice, web).send(true, 1, "GET /cart HTTP/1.1", "Host: shop.example:80", "Cookie: sessionid=abcdef0123456789")
			hf := h.conn(alice, tlsSv).raw(true, 5, hello(t, "SHOP.example"))
			return []got{{"cookie-set-over-tls-leaked", "sessionid", []uint64{rf, hf}}, {"mixed-scheme-session", "sessionid", []uint64{rf, hf}}}
		}},
		{name: "set in plaintext first: mixed but not leaked", run: func(h *harness) []got {
			hf := h.conn(alice, tlsSv).raw(true, 1, hello(t, "shop.example"))
			c := h.conn(alice, web)
			c.send(true, 2, "GET /login HTTP/1.1", "Host: shop.example")
			sf := c.send(false, 3, "HTTP/1.1 200 OK", "Set-Cookie: sessionid=abcdef0123456789; Path=/", "Content-Length: 0")
			c.send(true, 4, "GET /cart HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			return []got{{"mixed-scheme-session", "sessionid", []uint64{hf, 2, sf}}}
		}},
		{name: "set in plaintext only after it was sent: still not leaked (decided at end)", run: func(h *harness) []got {
			hf := h.conn(alice, tlsSv).raw(true, 1, hello(t, "shop.example"))
			c := h.conn(alice, web)
			rf := c.send(true, 2, "GET /a HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			c.send(false, 3, "HTTP/1.1 200 OK", "Set-Cookie: sessionid=abcdef0123456789; Path=/", "Content-Length: 0")
			return []got{{"mixed-scheme-session", "sessionid", []uint64{hf, rf}}}
		}},
		{name: "no TLS for the host: no cross-scheme finding", run: func(h *harness) []got {
			h.conn(alice, tlsSv).raw(true, 1, hello(t, "other.example"))
			h.conn(alice, web).send(true, 2, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			return nil
		}},
		{name: "TLS without SNI to the same server address counts", run: func(h *harness) []got {
			hf := h.conn(alice, "192.0.2.80:8443").raw(true, 1, hello(t, ""))
			rf := h.conn(alice, web).send(true, 2, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			return []got{{"cookie-set-over-tls-leaked", "sessionid", []uint64{hf, rf}}, {"mixed-scheme-session", "sessionid", []uint64{hf, rf}}}
		}},
		{name: "TLS without SNI to another address does not", run: func(h *harness) []got {
			h.conn(alice, "192.0.2.99:443").raw(true, 1, hello(t, ""))
			h.conn(alice, web).send(true, 2, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			return nil
		}},
		{name: "non-session cookie is not correlated", run: func(h *harness) []got {
			h.conn(alice, tlsSv).raw(true, 1, hello(t, "shop.example"))
			h.conn(alice, web).send(true, 2, "GET / HTTP/1.1", "Host: shop.example", "Cookie: theme=dark")
			return nil
		}},
		{name: "reuse from a second client address", run: func(h *harness) []got {
			h.conn(alice, web).send(true, 1, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			af := h.conn(alice, web2).send(true, 2, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			bf := h.conn(bob, web).send(true, 600, "GET /account HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			h.conn(bob, web).send(true, 601, "GET /other HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			return []got{{"session-reuse", "sessionid", []uint64{af, bf}}} // alice's use nearest in time
		}},
		{name: "reuse outside the window is not reported", cfg: Config{Window: 5 * time.Minute}, run: func(h *harness) []got {
			h.conn(alice, web).send(true, 1, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			h.conn(bob, web).send(true, 1000, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			return nil
		}},
		{name: "different values from two clients: no reuse", run: func(h *harness) []got {
			h.conn(alice, web).send(true, 1, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=abcdef0123456789")
			h.conn(bob, web).send(true, 2, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=zzzzzz0123456789")
			return nil
		}},
		{name: "login without rotation", run: func(h *harness) []got {
			c := h.conn(alice, web)
			bf := c.send(true, 1, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=prelogin0123456789")
			c.send(false, 2, "HTTP/1.1 200 OK", "Content-Length: 0")
			lf := c.send(true, 3, "POST /login HTTP/1.1", "Host: shop.example", "Cookie: sessionid=prelogin0123456789", "Content-Length: 0")
			c.send(false, 4, "HTTP/1.1 302 Found", "Location: /account", "Content-Length: 0")
			af := c.send(true, 5, "GET /account HTTP/1.1", "Host: shop.example", "Cookie: sessionid=prelogin0123456789")
			return []got{{"session-not-rotated", "sessionid", []uint64{bf, lf, af}}}
		}},
		{name: "login with rotation", run: func(h *harness) []got {
			c := h.conn(alice, web)
			c.send(true, 1, "POST /login HTTP/1.1", "Host: shop.example", "Cookie: sessionid=prelogin0123456789", "Content-Length: 0")
			c.send(false, 2, "HTTP/1.1 302 Found", "Location: /account", "Set-Cookie: sessionid=postlogin987654321; HttpOnly", "Content-Length: 0")
			c.send(true, 3, "GET /account HTTP/1.1", "Host: shop.example", "Cookie: sessionid=postlogin987654321")
			return nil
		}},
		{name: "login by an authentication cookie, requests delivered before the login", run: func(h *harness) []got {
			later := h.conn(alice, web2)
			af := later.send(true, 9, "GET /account HTTP/1.1", "Host: shop.example", "Cookie: PHPSESSID=prelogin0123456789")
			c := h.conn(alice, web)
			bf := c.send(true, 1, "GET / HTTP/1.1", "Host: shop.example", "Cookie: PHPSESSID=prelogin0123456789")
			rf := c.send(false, 2, "HTTP/1.1 200 OK", "Set-Cookie: remember_me=1; Max-Age=99999", "Content-Length: 0")
			return []got{{"session-not-rotated", "PHPSESSID", []uint64{bf, rf, af}}}
		}},
		{name: "a different client after the login is not a rotation failure", run: func(h *harness) []got {
			h.conn(alice, web).send(true, 1, "POST /login HTTP/1.1", "Host: shop.example", "Cookie: sessionid=prelogin0123456789", "Content-Length: 0")
			h.conn(bob, web).send(true, 5000, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=prelogin0123456789")
			return nil // bob is outside the 1h window, so no reuse either
		}},
		{name: "plaintext redirect to HTTPS sets a session", run: func(h *harness) []got {
			c := h.conn(alice, web)
			qf := c.send(true, 1, "GET / HTTP/1.1", "Host: shop.example")
			rf := c.send(false, 2, "HTTP/1.1 301 Moved Permanently", "Location: HTTPS://shop.example/", "Set-Cookie: JSESSIONID=abcdef0123456789", "Set-Cookie: lang=en", "Content-Length: 0")
			return []got{{"redirect-sets-session", "JSESSIONID", []uint64{qf, rf}}}
		}},
		{name: "redirect to HTTP or without a session cookie", run: func(h *harness) []got {
			c := h.conn(alice, web)
			c.send(true, 1, "GET / HTTP/1.1", "Host: shop.example")
			c.send(false, 2, "HTTP/1.1 302 Found", "Location: http://shop.example/x", "Set-Cookie: JSESSIONID=abcdef0123456789", "Content-Length: 0")
			c.send(true, 3, "GET /x HTTP/1.1", "Host: shop.example")
			c.send(false, 4, "HTTP/1.1 302 Found", "Location: https://shop.example/", "Set-Cookie: lang=en", "Set-Cookie: JSESSIONID=; Max-Age=0", "Content-Length: 0")
			return nil
		}},
		{name: "secure cookie shadowed", run: func(h *harness) []got {
			c := h.conn(alice, web)
			c.send(true, 1, "GET / HTTP/1.1", "Host: shop.example")
			sf := c.send(false, 2, "HTTP/1.1 200 OK", "Set-Cookie: prefs=a; Secure", "Content-Length: 0")
			c.send(true, 3, "GET /b HTTP/1.1", "Host: shop.example")
			pf := c.send(false, 4, "HTTP/1.1 200 OK", "Set-Cookie: prefs=b", "Content-Length: 0")
			return []got{{"secure-cookie-shadowed", "prefs", []uint64{sf, pf}}}
		}},
		{name: "set without Secure first, Secure later: not shadowing", run: func(h *harness) []got {
			c := h.conn(alice, web)
			c.send(true, 1, "GET / HTTP/1.1", "Host: shop.example")
			c.send(false, 2, "HTTP/1.1 200 OK", "Set-Cookie: prefs=a", "Content-Length: 0")
			c.send(true, 3, "GET /b HTTP/1.1", "Host: shop.example")
			c.send(false, 4, "HTTP/1.1 200 OK", "Set-Cookie: prefs=b; Secure", "Content-Length: 0")
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			want := tt.run(h)
			slices.SortFunc(want, func(a, b got) int { return strings.Compare(a.String(), b.String()) })
			if g := h.end(); fmt.Sprint(g) != fmt.Sprint(want) {
				t.Errorf("findings\n got %v\nwant %v", g, want)
			}
		})
	}
}

func TestBounds(t *testing.T) {
	t.Run("value limit evicts and decides", func(t *testing.T) {
		h := newHarness(t, Config{MaxValues: 2})
		h.conn(alice, tlsSv).raw(true, 1, hello(t, "shop.example"))
		for i := range 3 {
			h.conn(alice, web).send(true, 2+i, "GET / HTTP/1.1", "Host: shop.example", fmt.Sprintf("Cookie: sessionid=value-%d-0123456789", i))
		}
		early := h.c.Take()
		st := h.c.Stats()
		if st.Values != 2 || st.Evictions["value-limit"] != 1 {
			t.Errorf("stats %+v, want 2 values and 1 value-limit eviction", st)
		}
		n := 0
		for _, f := range early {
			if f.Rule == "cookie-set-over-tls-leaked" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the evicted value's leak should be decided at eviction; got %d findings %v", n, early)
		}
	})
	t.Run("window evicts idle values", func(t *testing.T) {
		h := newHarness(t, Config{Window: time.Minute})
		h.conn(alice, web).send(true, 1, "GET / HTTP/1.1", "Host: a.example", "Cookie: sessionid=value-a-0123456789")
		h.conn(alice, web).send(true, 200, "GET / HTTP/1.1", "Host: b.example", "Cookie: sessionid=value-b-0123456789")
		if st := h.c.Stats(); st.Values != 1 || st.Evictions["value-window"] != 1 || st.Hosts != 2 {
			t.Errorf("stats %+v, want 1 value, 2 hosts, 1 value-window eviction", st)
		}
	})
	t.Run("host limit", func(t *testing.T) {
		h := newHarness(t, Config{MaxHosts: 2, MaxNames: 1})
		for i, hn := range []string{"a.example", "b.example", "c.example"} {
			h.conn(alice, web).send(true, i, "GET / HTTP/1.1", "Host: "+hn, "Cookie: sessionid=x0123456789; sid=y0123456789")
		}
		rows := h.c.Hosts()
		st := h.c.Stats()
		if len(rows) != 2 || rows[0].Host != "b.example" || st.Evictions["host-limit"] != 1 || st.Evictions["name-limit"] != 3 {
			t.Errorf("rows %+v stats %+v", rows, st)
		}
	})
}

func TestHostsAndNoValues(t *testing.T) {
	h := newHarness(t, Config{})
	h.conn(alice, tlsSv).raw(true, 1, hello(t, "shop.example"))
	c := h.conn(alice, web)
	c.send(true, 2, "GET / HTTP/1.1", "Host: shop.example", "Cookie: sessionid=TOPSECRETVALUE0123")
	c.send(false, 3, "HTTP/1.1 200 OK", "Strict-Transport-Security: max-age=60", "Content-Length: 0")
	h.conn(alice, "192.0.2.7:80").send(true, 4, "GET / HTTP/1.1", "Host: plain.example")
	fs := h.c.End()
	rows := h.c.Hosts()
	want := []Host{
		{Host: "plain.example", Plaintext: true, First: h.t0.Add(4 * time.Second), Last: h.t0.Add(4 * time.Second)},
		{Host: "shop.example", TLS: true, Plaintext: true, HSTS: true, SessionCookies: 1, First: h.t0.Add(time.Second), Last: h.t0.Add(3 * time.Second)},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("hosts\n got %+v\nwant %+v", rows, want)
	}
	b, err := json.Marshal(fs)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) == 0 || strings.Contains(string(b), "TOPSECRET") {
		t.Errorf("findings %s: want some, without the value", b)
	}
	if !strings.Contains(string(b), `"chain":[{"kind":"tls-hello"`) {
		t.Errorf("chain not in JSON: %s", b)
	}
}
