package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/rules"
)

// loginServer is the test's own login-like app on the server side of p:
// /login sets a session cookie without Secure or SameSite (and a
// non-session one), /account returns a page.
func loginServer(t *testing.T, p *vethPair, port int) string {
	t.Helper()
	ln := p.Listen(t, port)
	mux := http.NewServeMux()
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		user := r.FormValue("user")
		http.SetCookie(w, &http.Cookie{Name: "sessionid", Value: "s3cr3t-" + user + "-0123456789abcdef", Path: "/", HttpOnly: true})
		http.SetCookie(w, &http.Cookie{Name: "theme", Value: "dark", Path: "/"})
		fmt.Fprintln(w, "welcome", user)
	})
	mux.HandleFunc("/account", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, strings.Repeat("account page ", 300))
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return fmt.Sprintf("http://%s:%d", p.SrvAddr, port)
}

// login runs one user's visit: a login POST and visits account pages with
// the session cookie. Odd users keep their connection alive.
func login(t *testing.T, p *vethPair, base, user string, visits int) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{DialContext: p.Dial, DisableKeepAlives: len(user)%2 == 0}
	defer tr.CloseIdleConnections()
	client := &http.Client{Jar: jar, Transport: tr, Timeout: 5 * time.Second}
	resp, err := client.PostForm(base+"/login", map[string][]string{"user": {user}, "password": {"hunter2"}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for range visits {
		resp, err := client.Get(base + "/account")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// jsonRecords parses JSON Lines output; the summary record is returned apart.
func jsonRecords(t *testing.T, lines []string) (findings []map[string]any, summary map[string]any) {
	t.Helper()
	for _, l := range lines {
		var rec map[string]any
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		switch rec["type"] {
		case "finding":
			if summary != nil {
				t.Errorf("finding after the summary record: %s", l)
			}
			findings = append(findings, rec)
		case "summary":
			summary = rec
		default:
			t.Errorf("unknown record %s", l)
		}
	}
	return findings, summary
}

func countBy(fs []map[string]any, key func(map[string]any) string) map[string]int {
	out := map[string]int{}
	for _, f := range fs {
		out[key(f)]++
	}
	return out
}

func ruleCookie(f map[string]any) string { return fmt.Sprint(f["rule"], " ", f["cookie"]) }

// notInfo drops info findings (the catalogue's informational rules and
// attribute rules on non-session cookies): these tests are about what live
// capture delivers, asserted on the findings that matter.
func notInfo(fs []map[string]any) []map[string]any {
	var out []map[string]any
	for _, f := range fs {
		if f["severity"] != "info" {
			out = append(out, f)
		}
	}
	return out
}

// notInfoLines keeps the streamed table lines of findings above info
// ("15:04:05.000000 SEVERITY RULE ...").
func notInfoLines(lines []string) []string {
	var out []string
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 1 && f[1] != "info" {
			out = append(out, l)
		}
	}
	return out
}

// TestLiveCapture is issue 5's end-to-end proof: cookiewatch -i on one end of
// a veth pair between two namespaces of the test's own, login-like traffic,
// SIGINT, then the findings, statistics and the -w file are checked.
func TestLiveCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces")
	}
	p := newVethPair(t)
	bin := buildCLI(t)
	base := loginServer(t, p, 8080)
	wdir, err := os.MkdirTemp("", "cookiewatch-w-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(wdir) })
	must(t, os.Chmod(wdir, 0o777)) // -w is created after -Z nobody
	pcapPath := filepath.Join(wdir, "live.pcap")

	lp := startLive(t, p.CliNS, bin, "-i", p.CliIf, "--format", "json", "--each", "--stats", "1",
		"-Z", "nobody", "-w", pcapPath, "tcp", "port", "8080")
	pid := lp.cmd.Process.Pid // ip netns exec execs cookiewatch in place
	checkDropped(t, pid, 65534)

	const users, visits = 12, 2
	login(t, p, base, "user0", visits)
	// Findings stream: the first login shows before any exit.
	if !lp.waitFor(15*time.Second, func(stdout, _ []string) bool { return containsLine(stdout, `"rule":"cleartext-set-cookie"`) }) {
		t.Fatal("no finding streamed within 5s of the first login")
	}
	for i := 1; i < users; i++ {
		login(t, p, base, fmt.Sprintf("user%d", i), visits)
	}
	if !lp.waitFor(15*time.Second, func(_, stderr []string) bool { return containsLine(stderr, "stats:") }) {
		t.Error("no periodic statistics with --stats 1")
	}
	_, before := lp.lines()
	// SIGINT at once: whatever is still in the kernel or in open
	// connections must come out at shutdown.
	if code := lp.stop(t, os.Interrupt); code != 0 {
		t.Errorf("exit code %d after SIGINT, want 0", code)
	}
	stdout, stderr := lp.lines()
	t.Logf("stderr:\n%s", strings.Join(stderr, "\n"))
	findings, summary := jsonRecords(t, stdout)
	got := countBy(notInfo(findings), ruleCookie)
	want := map[string]int{
		"cleartext-set-cookie sessionid": users,
		"missing-secure sessionid":       users,
		"missing-samesite sessionid":     users,
		"cleartext-cookie sessionid":     users * visits,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d findings, want %d", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("findings %v, want only %v", got, want)
	}
	for _, l := range stdout {
		if strings.Contains(l, "s3cr3t") {
			t.Errorf("cookie value printed without --show-values: %s", l)
		}
	}
	if summary == nil {
		t.Fatal("no summary record")
	}
	live, _ := summary["live"].(map[string]any)
	if live == nil {
		t.Fatalf("summary has no live statistics: %v", summary)
	}
	if live["stop"] != "signal" || live["interface"] != p.CliIf {
		t.Errorf("live stats stop %v interface %v", live["stop"], live["interface"])
	}
	if r, _ := live["pcap_received"].(float64); r < float64(summary["packets"].(float64)) || r == 0 {
		t.Errorf("libpcap received %v, cookiewatch read %v packets", live["pcap_received"], summary["packets"])
	}
	if d, _ := live["pcap_dropped"].(float64); d != 0 {
		t.Errorf("kernel dropped %v packets", d)
	}
	for _, k := range []string{"pcap_ifdropped", "connections_tracked", "reassembly_buffered_bytes", "parser_buffered_bytes"} {
		if _, ok := live[k].(float64); !ok {
			t.Errorf("live stats lack %s: %v", k, live)
		}
	}
	if n, _ := summary["findings"].(float64); int(n) != len(findings) {
		t.Errorf("summary says %v findings, %d streamed", summary["findings"], len(findings))
	}
	if len(stderr) <= len(before) || !strings.Contains(strings.Join(stderr[len(before):], "\n"), "stats:") {
		t.Error("no statistics printed at exit")
	}

	// The -w file: written as nobody, and -r of it gives the same frames.
	fi, err := os.Stat(pcapPath)
	if err != nil {
		t.Fatal(err)
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != 65534 {
		t.Errorf("-w file owned by uid %d, want nobody (created after -Z)", uid)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-r", pcapPath, "--format", "json", "--each", "--fail-on", "none"}, nil, &out, &errb); code != exitClean {
		t.Fatalf("-r of the -w file: exit %d: %s", code, errb.String())
	}
	var lines []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	offline, osum := jsonRecords(t, lines)
	frameKey := func(f map[string]any) string {
		return fmt.Sprint(f["rule"], " ", f["cookie"], " ", f["frame"], " ", f["client"])
	}
	a, b := keys(countBy(findings, frameKey)), keys(countBy(offline, frameKey))
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		t.Errorf("live and -r of the -w file differ:\nlive:\n%s\nfile:\n%s", strings.Join(a, "\n"), strings.Join(b, "\n"))
	}
	if osum["packets"] != summary["packets"] {
		t.Errorf("-w file has %v packets, live run read %v", osum["packets"], summary["packets"])
	}
}

func keys(m map[string]int) []string {
	var out []string
	for k, n := range m {
		out = append(out, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(out)
	return out
}

// checkDropped asserts that every thread of pid runs as uid and gid.
func checkDropped(t *testing.T, pid, id int) {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("no threads of %d: %v", pid, err)
	}
	want := fmt.Sprintf("\t%d\t%d\t%d\t%d", id, id, id, id)
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if (strings.HasPrefix(l, "Uid:") || strings.HasPrefix(l, "Gid:")) && !strings.HasSuffix(l, want) {
				t.Errorf("%s: %q, want all %d after -Z nobody", task, l, id)
			}
		}
	}
}

