package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/cookiewatch/cookiewatch/httpparse"
)

// tlsCase is one server of TestLoopbackDecrypt and the client that talks to it.
type tlsCase struct {
	name      string
	version   uint16   // server and Go client MinVersion = MaxVersion
	suites    []uint16 // TLS 1.2: forced on the Go client (and the server unless srvSuites)
	srvSuites []uint16 // server's list when it must differ (an h2 server requires AES-128-GCM in it)
	h2        bool
	client    string // "go"; "go-noaes": a Go client re-executed with GODEBUG=cpu.aes=off; "openssl": s_client
	osslSuite string // openssl -ciphersuites
	keyUpdate bool   // openssl sends KeyUpdate (update requested) between the requests; the Go server answers with its own
	wantSuite uint16 // checked against what the server negotiated
}

var tlsCases = []tlsCase{
	{name: "tls13-aes128-h1", version: tls.VersionTLS13, client: "go", wantSuite: tls.TLS_AES_128_GCM_SHA256},
	{name: "tls13-aes128-h2", version: tls.VersionTLS13, client: "go", h2: true, wantSuite: tls.TLS_AES_128_GCM_SHA256},
	{name: "tls13-chacha-h1", version: tls.VersionTLS13, client: "go-noaes", wantSuite: tls.TLS_CHACHA20_POLY1305_SHA256},
	{name: "tls13-aes256-h1", version: tls.VersionTLS13, client: "openssl", osslSuite: "TLS_AES_256_GCM_SHA384", wantSuite: tls.TLS_AES_256_GCM_SHA384},
	{name: "tls13-keyupdate", version: tls.VersionTLS13, client: "openssl", osslSuite: "TLS_AES_128_GCM_SHA256", keyUpdate: true, wantSuite: tls.TLS_AES_128_GCM_SHA256},
	{name: "tls12-aes128-h1", version: tls.VersionTLS12, client: "go", suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
	{name: "tls12-aes256-h1", version: tls.VersionTLS12, client: "go", suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384}, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384},
	{name: "tls12-chacha-h2", version: tls.VersionTLS12, client: "go", h2: true, suites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
		srvSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}, wantSuite: tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256},
}

// sessionValue is the value the server of case name sets (without Secure).
func sessionValue(name string) string { return "v-" + name + "-s3cr3t" }

// helperEnv tells the re-executed test binary to act as the HTTPS client.
const helperEnv = "COOKIEWATCH_TLS_HELPER"

// TestTLSHelperClient is not a test: TestLoopbackDecrypt runs the test binary
// again with it selected and GODEBUG=cpu.aes=off, so that crypto/tls believes
// the CPU has no AES instructions and puts ChaCha20-Poly1305 first in its
// TLS 1.3 ClientHello (the Go server then chooses it: Go offers no other way
// to pick a TLS 1.3 suite).
func TestTLSHelperClient(t *testing.T) {
	spec := os.Getenv(helperEnv)
	if spec == "" {
		t.Skip("helper for TestLoopbackDecrypt")
	}
	f := strings.Fields(spec)
	if len(f) != 3 {
		t.Fatalf("%s=%q: want URL, case name and CA file", helperEnv, spec)
	}
	base, name, caFile := f[0], f[1], f[2]
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemBytes)
	c := tlsCase{name: name, version: tls.VersionTLS13}
	if err := goRequests(c, base, pool); err != nil {
		t.Fatal(err)
	}
}

// goRequests logs in (the server sets the session cookie) and fetches the
// account page (the jar sends it) with a Go client.
func goRequests(c tlsCase, base string, pool *x509.CertPool) error {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "dec.test",
		MinVersion: c.version, MaxVersion: c.version, CipherSuites: c.suites}, ForceAttemptHTTP2: c.h2}
	defer tr.CloseIdleConnections()
	client := &http.Client{Jar: jar, Transport: tr, Timeout: 10 * time.Second}
	for _, p := range []string{"/login", "/account"} {
		resp, err := client.Get(base + "/c/" + c.name + p)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("%s: status %d", p, resp.StatusCode)
		}
	}
	return nil
}

