package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/internal/gen"
	"github.com/cookiewatch/cookiewatch/rules"
)

// jsonRun runs cookiewatch with --format json on a capture file and returns
// its finding, host and summary records. Exit 1 (findings at --fail-on) is a
// completed run.
func jsonRun(t *testing.T, path string, extra ...string) (findings, hosts []map[string]any, summary map[string]any) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	args := append([]string{"-r", path, "--format", "json"}, extra...)
	if code := run(args, nil, &stdout, &stderr); code != exitClean && code != exitFindings {
		t.Fatalf("run %v: exit %d, stderr:\n%s", args, code, stderr.String())
	}
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		switch rec["type"] {
		case "finding":
			findings = append(findings, rec)
		case "host":
			hosts = append(hosts, rec)
		case "summary":
			summary = rec
		}
	}
	if summary == nil {
		t.Fatal("no summary record")
	}
	return findings, hosts, summary
}

// chainFrames returns a finding's chain as "kind@frame" strings.
func chainOf(f map[string]any) []string {
	var out []string
	for _, l := range f["chain"].([]any) {
		m := l.(map[string]any)
		out = append(out, fmt.Sprintf("%s@%v", m["kind"], m["frame"]))
	}
	return out
}

func hostByName(hosts []any, name string) map[string]any {
	for _, h := range hosts {
		if m := h.(map[string]any); m["host"] == name {
			return m
		}
	}
	return nil
}

