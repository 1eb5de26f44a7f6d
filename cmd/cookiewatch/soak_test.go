package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLiveSoak is the long run of docs/performance.md ("Live soak"): a live
// capture on a veth pair under generated traffic for COOKIEWATCH_SOAK (e.g.
// 31m), with cookiewatch's RSS sampled every minute into
// COOKIEWATCH_SOAK_OUT (a TSV). It is skipped unless COOKIEWATCH_SOAK is set.
//
// The traffic is bounded in time and in count (at most soakMaxRequests
// requests) and stays between the two namespaces. Its mix: login-like
// exchanges on fresh and on kept-alive connections across 500 host names
// (so findings keep being folded), large responses, and connections left
// open mid-header that only the wall-clock idle flush can close.
func TestLiveSoak(t *testing.T) {
	dur, err := time.ParseDuration(os.Getenv("COOKIEWATCH_SOAK"))
	if err != nil || dur <= 0 {
		t.Skip("set COOKIEWATCH_SOAK=31m (and COOKIEWATCH_SOAK_OUT=file.tsv) to run the soak")
	}
	const (
		soakMaxRequests = 3_000_000
		rate            = 200 // requests per second, all workers together
		workers         = 4
		hosts           = 500
		maxIdleConns    = 400
	)
	outPath := os.Getenv("COOKIEWATCH_SOAK_OUT")
	if outPath == "" {
		outPath = "soak.tsv"
	}
	out, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	p := newVethPair(t)
	bin := buildCLI(t)
	ln := p.Listen(t, 80)
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sessionid", Value: fmt.Sprintf("v-%d", time.Now().UnixNano()), Path: "/", HttpOnly: true})
		fmt.Fprintln(w, "welcome")
	})
	big := strings.Repeat("0123456789abcdef", 16<<10) // 256 KiB
	mux.HandleFunc("/report", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, big) })
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, strings.Repeat("page ", 200)) })
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	defer srv.Close()

	lp := startLive(t, p.CliNS, bin, "-i", p.CliIf, "--format", "json", "--stats", "60", "tcp port 80")
	pid := lp.cmd.Process.Pid
	fmt.Fprintf(out, "# cookiewatch live soak: %v on a veth pair, %d req/s target, %d workers, %d hosts\n", dur, rate, workers, hosts)
	fmt.Fprintln(out, "minute\trss_kib\thwm_kib\tanon_kib\trequests\tidle_conns_open\tstats")

	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var requests, failures atomic.Int64
	tickets := make(chan struct{}, rate)
	go func() { // the rate limiter
		tk := time.NewTicker(time.Second / rate)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				close(tickets)
				return
			case <-tk.C:
				if requests.Load() >= soakMaxRequests {
					continue
				}
				select {
				case tickets <- struct{}{}:
				default:
				}
			}
		}
	}()
	var idleMu sync.Mutex
	var idle []net.Conn
	defer func() {
		idleMu.Lock()
		for _, c := range idle {
			c.Close()
		}
		idleMu.Unlock()
	}()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keep := &http.Transport{DialContext: p.Dial, MaxIdleConnsPerHost: 2}
			fresh := &http.Transport{DialContext: p.Dial, DisableKeepAlives: true}
			defer keep.CloseIdleConnections()
			i := w
			for range tickets {
				i += workers
				n := requests.Add(1)
				host := fmt.Sprintf("shop%d.test", i%hosts)
				tr := keep
				if i%3 == 0 {
					tr = fresh
				}
				path := "/account"
				switch {
				case i%7 == 0:
					path = "/login"
				case i%101 == 0:
					path = "/report"
				}
				if i%97 == 0 { // a connection left open in the middle of a header block
					idleMu.Lock()
					if len(idle) < maxIdleConns {
						if c, err := p.Dial(ctx, "tcp", p.SrvAddr+":80"); err == nil {
							fmt.Fprintf(c, "GET /account HTTP/1.1\r\nHost: %s\r\nCookie: sessionid=idle%d\r\n", host, n)
							idle = append(idle, c)
						}
					}
					idleMu.Unlock()
					continue
				}
				req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+p.SrvAddr+path, nil)
				req.Host = host
				req.Header.Set("Cookie", fmt.Sprintf("sessionid=s%d; theme=dark", n%1000))
				resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}

	start := time.Now()
	sample := func(minute int) {
		rss, hwm, anon := procMem(t, pid)
		_, stderr := lp.lines()
		last := ""
		for i := len(stderr) - 1; i >= 0; i-- {
			if strings.Contains(stderr[i], "stats:") {
				last = strings.TrimPrefix(stderr[i], "cookiewatch: stats: ")
				break
			}
		}
		idleMu.Lock()
		open := len(idle)
		idleMu.Unlock()
		fmt.Fprintf(out, "%d\t%d\t%d\t%d\t%d\t%d\t%s\n", minute, rss, hwm, anon, requests.Load(), open, last)
		out.Sync()
	}
	sample(0)
	for m := 1; ; m++ {
		next := start.Add(time.Duration(m) * time.Minute)
		select {
		case <-lp.waited:
			t.Fatalf("cookiewatch exited early: %v", lp.err)
		case <-time.After(time.Until(next)):
		}
		sample(m)
		if ctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	if code := lp.stop(t, os.Interrupt); code != 0 {
		t.Errorf("exit %d", code)
	}
	stdout, stderr := lp.lines()
	findings, summary := jsonRecords(t, stdout)
	fmt.Fprintf(out, "# requests %d, client failures %d, streamed findings %d\n", requests.Load(), failures.Load(), len(findings))
	for _, l := range stderr {
		fmt.Fprintf(out, "# %s\n", l)
	}
	if summary != nil {
		fmt.Fprintf(out, "# summary live: %v\n", summary["live"])
	}
	if len(findings) == 0 {
		t.Error("no findings in the whole soak")
	}
}

// procMem returns VmRSS, VmHWM and RssAnon of pid in KiB. RssAnon is the
// Go heap and stacks; the rest of VmRSS is mostly the binary and libpcap's
// ring buffer, which is resident from the start and does not grow.
func procMem(t *testing.T, pid int) (rss, hwm, anon int) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Logf("reading memory: %v", err)
		return -1, -1, -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var v int
		if n, _ := fmt.Sscanf(sc.Text(), "VmRSS: %d kB", &v); n == 1 {
			rss = v
		}
		if n, _ := fmt.Sscanf(sc.Text(), "VmHWM: %d kB", &v); n == 1 {
			hwm = v
		}
		if n, _ := fmt.Sscanf(sc.Text(), "RssAnon: %d kB", &v); n == 1 {
			anon = v
		}
	}
	return rss, hwm, anon
}
