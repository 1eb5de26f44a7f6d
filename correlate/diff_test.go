package correlate

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/rules"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/random-traffic-*.golden.gz")

// randomTraffic feeds c n messages of random traffic drawn from seed: plaintext
// requests (session and other cookies, logins, IPv4, IPv6 and IPv4-mapped
// clients, host names needing HostKey, two files, capture times going back and
// forth), responses (Set-Cookie with and without Secure, deletions, redirects
// to https, HSTS, auth cookies), TLS hellos (with and without SNI,
// ServerHellos alone), decrypted TLS messages and requests without cookies.
// It writes every finding (each field, the value, the chain), in the order
// the correlator decided them, then Stats and Hosts, to w.
func randomTraffic(w *bytes.Buffer, c *Correlator, seed uint64, n, extraClients int) {
	rng := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	hosts := []string{"shop.example", "SHOP.example:80", "api.example", "[2001:db8::80]:8080", "192.0.2.99", "blog.example.", "x.example"}
	clients := []netip.Addr{
		netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.3"),
		netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("::ffff:10.0.0.4"),
	}
	nvals, nxs := 40, 20          // distinct values of each cookie: v<nvals>-x<nxs>
	for i := range extraClients { // more than maxClients: client-limit
		clients = append(clients, netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}))
		nvals, nxs = 3, 1 // and few values, each sent by many clients
	}
	servers := []netip.Addr{netip.MustParseAddr("192.0.2.80"), netip.MustParseAddr("192.0.2.81"), netip.MustParseAddr("2001:db8::80")}
	names := []string{"sessionid", "PHPSESSID", "theme", "JSESSIONID", "auth_token", "_ga"}
	paths := []string{"/", "/cart", "/login", "/account?id=42&token=abc", "/sign-in", "/" + strings.Repeat("long/", 30), "/logout"}
	methods := []string{"GET", "POST", "HEAD"}
	files := []string{"a.pcap", "b.pcap"}
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	for i := range n {
		at := t0.Add(time.Duration(i)*300*time.Millisecond - time.Duration(rng.IntN(5000))*time.Millisecond +
			time.Duration(i/400)*10*time.Minute)
		if rng.IntN(50) == 0 {
			at = at.Add(time.Duration(rng.IntN(5000)) * time.Nanosecond)
		}
		file := files[rng.IntN(len(files))]
		cli := netip.AddrPortFrom(clients[rng.IntN(len(clients))], uint16(40000+rng.IntN(4)))
		srv := netip.AddrPortFrom(servers[rng.IntN(len(servers))], 80)
		req := &httpparse.Request{
			Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: at},
			Method:  pick(methods), Host: pick(hosts), Path: pick(paths),
		}
		if rng.IntN(8) == 0 {
			req.Host = ""
		}
		for range rng.IntN(3) {
			req.Cookies = append(req.Cookies, httpparse.Cookie{Name: pick(names), Value: fmt.Sprintf("v%02d-%s", rng.IntN(nvals), strings.Repeat("x", rng.IntN(nxs)))})
		}
		switch r := rng.IntN(20); {
		case r < 11 && viaArena != nil:
			c.Request(file, viaArena.Request(req))
		case r < 11:
			c.Request(file, req)
		case r < 12:
			c.SeenPlaintext(req.Host, at)
		case r < 16:
			resp := &httpparse.Response{Message: httpparse.Message{Client: cli, Server: srv, Frame: uint64(i + 1), Time: at.Add(time.Millisecond)},
				Status: []int{200, 302, 301, 204}[rng.IntN(4)]}
			if rng.IntN(4) != 0 {
				resp.Request = req
			}
			if rng.IntN(3) == 0 {
				resp.Headers = append(resp.Headers, httpparse.Header{Name: "Location", Value: pick([]string{"https://shop.example/", "http://x/", "/local"})})
			}
			if rng.IntN(6) == 0 {
				resp.Headers = append(resp.Headers, httpparse.Header{Name: "strict-transport-security", Value: "max-age=1"})
			}
			for range 1 + rng.IntN(2) {
				sc := httpparse.SetCookie{Name: pick(names), Value: fmt.Sprintf("v%02d-%s", rng.IntN(nvals), strings.Repeat("x", rng.IntN(nxs))),
					Secure: rng.IntN(3) == 0, HttpOnly: rng.IntN(2) == 0}
				if rng.IntN(8) == 0 {
					sc.MaxAge, sc.HasMaxAge = -1, true
				}
				if rng.IntN(30) == 0 {
					sc.Err = fmt.Errorf("bad")
				}
				resp.SetCookies = append(resp.SetCookies, sc)
			}
			switch {
			case rng.IntN(5) == 0:
				c.TLSResponse(file, resp)
			case viaArena != nil:
				c.Response(file, viaArena.Response(resp))
			default:
				c.Response(file, resp)
			}
		case r < 17:
			c.TLSRequest(file, req)
		default:
			ti := &httpparse.TLSInfo{Client: cli, Server: netip.AddrPortFrom(srv.Addr(), 443), ClientHello: rng.IntN(4) != 0,
				Versions: []uint16{0x0304, 0x0303}, ALPN: []string{"h2", "http/1.1"}, HelloFrame: uint64(i + 1), HelloTime: at,
				Version: 0x0304, ServerFrame: uint64(i + 1), ServerTime: at.Add(time.Millisecond), Latest: 1}
			if rng.IntN(3) != 0 {
				ti.SNI = HostKey(pick(hosts))
			}
			if !ti.ClientHello || rng.IntN(3) == 0 {
				ti.Latest = 2
			}
			c.TLSHello(file, ti)
		}
		if rng.IntN(200) == 0 {
			c.Expire(at)
		}
		for _, f := range c.Take() {
			writeFinding(w, f)
		}
		if viaArena != nil {
			poison(viaArena)
		}
	}
	for _, f := range c.End() {
		writeFinding(w, f)
	}
	st := c.Stats()
	fmt.Fprintf(w, "stats hosts=%d values=%d evictions=%v\n", st.Hosts, st.Values, st.Evictions)
	for _, h := range c.Hosts() {
		fmt.Fprintf(w, "host %+v\n", h)
	}
}

