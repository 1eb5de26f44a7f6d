package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/pcap"
	"github.com/google/gopacket/pcapgo"
)

// TestLoopbackCapture records real traffic: a Go HTTP server and client on
// loopback, captured with libpcap into a pcap file, which cookiewatch then
// analyses. It needs CAP_NET_RAW (root); CI runs as root, so with CI=true a
// missing privilege fails the test instead of skipping it.
func TestLoopbackCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("needs a live capture")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port

	inactive, err := pcap.NewInactiveHandle("lo")
	if err != nil {
		ln.Close()
		needPrivilege(t, err)
	}
	defer inactive.CleanUp()
	must(t, inactive.SetSnapLen(65535))
	// With TPACKET_V2 each ring slot is snaplen-sized: libpcap's default 2 MB
	// buffer would hold a few dozen packets and the kernel would drop the rest.
	must(t, inactive.SetBufferSize(32<<20))
	must(t, inactive.SetImmediateMode(true))
	must(t, inactive.SetTimeout(50*time.Millisecond))
	h, err := inactive.Activate()
	if err != nil {
		ln.Close()
		needPrivilege(t, err)
	}
	defer h.Close()
	must(t, h.SetBPFFilter(fmt.Sprintf("tcp port %d", port)))

	path := filepath.Join(t.TempDir(), "loopback.pcap")
	if p := os.Getenv("COOKIEWATCH_KEEP_PCAP"); p != "" {
		path = p // keep the capture for inspection
	}
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := pcapgo.NewWriter(out)
	must(t, pw.WriteFileHeader(65535, h.LinkType()))

	// Capture in the background until told to stop (bounded by the deadline too).
	stop := make(chan struct{})
	captured := make(chan int)
	var captureErr error
	go func() {
		n := 0
		stopping := false
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if !stopping {
				select {
				case <-stop:
					// Keep reading a little longer: the kernel hands packets
					// over in blocks, so some may still be on their way.
					stopping = true
					deadline = time.Now().Add(time.Second)
				default:
				}
			}
			data, ci, err := h.ReadPacketData()
			if err == pcap.NextErrorTimeoutExpired {
				continue
			}
			if err != nil {
				captureErr = err
				break
			}
			if err := pw.WritePacket(ci, data); err != nil {
				captureErr = err
				break
			}
			n++
		}
		if !stopping {
			<-stop
		}
		captured <- n
	}()

	// A login-like app: /login sets a session cookie without Secure or SameSite.
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sessionid", Value: "s3cr3t-v4lue-0123456789abcdef", Path: "/", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark", Path: "/"})
		fmt.Fprintln(w, "welcome")
	})
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, strings.Repeat("account page ", 500))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	const accountVisits = 3
	if _, err := client.PostForm(base+"/login", map[string][]string{"user": {"alice"}, "password": {"hunter2"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < accountVisits; i++ {
		resp, err := client.Get(base + "/account")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	client.CloseIdleConnections()
	time.Sleep(300 * time.Millisecond) // let the last packets reach the capture
	close(stop)
	if n := <-captured; n == 0 || captureErr != nil {
		t.Fatalf("captured %d packets on lo, error %v", n, captureErr)
	}
	must(t, out.Close())
	if st, err := h.Stats(); err == nil {
		t.Logf("libpcap: %d received, %d dropped by kernel, %d by interface", st.PacketsReceived, st.PacketsDropped, st.PacketsIfDropped)
		if st.PacketsDropped > 0 {
			t.Errorf("the kernel dropped %d packets: the test's capture is incomplete", st.PacketsDropped)
		}
	}

	var stdout, stderr bytes.Buffer
	if code := run([]string{"-r", path, "--format", "json", "--each"}, nil, &stdout, &stderr); code != exitFindings {
		t.Fatalf("run exit %d, stderr:\n%s", code, stderr.String())
	}
	got := map[string]int{}
	var summary map[string]any
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
		}
		if rec["type"] == "summary" {
			summary = rec
			continue
		}
		got[fmt.Sprint(rec["rule"], " ", rec["cookie"], " ", rec["path"])]++
		if rec["cookie"] == "theme" && rec["severity"] != "info" {
			t.Errorf("non-session cookie finding above info: %s", sc.Text())
		}
		if strings.Contains(sc.Text(), "s3cr3t") {
			t.Errorf("cookie value printed without --show-values: %s", sc.Text())
		}
	}
	want := map[string]int{
		"cleartext-set-cookie sessionid /login": 1,
		"missing-secure sessionid /login":       1,
		"missing-samesite sessionid /login":     1,
		"cleartext-cookie sessionid /account":   accountVisits,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("finding %q: got %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "cleartext") && strings.Contains(k, "theme") || strings.Contains(k, "missing-httponly sessionid") {
			t.Errorf("unexpected finding %q", k)
		}
	}
	if summary == nil {
		t.Fatal("no summary record")
	}
}

func needPrivilege(t *testing.T, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("live capture on lo failed (CI runs as root, so this is a failure): %v", err)
	}
	t.Skipf("live capture not permitted here (run as root or grant CAP_NET_RAW): %v", err)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