// opensslRequests does the same with openssl s_client over HTTP/1.1, sending
// a KeyUpdate between the requests when asked ("K" command line).
func opensslRequests(t *testing.T, c tlsCase, addr, caFile string) {
	t.Helper()
	cmd := exec.Command("openssl", "s_client", "-connect", addr, "-servername", "dec.test", "-CAfile", caFile,
		"-tls1_3", "-ciphersuites", c.osslSuite, "-crlf", "-no_ign_eof")
	in, err := cmd.StdinPipe()
	must(t, err)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	fmt.Fprintf(in, "GET /c/%s/login HTTP/1.1\nHost: dec.test\n\n", c.name)
	time.Sleep(400 * time.Millisecond)
	if c.keyUpdate {
		fmt.Fprint(in, "K\n")
		time.Sleep(400 * time.Millisecond)
	}
	fmt.Fprintf(in, "GET /c/%s/account HTTP/1.1\nHost: dec.test\nCookie: sessionid=%s; theme=dark\nConnection: close\n\n", c.name, sessionValue(c.name))
	time.Sleep(400 * time.Millisecond)
	in.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
	if !strings.Contains(out.String(), "account ok") {
		t.Errorf("%s: openssl s_client did not get the account page:\n%s", c.name, out.String())
	}
	if c.keyUpdate && !strings.Contains(out.String(), "KEYUPDATE") {
		t.Errorf("%s: openssl did not send a KeyUpdate:\n%s", c.name, out.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// TestLoopbackDecrypt records real HTTPS traffic on lo: one Go server per
// case (TLS 1.2 and 1.3, each AEAD suite, HTTP/1.1 and HTTP/2, a KeyUpdate)
// writing its secrets with Config.KeyLogWriter; Go clients (one with
// GODEBUG=cpu.aes=off for TLS 1.3 ChaCha20) and openssl s_client (TLS 1.3
// AES-256-GCM, KeyUpdate). Each server sets a session cookie without Secure
// over TLS. cookiewatch --tls-keylog must decrypt every connection, report
// missing-secure with tls=true at the frame that carried the record, stay
// silent with the cleartext rules, and see the same cookie headers at the
// same frames as tshark with the same key log.
func TestLoopbackDecrypt(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a live capture")
	}
	dir := t.TempDir()
	cert, pool, err := capturetest.SelfSigned("dec.test")
	must(t, err)
	caFile := filepath.Join(dir, "ca.pem")
	must(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o644))
	keylogPath := filepath.Join(dir, "keys.log")
	kf, err := os.Create(keylogPath)
	must(t, err)
	defer kf.Close()
	keylog := &syncWriter{w: kf}

	var mu sync.Mutex
	negotiated := map[string]uint16{}
	ports := map[int]string{}
	lns := map[string]net.Listener{}
	var filter []string
	for _, c := range tlsCases {
		// Listen first, so that the capture sees only these ports (other
		// tests may use lo at the same time).
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		defer ln.Close()
		lns[c.name] = ln
		port := ln.Addr().(*net.TCPAddr).Port
		ports[port] = c.name
		filter = append(filter, fmt.Sprintf("port %d", port))
	}
	stop := startLoopbackCapture(t, "tcp and host 127.0.0.1 and ("+strings.Join(filter, " or ")+")")
	for _, c := range tlsCases {
		if c.client == "openssl" {
			if _, err := exec.LookPath("openssl"); err != nil {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s: openssl is not installed", c.name)
				}
				t.Logf("%s: openssl not installed, case skipped", c.name)
				continue
			}
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/c/"+c.name+"/login", func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			negotiated[c.name] = r.TLS.CipherSuite
			mu.Unlock()
			http.SetCookie(w, &http.Cookie{Name: "sessionid", Value: sessionValue(c.name), Path: "/", HttpOnly: true})
			if c.h2 { // a header block over 16 KiB even after HPACK: HEADERS + CONTINUATION
				for i := range 40 {
					w.Header().Add("Set-Cookie", fmt.Sprintf("pref%02d=%s; Path=/", i, strings.Repeat("p", 900)))
				}
			}
			fmt.Fprintln(w, "login ok")
		})
		mux.HandleFunc("/c/"+c.name+"/account", func(w http.ResponseWriter, r *http.Request) {
			if ck, err := r.Cookie("sessionid"); err != nil || ck.Value != sessionValue(c.name) {
				http.Error(w, "no session", http.StatusForbidden)
				return
			}
			fmt.Fprintln(w, "account ok")
		})
		cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: c.version, MaxVersion: c.version,
			CipherSuites: c.suites, KeyLogWriter: keylog}
		if c.srvSuites != nil {
			cfg.CipherSuites = c.srvSuites
		}
		srv := &http.Server{Handler: mux, TLSConfig: cfg}
		if !c.h2 {
			srv.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){} // HTTP/1.1 only
		}
		ln := lns[c.name]
		served := make(chan error, 1)
		go func() { served <- srv.ServeTLS(ln, "", "") }()
		defer func() {
			srv.Close()
			if err := <-served; err != http.ErrServerClosed {
				t.Errorf("%s: server: %v", c.name, err)
			}
		}()
		addr := ln.Addr().String()
		base := "https://" + addr
		switch c.client {
		case "go":
			if err := goRequests(c, base, pool); err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
		case "go-noaes":
			cmd := exec.Command(os.Args[0], "-test.run=^TestTLSHelperClient$", "-test.v")
			cmd.Env = append(os.Environ(), "GODEBUG=cpu.aes=off", helperEnv+"="+base+" "+c.name+" "+caFile)
			if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("--- PASS: TestTLSHelperClient")) {
				t.Errorf("%s: helper client: %v\n%s", c.name, err, out)
			}
		case "openssl":
			opensslRequests(t, c, addr, caFile)
		}
	}
	path := stop()
	must(t, kf.Sync())

	for _, c := range tlsCases {
		if got, ok := negotiated[c.name]; ok && got != c.wantSuite {
			t.Errorf("%s: the server negotiated %s, the case wants %s", c.name, tls.CipherSuiteName(got), tls.CipherSuiteName(c.wantSuite))
		}
	}

	findings, _, summary := jsonRun(t, path, "--tls-keylog", keylogPath, "--each")
	byCase := map[string][]map[string]any{}
	for _, f := range findings {
		if strings.Contains(fmt.Sprint(f), "s3cr3t") {
			t.Errorf("cookie value printed without --show-values: %v", f)
		}
		var port int
		fmt.Sscanf(fmt.Sprint(f["server"]), "127.0.0.1:%d", &port)
		byCase[ports[port]] = append(byCase[ports[port]], f)
	}
	for _, c := range tlsCases {
		if _, ran := negotiated[c.name]; !ran {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			// The login response set sessionid without Secure or SameSite,
			// inside TLS: the attribute rules fire there, the cleartext and
			// the HttpOnly rules must not. (Info-level catalogue rules such
			// as default-session-name also fire; they are not the point.)
			judged := map[string]bool{"missing-secure": true, "missing-samesite": true, "missing-httponly": true,
				"cleartext-cookie": true, "cleartext-set-cookie": true}
			var rules []string
			for _, f := range byCase[c.name] {
				if f["cookie"] != "sessionid" || !judged[fmt.Sprint(f["rule"])] {
					continue
				}
				rules = append(rules, fmt.Sprint(f["rule"]))
				if f["tls"] != true || f["path"] != "/c/"+c.name+"/login" || f["frame"] == 0.0 {
					t.Errorf("finding %v", f)
				}
			}
			slices.Sort(rules)
			if want := []string{"missing-samesite", "missing-secure"}; !slices.Equal(rules, want) {
				t.Errorf("sessionid findings %v, want %v (all: %v)", rules, want, byCase[c.name])
			}
		})
	}
	// Every request of every case was decrypted, the one after the KeyUpdate too.
	seen := map[string][]string{}
	cfg := config{files: []string{path}, keylog: keylogPath, tlsHook: func(m *httpparse.Message) {
		if name := ports[int(m.Server.Port())]; name != "" && m.Headers != nil {
			for _, h := range m.Headers {
				if strings.EqualFold(h.Name, "cookie") {
					seen[name] = append(seen[name], "cookie")
				}
			}
		}
	}}
	if _, _, err := analyze(cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, c := range tlsCases {
		if _, ran := negotiated[c.name]; ran && len(seen[c.name]) == 0 {
			t.Errorf("%s: the request sent after the login (with the cookie) was not decrypted", c.name)
		}
	}
	td, _ := summary["tls_decryption"].(map[string]any)
	ran := float64(len(negotiated))
	var wantKU any // absent unless the KeyUpdate case ran (openssl installed)
	if _, ok := negotiated["tls13-keyupdate"]; ok {
		wantKU = 2.0 // openssl's, and the Go server's answer
	}
	if td == nil || td["decrypted"] != ran || td["connections"] != ran || td["without_keys"] != 0.0 ||
		td["auth_failures"] != nil || td["key_updates"] != wantKU || td["http2_connections"] != 2.0 {
		t.Errorf("tls_decryption summary %v (want %v connections, all decrypted, %v key updates, 2 HTTP/2)", td, ran, wantKU)
	}

	t.Run("without the key log", func(t *testing.T) {
		findings, _, summary := jsonRun(t, path, "--each")
		for _, f := range findings {
			if f["tls"] == true {
				t.Errorf("a finding inside TLS without keys: %v", f)
			}
		}
		if summary["tls_decryption"] != nil {
			t.Errorf("tls_decryption without keys: %v", summary["tls_decryption"])
		}
	})
	t.Run("empty key log counts connections without keys", func(t *testing.T) {
		empty := filepath.Join(dir, "empty.log")
		must(t, os.WriteFile(empty, nil, 0o644))
		_, _, summary := jsonRun(t, path, "--tls-keylog", empty)
		td, _ := summary["tls_decryption"].(map[string]any)
		if td == nil || td["without_keys"] != ran || td["decrypted"] != 0.0 {
			t.Errorf("tls_decryption %v", td)
		}
	})
	t.Run("tshark sees the same cookie headers at the same frames", func(t *testing.T) {
		tsharkCrossCheck(t, path, keylogPath)
	})
	t.Run("pcapng Decryption Secrets Block", func(t *testing.T) {
		if _, err := exec.LookPath("editcap"); err != nil {
			t.Skip("editcap not installed") // as the corpus tests skip without tshark
		}
		ng := filepath.Join(dir, "with-secrets.pcapng")
		if out, err := exec.Command("editcap", "--inject-secrets", "tls,"+keylogPath, path, ng).CombinedOutput(); err != nil {
			t.Fatalf("editcap: %v\n%s", err, out)
		}
		_, _, summary := jsonRun(t, ng)
		td, _ := summary["tls_decryption"].(map[string]any)
		if td == nil || td["decrypted"] != ran {
			t.Errorf("from the pcapng's secrets: tls_decryption %v", td)
		}
	})
}