// TestLiveTableAny captures on "any" (Linux cooked headers) in table mode:
// one line per new finding as it is found, then the aggregated table.
func TestLiveTableAny(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces")
	}
	p := newVethPair(t)
	bin := buildCLI(t)
	base := loginServer(t, p, 8081)
	lp := startLive(t, p.CliNS, bin, "-i", "any", "tcp port 8081")
	const users, visits = 3, 2
	for i := range users {
		login(t, p, base, fmt.Sprintf("u%d", i), visits)
	}
	// Four distinct (rule, host, cookie) keys above info: four such lines,
	// however many users.
	if !lp.waitFor(15*time.Second, func(stdout, _ []string) bool { return len(notInfoLines(stdout)) >= 4 }) {
		stdout, _ := lp.lines()
		t.Fatalf("streamed lines before SIGINT: %q", stdout)
	}
	time.Sleep(200 * time.Millisecond) // a fifth line would be a bug
	streamed, _ := lp.lines()
	streamed = notInfoLines(streamed)
	if code := lp.stop(t, os.Interrupt); code != 0 {
		t.Errorf("exit code %d", code)
	}
	stdout, stderr := lp.lines()
	if len(streamed) != 4 {
		t.Errorf("streamed %d lines, want 4 (one per new finding):\n%s", len(streamed), strings.Join(streamed, "\n"))
	}
	for _, rule := range []string{"cleartext-set-cookie", "missing-secure", "missing-samesite", "cleartext-cookie"} {
		if !containsLine(streamed, rule+" ") {
			t.Errorf("no streamed line for %s", rule)
		}
	}
	if !containsLine(stderr, "link-type Linux SLL") {
		t.Errorf("-i any is not Linux cooked capture: %q", stderr)
	}
	final := strings.Join(stdout[len(streamed):], "\n")
	// The final table folds occurrences: N column 3 (users) and 6 (visits).
	for _, want := range []string{"cleartext-cookie", "│ 3 ", "│ 6 ", "captured ", " on any"} {
		if !strings.Contains(final, want) {
			t.Errorf("final report lacks %q:\n%s", want, final)
		}
	}
	if !containsLine(stderr, "stats: ") {
		t.Error("no statistics at exit")
	}
}