// TestCorrelationCapture builds a capture in code: a real crypto/tls
// handshake to shop.example (its ClientHello cut into 60-byte records and
// 50-byte segments), then plaintext HTTP to the same host name carrying a
// session cookie never set in plaintext, from one client and then another.
func TestCorrelationCapture(t *testing.T) {
	cert, pool, err := capturetest.SelfSigned("shop.example")
	if err != nil {
		t.Fatal(err)
	}
	c2s, s2c, err := capturetest.TLSFlights(&tls.Config{ServerName: "shop.example", RootCAs: pool, NextProtos: []string{"http/1.1"}},
		&tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := netip.MustParseAddrPort("10.0.0.2:50001"), netip.MustParseAddrPort("10.0.0.9:50002")
	tlsSrv, web := netip.MustParseAddrPort("192.0.2.80:443"), netip.MustParseAddrPort("192.0.2.81:80")
	cp := capturetest.New(capturetest.Ethernet, time.Time{})

	tc := cp.Conn(alice, tlsSrv, capturetest.ConnOptions{MSS: 50})
	tc.Send(true, capturetest.Refragment(c2s[:recordsLen(c2s, 1)], 60))
	helloFrame := len(cp.Packets)
	tc.Send(false, s2c)
	tc.FIN(true)
	tc.FIN(false)

	req := "GET /cart HTTP/1.1\r\nHost: shop.example\r\nCookie: sessionid=0123456789abcdefSECRET\r\n\r\n"
	hc := cp.Conn(alice, web, capturetest.ConnOptions{})
	hc.Send(true, []byte(req))
	leakFrame := len(cp.Packets)
	hc.Send(false, []byte("HTTP/1.1 200 OK\r\nStrict-Transport-Security: max-age=600\r\nContent-Length: 0\r\n\r\n"))
	hc.FIN(true)
	hc.FIN(false)
	bc := cp.Conn(bob, web, capturetest.ConnOptions{})
	bc.Send(true, []byte(strings.Replace(req, "/cart", "/account", 1)))
	reuseFrame := len(cp.Packets)
	bc.FIN(true)
	bc.FIN(false)
	oc := cp.Conn(alice, netip.MustParseAddrPort("192.0.2.99:80"), capturetest.ConnOptions{})
	oc.Send(true, []byte("GET / HTTP/1.1\r\nHost: other.example\r\n\r\n"))

	path := filepath.Join(t.TempDir(), "correlate.pcap")
	if err := os.WriteFile(path, cp.Pcap(), 0o644); err != nil {
		t.Fatal(err)
	}
	findings, hosts, summary := jsonRun(t, path, "--hosts")
	got := map[string][]string{}
	for _, f := range findings {
		if f["chain"] != nil {
			got[fmt.Sprint(f["rule"], " ", f["host"], " ", f["cookie"])] = chainOf(f)
		}
	}
	want := map[string][]string{
		"mixed-scheme-session shop.example sessionid":       {fmt.Sprintf("tls-hello@%d", helloFrame), fmt.Sprintf("request@%d", leakFrame)},
		"cookie-set-over-tls-leaked shop.example sessionid": {fmt.Sprintf("tls-hello@%d", helloFrame), fmt.Sprintf("request@%d", leakFrame)},
		"session-reuse shop.example sessionid":              {fmt.Sprintf("request@%d", leakFrame), fmt.Sprintf("request@%d", reuseFrame)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("chained findings\n got %v\nwant %v", got, want)
	}
	if len(hosts) != 2 || hosts[1]["host"] != "shop.example" || hosts[1]["seen"] != "both" || hosts[1]["hsts"] != true ||
		fmt.Sprint(hosts[1]["tls_versions"]) != "[TLS 1.3]" || fmt.Sprint(hosts[1]["alpn"]) != "[http/1.1]" ||
		fmt.Sprint(hosts[1]["findings_by_severity"]) != "map[high:4 info:1]" ||
		hosts[0]["host"] != "other.example" || hosts[0]["seen"] != "plaintext" || hosts[0]["session_cookies_exposed"] != 0.0 {
		t.Errorf("host records %v", hosts)
	}
	sh := hostByName(summary["hosts"].([]any), "shop.example")
	if sh == nil || sh["seen"] != "both" || sh["session_cookies_exposed"] != 1.0 {
		t.Errorf("summary hosts %v", summary["hosts"])
	}
	if summary["tls_connections"] != 1.0 {
		t.Errorf("tls_connections %v", summary["tls_connections"])
	}
	if a, _ := json.Marshal(findings); bytes.Contains(a, []byte("SECRET")) {
		t.Error("a cookie value was printed without --show-values")
	}

	t.Run("limits are reported", func(t *testing.T) {
		_, _, summary := jsonRun(t, path, "--max-hosts", "1", "--max-values", "1")
		if got := fmt.Sprint(summary["correlation"]); got != "map[evictions:[map[n:1 name:host-limit]] hosts:1 values:1]" {
			t.Errorf("correlation summary without evictions: %v", summary["correlation"])
		}
	})
}

// recordsLen returns the byte length of the first n TLS records of b.
func recordsLen(b []byte, n int) int {
	off := 0
	for i := 0; i < n && off+5 <= len(b); i++ {
		off += 5 + (int(b[off+3])<<8 | int(b[off+4]))
	}
	return off
}

// TestLoopbackTLSLeak records real traffic on lo: a Go HTTPS server
// (self-signed certificate for app.test) on 127.0.0.2 and a plaintext HTTP
// server for the same name on 127.0.0.3. A browser-like client (cookie jar)
// logs in over HTTPS, where the server sets its session cookie without
// Secure, and later follows a plaintext link: the jar sends the cookie over
// HTTP. cookiewatch must tell that chain. With CI=true a missing privilege fails.
func TestLoopbackTLSLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a live capture")
	}
	cert, pool, err := capturetest.SelfSigned("app.test")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("127.0.0.2 not usable on this host: %v", err)
	}
	defer tlsLn.Close()
	plainLn, err := net.Listen("tcp", "127.0.0.3:0")
	if err != nil {
		t.Skipf("127.0.0.3 not usable on this host: %v", err)
	}
	defer plainLn.Close()
	tlsPort, plainPort := tlsLn.Addr().(*net.TCPAddr).Port, plainLn.Addr().(*net.TCPAddr).Port

	stop := startLoopbackCapture(t, fmt.Sprintf("tcp and (host 127.0.0.2 or host 127.0.0.3)"))

	secure := http.NewServeMux()
	secure.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sessionid", Value: "tls-set-s3cr3t-0123456789", Path: "/", HttpOnly: true})
		fmt.Fprintln(w, "welcome")
	})
	secure.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "account") })
	tsrv := &http.Server{Handler: secure}
	go tsrv.Serve(tls.NewListener(tlsLn, &tls.Config{Certificates: []tls.Certificate{cert}}))
	defer tsrv.Close()
	plain := http.NewServeMux()
	plain.HandleFunc("/news", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "news") })
	psrv := &http.Server{Handler: plain}
	go psrv.Serve(plainLn)
	defer psrv.Close()

	// app.test resolves to 127.0.0.2 for HTTPS and 127.0.0.3 for HTTP.
	addrs := map[string]string{
		fmt.Sprintf("app.test:%d", tlsPort):   fmt.Sprintf("127.0.0.2:%d", tlsPort),
		fmt.Sprintf("app.test:%d", plainPort): fmt.Sprintf("127.0.0.3:%d", plainPort),
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if a, ok := addrs[addr]; ok {
				addr = a
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	get := func(method, url string) {
		t.Helper()
		req, err := http.NewRequest(method, url, strings.NewReader("user=alice&password=hunter2"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	get("POST", fmt.Sprintf("https://app.test:%d/login", tlsPort))
	get("GET", fmt.Sprintf("https://app.test:%d/account", tlsPort))
	get("GET", fmt.Sprintf("http://app.test:%d/news", plainPort)) // the plaintext link
	client.CloseIdleConnections()
	path := stop()

	findings, _, summary := jsonRun(t, path, "--each")
	byRule := map[string]map[string]any{}
	for _, f := range findings {
		byRule[fmt.Sprint(f["rule"])] = f
		if strings.Contains(fmt.Sprint(f), "s3cr3t") {
			t.Errorf("cookie value printed without --show-values: %v", f)
		}
	}
	for _, rule := range []string{"cookie-set-over-tls-leaked", "mixed-scheme-session"} {
		f := byRule[rule]
		if f == nil {
			t.Errorf("no %s finding; findings: %v", rule, findings)
			continue
		}
		chain := chainOf(f)
		if f["host"] != "app.test" || f["cookie"] != "sessionid" || len(chain) != 2 ||
			!strings.HasPrefix(chain[0], "tls-hello@") || !strings.HasPrefix(chain[1], "request@") || f["path"] != "/news" {
			t.Errorf("%s: host %v cookie %v path %v chain %v", rule, f["host"], f["cookie"], f["path"], chain)
		}
	}
	if byRule["cleartext-set-cookie"] != nil {
		t.Errorf("the cookie was set over TLS, yet a cleartext Set-Cookie was reported: %v", byRule["cleartext-set-cookie"])
	}
	if byRule["cleartext-cookie"] == nil {
		t.Error("the plaintext request's cookie was not reported")
	}
	h := hostByName(summary["hosts"].([]any), "app.test")
	if h == nil || h["seen"] != "both" || !slices.Contains(h["tls_versions"].([]any), any("TLS 1.3")) {
		t.Errorf("summary host app.test: %v", h)
	}
}

// TestCorrelationSharedAggregator: the correlator adds its findings to the
// run's aggregator, under the workers' lock, as they are decided. Its
// findings in analyze's output, with one worker or two and with or without
// --each, are exactly those of the correlator fed the same messages alone
// into an aggregator of its own (how analyze made them before, merging that
// aggregator after the workers): every field, Count, LastTime, the evidence
// and, with --each, the order of findings that tie. The workers' findings
// are held to the old outputs by TestOutputsUnchanged.
func TestCorrelationSharedAggregator(t *testing.T) {
	path, _ := genCapture(t, gen.Config{Seed: 5, Bytes: 6 << 20, Conns: 300, Faults: true})
	crossRule := map[string]bool{}
	for _, r := range correlate.Catalogue() {
		crossRule[r.ID] = true
	}
	evs := recordEvents(t, path)
	for _, each := range []bool{false, true} {
		cc, err := correlate.New(correlate.Config{})
		if err != nil {
			t.Fatal(err)
		}
		alone := &correlation{c: cc, agg: &rules.Aggregator{Each: each}}
		alone.sink()
		for _, e := range evs {
			alone.apply(e)
		}
		alone.add(cc.End())
		want := alone.agg.Findings()
		for _, workers := range []int{1, 2} {
			t.Run(fmt.Sprintf("each=%v/workers=%d", each, workers), func(t *testing.T) {
				_, sorted, err := analyze(config{files: []string{path}, workers: workers, each: each}, io.Discard)
				if err != nil {
					t.Fatal(err)
				}
				var got []rules.Finding
				perMessage := 0
				for _, f := range sorted.Materialise() {
					if crossRule[f.Rule] {
						got = append(got, *f)
					} else {
						perMessage++
					}
				}
				if len(want) < 50 || perMessage < 50 {
					t.Fatalf("too few findings to tell: %d cross-connection, %d per-message", len(want), perMessage)
				}
				if len(got) != len(want) {
					t.Fatalf("%d cross-connection findings, want %d", len(got), len(want))
				}
				for i := range got {
					if !reflect.DeepEqual(got[i], want[i]) {
						t.Fatalf("cross-connection finding %d:\n%+v\nwant\n%+v", i, got[i], want[i])
					}
				}
			})
		}
	}
}