// tsharkCrossCheck compares the Cookie and Set-Cookie fields cookiewatch
// decrypted (HTTP/1.1 and HTTP/2) with tshark's: per connection, every field
// in order; per frame for HTTP/1.1. tshark shows an HTTP/2 header block split
// over HEADERS and CONTINUATION frames in the frame of each fragment, while
// cookiewatch gives the message the frame where its block ends (as for
// HTTP/1.x): there the message's frame must be one where tshark shows fields
// of that connection.
func tsharkCrossCheck(t *testing.T, path, keylog string) {
	t.Helper()
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed") // as the corpus tests do
	}
	fields := []string{"http.cookie", "http.set_cookie", "http2.headers.cookie", "http2.headers.set_cookie"}
	args := []string{"-r", path, "-o", "tls.keylog_file:" + keylog, "-Y", "tls and (" + strings.Join(fields, " or ") + ")",
		"-T", "fields", "-E", "aggregator=\x01", "-e", "frame.number", "-e", "tcp.srcport", "-e", "tcp.dstport"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	connKey := func(a, b string) string {
		if a > b {
			a, b = b, a
		}
		return a + "-" + b
	}
	wantConn, gotConn := map[string][]string{}, map[string][]string{}
	wantH1, gotH1 := map[string][]string{}, map[string][]string{}
	h2Frames := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		cols := strings.Split(line, "\t")
		frame, conn := cols[0], connKey(cols[1], cols[2])
		for i, col := range cols[3:] {
			if col == "" {
				continue
			}
			kind := "cookie"
			if strings.Contains(fields[i], "set_cookie") {
				kind = "set-cookie"
			}
			for _, v := range strings.Split(col, "\x01") {
				wantConn[conn] = append(wantConn[conn], kind+": "+v)
				if strings.HasPrefix(fields[i], "http2") {
					h2Frames[frame] = true
				} else {
					wantH1[frame] = append(wantH1[frame], kind+": "+v)
				}
			}
		}
	}
	var h2Got []string
	cfg := config{files: []string{path}, keylog: keylog, tlsHook: func(m *httpparse.Message) {
		conn := connKey(fmt.Sprint(m.Client.Port()), fmt.Sprint(m.Server.Port()))
		frame := fmt.Sprint(m.Frame)
		for _, h := range m.Headers {
			if n := strings.ToLower(h.Name); n == "cookie" || n == "set-cookie" {
				gotConn[conn] = append(gotConn[conn], n+": "+h.Value)
				if m.Proto == "HTTP/2" {
					h2Got = append(h2Got, frame)
				} else {
					gotH1[frame] = append(gotH1[frame], n+": "+h.Value)
				}
			}
		}
	}}
	if _, _, err := analyze(cfg, io.Discard); err != nil {
		t.Fatal(err)
	}
	if len(wantConn) == 0 || len(h2Frames) == 0 {
		t.Fatalf("tshark decrypted no cookie header (HTTP/2: %d frames)", len(h2Frames))
	}
	n := 0
	for k, w := range wantConn {
		n += len(w)
		if g := gotConn[k]; !slices.Equal(g, w) {
			t.Errorf("connection %s: cookiewatch %d fields, tshark %d\n got %.300q\nwant %.300q", k, len(g), len(w), g, w)
		}
	}
	for k := range gotConn {
		if wantConn[k] == nil {
			t.Errorf("connection %s: cookiewatch decrypted cookie headers tshark did not: %.300q", k, gotConn[k])
		}
	}
	for k, w := range wantH1 {
		if g := gotH1[k]; !slices.Equal(g, w) {
			t.Errorf("HTTP/1.1 frame %s: cookiewatch %.300q, tshark %.300q", k, g, w)
		}
	}
	for k := range gotH1 {
		if wantH1[k] == nil {
			t.Errorf("HTTP/1.1 frame %s: tshark shows no cookie header there", k)
		}
	}
	for _, f := range h2Got {
		if !h2Frames[f] {
			t.Errorf("HTTP/2 message at frame %s, where tshark shows no cookie field", f)
		}
	}
	frames := len(wantH1) + len(h2Frames)
	t.Logf("%d cookie fields in %d frames of %d connections agree with tshark", n, frames, len(wantConn))

	// The h2 cases' large Set-Cookie block must really have needed CONTINUATION frames.
	cont, err := exec.Command("tshark", "-r", path, "-o", "tls.keylog_file:"+keylog, "-Y", "http2.type == 9", "-T", "fields", "-e", "frame.number").Output()
	if err != nil || len(bytes.TrimSpace(cont)) == 0 {
		t.Errorf("no HTTP/2 CONTINUATION frame in the capture (err %v)", err)
	}
}