// TestLiveSIGTERMMidResponse stops cookiewatch while responses are still in
// flight: one whose header block is complete (its body is not), one cut in
// the middle of its header block. Both report their complete cookie lines.
func TestLiveSIGTERMMidResponse(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces")
	}
	p := newVethPair(t)
	bin := buildCLI(t)
	ln := p.Listen(t, 8082)
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				line, _ := br.ReadString('\n')
				for {
					l, err := br.ReadString('\n')
					if err != nil || l == "\r\n" {
						break
					}
				}
				switch {
				case strings.Contains(line, "/complete"):
					io.WriteString(c, "HTTP/1.1 200 OK\r\nSet-Cookie: sessionid=AAAAAAAAAAAAAAAA; Path=/\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 3000))
				case strings.Contains(line, "/cut"):
					io.WriteString(c, "HTTP/1.1 200 OK\r\nSet-Cookie: PHPSESSID=BBBBBBBBBBBBBBBB; Path=/\r\nSet-Cookie: laravel_session=CCCCCCCCCCCC; path=/\r\nX-Pad: aaaa")
				}
				<-hang // the rest of the response never comes
			}(c)
		}
	}()
	lp := startLive(t, p.CliNS, bin, "-i", p.CliIf, "--format", "json", "--each", "tcp port 8082")
	for _, path := range []string{"/complete", "/cut"} {
		c, err := p.Dial(t.Context(), "tcp", fmt.Sprintf("%s:8082", p.SrvAddr))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: shop.test\r\nCookie: sid=%s\r\n\r\n", path, strings.Repeat("z", 20))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got []byte
		buf := make([]byte, 4096)
		for !bytes.Contains(got, []byte("X-Pad")) && !bytes.Contains(got, []byte("xxxx")) {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%s: reading the partial response: %v", path, err)
			}
			got = append(got, buf[:n]...)
		}
	}
	if !lp.waitFor(15*time.Second, func(stdout, _ []string) bool { return containsLine(stdout, `"cookie":"sessionid"`) }) {
		t.Fatal("the complete header block was not reported while running")
	}
	time.Sleep(300 * time.Millisecond)
	before, _ := lp.lines()
	if containsLine(before, "PHPSESSID") {
		t.Fatal("the cut header block was reported before shutdown: this test would prove nothing")
	}
	if code := lp.stop(t, syscall.SIGTERM); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
	stdout, stderr := lp.lines()
	findings, summary := jsonRecords(t, stdout)
	if summary == nil {
		t.Fatalf("no summary after SIGTERM; stderr:\n%s", strings.Join(stderr, "\n"))
	}
	got := map[string]bool{}
	for _, f := range findings {
		got[fmt.Sprint(f["rule"], " ", f["cookie"], " cut=", f["truncated_header"] == true)] = true
	}
	for _, k := range []string{
		"cleartext-cookie sid cut=false",
		"cleartext-set-cookie sessionid cut=false",
		"cleartext-set-cookie PHPSESSID cut=true",
		"cleartext-set-cookie laravel_session cut=true",
		"missing-httponly PHPSESSID cut=true",
	} {
		if !got[k] {
			t.Errorf("missing finding %q; got %v", k, got)
		}
	}
}