func writeFinding(w *bytes.Buffer, f rules.Finding) {
	fmt.Fprintf(w, "%s %s sev=%v conf=%v cwe=%d cookie=%q value=%+v session=%+v dir=%s del=%v host=%s client=%v server=%v file=%s frame=%d time=%s last=%s method=%q path=%q status=%d count=%d\n",
		f.Rule, f.Title, f.Severity, f.Confidence, f.CWE, f.Cookie, *f.Value, f.Session, f.Direction, f.Deletion, f.Host,
		f.Client, f.Server, f.File, f.Frame, f.Time.Format(time.RFC3339Nano), f.LastTime.Format(time.RFC3339Nano), f.Method, f.Path, f.Status, f.Count)
	for _, l := range f.Chain {
		fmt.Fprintf(w, "  %s %s %d %s %q\n", l.Kind, l.File, l.Frame, l.Time.Format(time.RFC3339Nano), l.Detail)
	}
}

// TestRandomTrafficGolden is a differential test: the golden files were
// written by the correlator as it was before its state was made compact
// (values in index-linked slots, evidence encoded in bytes), with go test
// -run TestRandomTrafficGolden -update. Every finding, in order, with its
// evidence and chain, the stats and the host rows must stay the same, with
// tight limits (evictions of every kind) and with the defaults.
func TestRandomTrafficGolden(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		seed    uint64
		n       int
		clients int // beyond the five of randomTraffic
	}{
		{"tight", Config{MaxValues: 25, MaxHosts: 5, MaxNames: 4, MaxLogins: 2, Window: 2 * time.Minute}, 1, 6000, 0},
		{"defaults", Config{}, 2, 6000, 0},
		{"window", Config{Window: 30 * time.Second}, 3, 6000, 0},
		{"clients", Config{}, 4, 6000, 19},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Key = []byte("golden key")
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			randomTraffic(&w, c, tc.seed, tc.n, tc.clients)
			path := filepath.Join("testdata", "random-traffic-"+tc.name+".golden.gz")
			if *updateGolden {
				var z bytes.Buffer
				zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
				zw.Write(w.Bytes())
				if err := zw.Close(); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, z.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := readGzip(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.Bytes(); !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if gl[i] != wl[i] {
						t.Fatalf("line %d differs:\ngot  %s\nwant %s", i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%d lines, want %d", len(gl), len(wl))
			}
			if n := strings.Count(w.String(), "\n  "); n < 50 {
				t.Errorf("only %d chain links: the traffic should make many findings", n)
			}
		})
	}
}

func readGzip(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}