// TestLoopbackTLSLeakDecrypted is TestLoopbackTLSLeak with the HTTPS server's
// key log: the login response inside TLS sets sessionid without Secure, and
// the browser-like client later sends it to the plaintext server of the same
// name. With the key log, cookie-set-over-tls-leaked is exact (confidence
// certain, chain from the decrypted Set-Cookie to the plaintext request),
// missing-secure fires inside TLS, and the host report says decrypted.
func TestLoopbackTLSLeakDecrypted(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a live capture")
	}
	cert, pool, err := capturetest.SelfSigned("app.test")
	must(t, err)
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
	stop := startLoopbackCapture(t, fmt.Sprintf("tcp and ((host 127.0.0.2 and port %d) or (host 127.0.0.3 and port %d))", tlsPort, plainPort))

	keylogPath := filepath.Join(t.TempDir(), "keys.log")
	kf, err := os.Create(keylogPath)
	must(t, err)
	defer kf.Close()
	secure := http.NewServeMux()
	secure.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sessionid", Value: "tls-set-s3cr3t-0123456789", Path: "/", HttpOnly: true})
		fmt.Fprintln(w, "welcome")
	})
	tsrv := &http.Server{Handler: secure}
	go tsrv.Serve(tls.NewListener(tlsLn, &tls.Config{Certificates: []tls.Certificate{cert}, KeyLogWriter: &syncWriter{w: kf}}))
	defer tsrv.Close()
	plain := http.NewServeMux()
	plain.HandleFunc("/news", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "news") })
	psrv := &http.Server{Handler: plain}
	go psrv.Serve(plainLn)
	defer psrv.Close()

	addrs := map[string]string{
		fmt.Sprintf("app.test:%d", tlsPort):   fmt.Sprintf("127.0.0.2:%d", tlsPort),
		fmt.Sprintf("app.test:%d", plainPort): fmt.Sprintf("127.0.0.3:%d", plainPort),
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if a, ok := addrs[addr]; ok {
				addr = a
			}
			return dialer.DialContext(ctx, network, addr)
		}}
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second, Transport: tr}
	for _, u := range []string{fmt.Sprintf("https://app.test:%d/login", tlsPort), fmt.Sprintf("http://app.test:%d/news", plainPort)} {
		resp, err := client.Get(u)
		must(t, err)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	path := stop()

	findings, hosts, _ := jsonRun(t, path, "--each", "--hosts", "--tls-keylog", keylogPath)
	byRule := map[string]map[string]any{}
	for _, f := range findings {
		byRule[fmt.Sprint(f["rule"])] = f
		if strings.Contains(fmt.Sprint(f), "s3cr3t") {
			t.Errorf("cookie value printed without --show-values: %v", f)
		}
	}
	leak := byRule["cookie-set-over-tls-leaked"]
	if leak == nil {
		t.Fatalf("no cookie-set-over-tls-leaked; findings %v", findings)
	}
	chain := chainOf(leak)
	if leak["confidence"] != "certain" || len(chain) != 2 || !strings.HasPrefix(chain[0], "tls-response@") ||
		!strings.HasPrefix(chain[1], "request@") || leak["path"] != "/news" || leak["tls"] != false {
		t.Errorf("leak: confidence %v chain %v path %v tls %v", leak["confidence"], chain, leak["path"], leak["tls"])
	}
	ms := byRule["missing-secure"]
	if ms == nil || ms["tls"] != true || fmt.Sprintf("tls-response@%v", ms["frame"]) != chain[0] {
		t.Errorf("missing-secure inside TLS %v; leak chain %v", ms, chain)
	}
	if byRule["cleartext-set-cookie"] != nil {
		t.Errorf("cleartext-set-cookie fired for a Set-Cookie inside TLS: %v", byRule["cleartext-set-cookie"])
	}
	var app map[string]any
	for _, h := range hosts {
		if h["host"] == "app.test" {
			app = h
		}
	}
	if app == nil || app["tls_decrypted"] != true || app["seen"] != "both" {
		t.Errorf("host app.test: %v", app)
	}

	t.Run("table", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"-r", path, "--hosts", "--tls-keylog", keylogPath, "--fail-on", "none"}, nil, &stdout, &stderr); code != exitClean {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		out := stdout.String()
		t.Logf("\n%s", out)
		if !strings.Contains(out, "TLS 1.3, decrypted") || !strings.Contains(out, "TLS decrypted: 1 of 1 connections") ||
			!strings.Contains(out, "TLS connections without keys: 0") || strings.Contains(out, "s3cr3t") {
			t.Errorf("table output lacks the decryption notes:\n%s", out)
		}
	})
	t.Run("without keys the leak is inferred", func(t *testing.T) {
		findings, hosts, _ := jsonRun(t, path, "--each", "--hosts")
		for _, f := range findings {
			if f["rule"] == "cookie-set-over-tls-leaked" && (f["confidence"] == "certain" || !strings.HasPrefix(chainOf(f)[0], "tls-hello@")) {
				t.Errorf("without keys: %v %v", f["confidence"], chainOf(f))
			}
		}
		for _, h := range hosts {
			if h["tls_decrypted"] != nil {
				t.Errorf("host %v decrypted without keys", h["host"])
			}
		}
	})
}