// TestLiveCount stops by itself after -c packets; the -w file has exactly
// those packets and frame numbers.
func TestLiveCount(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces")
	}
	p := newVethPair(t)
	bin := buildCLI(t)
	base := loginServer(t, p, 8083)
	pcapPath := filepath.Join(t.TempDir(), "c.pcap")
	lp := startLive(t, p.CliNS, bin, "-i", p.CliIf, "-c", "7", "-w", pcapPath, "--format", "json")
	for i := 0; i < 3; i++ {
		login(t, p, base, "c", 0)
		select {
		case <-lp.waited:
		default:
			continue
		}
		break
	}
	if code := lp.wait(t, 10*time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	stdout, _ := lp.lines()
	_, summary := jsonRecords(t, stdout)
	if summary == nil || summary["packets"] != float64(7) || summary["live"].(map[string]any)["stop"] != "count" {
		t.Errorf("summary %v", summary)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"-r", pcapPath, "--format", "json"}, nil, &out, &errb); code != exitClean ||
		!strings.Contains(out.String(), `"packets":7,`) {
		t.Errorf("-r of the -c 7 file: exit %d %s\n%s", code, errb.String(), out.String())
	}
}

// TestLiveErrors checks that a bad start explains the fix.
func TestLiveErrors(t *testing.T) {
	t.Run("missing interface lists the available ones", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "-i", "nosuch0")
		if code != exitError || !strings.Contains(stderr, `no interface "nosuch0"`) || !strings.Contains(stderr, "lo") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("interface index out of range", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "-i", "999")
		if code != exitError || !strings.Contains(stderr, "-D") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("file and interface", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "-i", "lo", "-r", sample)
		if code != exitError || !strings.Contains(stderr, "not both") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("-D lists lo", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, nil, "-D")
		if code != exitClean || !strings.Contains(stdout, ".lo ") {
			t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})
	t.Run("bad filter", func(t *testing.T) {
		if os.Geteuid() != 0 && os.Getenv("CI") != "true" {
			t.Skip("opening lo needs root")
		}
		code, _, stderr := runCLI(t, nil, "-i", "lo", "tcp", "port", "banana")
		if code != exitError || !strings.Contains(stderr, "bad filter") || !strings.Contains(stderr, "banana") {
			t.Errorf("exit %d, stderr %q", code, stderr)
		}
	})
	t.Run("no privilege gives the setcap command", func(t *testing.T) {
		if testing.Short() {
			t.Skip("builds the binary")
		}
		if os.Geteuid() != 0 {
			if os.Getenv("CI") == "true" {
				t.Fatal("CI runs as root; this test must run there")
			}
			t.Skip("needs root to run the binary as nobody")
		}
		bin := buildCLI(t)
		cmd := exec.Command(bin, "-i", "lo")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitError {
			t.Fatalf("run as nobody: %v, stderr %q", err, stderr.String())
		}
		want := "sudo setcap cap_net_raw,cap_net_admin=eip " + bin
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr %q lacks %q", stderr.String(), want)
		}
	})
}

