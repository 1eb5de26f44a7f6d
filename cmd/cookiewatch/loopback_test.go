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
	stop := startLoopbackCapture(t, fmt.Sprintf("tcp port %d", port))

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
	path := stop()
	if p := os.Getenv("COOKIEWATCH_KEEP_PCAP"); p != "" { // keep the capture for inspection
		if data, err := os.ReadFile(path); err == nil {
			os.WriteFile(p, data, 0o644)
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

// startLoopbackCapture records packets on lo matching filter into a pcap
// file until the returned function is called; it returns the file's path.
// It needs CAP_NET_RAW (see needPrivilege).
func startLoopbackCapture(t *testing.T, filter string) func() string {
	t.Helper()
	inactive, err := pcap.NewInactiveHandle("lo")
	if err != nil {
		needPrivilege(t, err)
	}
	must(t, inactive.SetSnapLen(65535))
	must(t, inactive.SetBufferSize(32<<20)) // ring slots are snaplen-sized: the default 2 MB drops packets
	must(t, inactive.SetImmediateMode(true))
	must(t, inactive.SetTimeout(50*time.Millisecond))
	h, err := inactive.Activate()
	inactive.CleanUp()
	if err != nil {
		needPrivilege(t, err)
	}
	t.Cleanup(h.Close)
	must(t, h.SetBPFFilter(filter))
	path := filepath.Join(t.TempDir(), "loopback.pcap")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := pcapgo.NewWriter(out)
	must(t, pw.WriteFileHeader(65535, h.LinkType()))
	stopc := make(chan struct{})
	done := make(chan error)
	go func() {
		var err error
		deadline := time.Now().Add(60 * time.Second)
		stopping := false
		for time.Now().Before(deadline) {
			if !stopping {
				select {
				case <-stopc:
					stopping, deadline = true, time.Now().Add(time.Second) // drain what the kernel still holds
				default:
				}
			}
			data, ci, rerr := h.ReadPacketData()
			if rerr == pcap.NextErrorTimeoutExpired {
				continue
			}
			if rerr != nil {
				err = rerr
				break
			}
			if err = pw.WritePacket(ci, data); err != nil {
				break
			}
		}
		if !stopping {
			<-stopc
		}
		done <- err
	}()
	return func() string {
		time.Sleep(300 * time.Millisecond)
		close(stopc)
		if err := <-done; err != nil {
			t.Fatalf("capture on lo: %v", err)
		}
		must(t, out.Close())
		if st, err := h.Stats(); err == nil && st.PacketsDropped > 0 {
			t.Errorf("the kernel dropped %d packets: the capture is incomplete", st.PacketsDropped)
		}
		return path
	}
}