// TestLiveDuration runs in-process on lo and stops by --duration.
func TestLiveDuration(t *testing.T) {
	if os.Geteuid() != 0 {
		needPrivilege(t, fmt.Errorf("uid %d", os.Geteuid()))
	}
	start := time.Now()
	code, stdout, stderr := runCLI(t, nil, "-i", "lo", "--duration", "300ms", "--format", "json", "tcp port 9")
	if code != exitClean {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > 5*time.Second {
		t.Errorf("ran %v for --duration 300ms", el)
	}
	if !strings.Contains(stdout, `"stop":"duration"`) || !strings.Contains(stderr, "stats: ") {
		t.Errorf("stdout %q\nstderr %q", stdout, stderr)
	}
}

// TestLiveFindingsBounded checks the live folding: new findings stream at
// once, known ones fold, and past --max-findings new ones still stream but
// are not kept.
func TestLiveFindingsBounded(t *testing.T) {
	mk := func(host, cookie string) rules.Finding {
		return rules.Finding{Rule: "cleartext-cookie", Host: host, Cookie: cookie, Count: 1}
	}
	for _, each := range []bool{false, true} {
		t.Run(fmt.Sprintf("each=%v", each), func(t *testing.T) {
			var streamed []string
			agg := &rules.Aggregator{Each: each}
			lf := &liveFindings{agg: agg, keys: map[string]struct{}{}, max: 2, stop: func() { t.Error("stopped") },
				stream: func(f rules.Finding) error { streamed = append(streamed, f.Host+"/"+f.Cookie); return nil }}
			for _, f := range []rules.Finding{mk("a", "sid"), mk("a", "sid"), mk("b", "sid"), mk("c", "sid"), mk("a", "sid")} {
				lf.add(f)
			}
			want, kept, notKept := "a/sid b/sid c/sid", 2, 1
			if each {
				want, kept, notKept = "a/sid a/sid b/sid c/sid a/sid", 2, 3
			}
			if got := strings.Join(streamed, " "); got != want {
				t.Errorf("streamed %q, want %q", got, want)
			}
			fs := agg.Findings()
			if len(fs) != kept || lf.notKept != notKept {
				t.Errorf("kept %d, not kept %d; want %d, %d", len(fs), lf.notKept, kept, notKept)
			}
			if !each && fs[0].Count != 3 {
				t.Errorf("a/sid folded %d times, want 3", fs[0].Count)
			}
		})
	}
	t.Run("a write error stops the capture", func(t *testing.T) {
		stopped := false
		lf := &liveFindings{agg: &rules.Aggregator{}, keys: map[string]struct{}{}, max: 10, stop: func() { stopped = true },
			stream: func(rules.Finding) error { return io.ErrClosedPipe }}
		lf.add(mk("a", "sid"))
		if !stopped || !errors.Is(lf.err, io.ErrClosedPipe) {
			t.Errorf("stopped %v, err %v", stopped, lf.err)
		}
	})
}

// TestLiveIdleFlushByWallClock leaves a connection silent in the middle of
// a request's header block, with no other traffic: only the wall-clock idle
// flush can close it, and its complete cookie line is reported while
// cookiewatch keeps running.
func TestLiveIdleFlushByWallClock(t *testing.T) {
	if testing.Short() {
		t.Skip("needs network namespaces")
	}
	p := newVethPair(t)
	bin := buildCLI(t)
	ln := p.Listen(t, 8084)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	lp := startLive(t, p.CliNS, bin, "-i", p.CliIf, "--format", "json", "--idle-timeout", "1s", "tcp port 8084")
	c, err := p.Dial(t.Context(), "tcp", p.SrvAddr+":8084")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /inbox HTTP/1.1\r\nHost: idle.test\r\nCookie: sessionid=%s\r\nAccept: ", strings.Repeat("q", 24))
	sent := time.Now()
	if !lp.waitFor(15*time.Second, func(stdout, _ []string) bool { return containsLine(stdout, `"cookie":"sessionid"`) }) {
		t.Fatal("the idle connection was not flushed by wall-clock time while running")
	}
	if el := time.Since(sent); el < time.Second {
		t.Errorf("flushed %v after the last packet, before the 1s idle timeout", el)
	}
	if code := lp.stop(t, os.Interrupt); code != 0 {
		t.Errorf("exit %d", code)
	}
	stdout, _ := lp.lines()
	findings, summary := jsonRecords(t, stdout)
	if len(findings) == 0 || findings[0]["truncated_header"] != true || findings[0]["host"] != "idle.test" {
		t.Errorf("findings %v", findings)
	}
	if live, _ := summary["live"].(map[string]any); live == nil || live["connections_idle_flushed"] != float64(1) {
		t.Errorf("live stats %v, want 1 connection flushed for idleness", summary["live"])
	}
}
