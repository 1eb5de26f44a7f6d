package main

import (
	"bufio"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

// TestSafeOutput sends terminal escapes, control characters and invalid
// UTF-8 in a Host header, a path and a cookie name, with a session cookie
// value and Basic credentials, and checks every output: no control byte or
// escape reaches a terminal (table, host report, summary, stderr), JSON is
// valid UTF-8 and parses, and neither the value nor the credentials appear
// without --show-values (the credentials not even with it).
func TestSafeOutput(t *testing.T) {
	const (
		value = "s3cr3tv4lue0123"
		creds = "dXNlcjpzM2NyM3Q=" // user:s3cr3t
	)
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(hostileClient, hostileServer, capturetest.ConnOptions{})
	// A request target with ASCII controls is not a request line (RFC 9112), so
	// the path carries a C1 CSI (U+009B), a bidi override and invalid UTF-8.
	cn.Send(true, []byte("GET /a\xc2\x9b2J\xe2\x80\xaered\xff HTTP/1.1\r\n"+
		"Host: evil\x1b[2J\x1b]0;pwned\x07\xc2\x9b.example\r\n"+
		"Authorization: Basic "+creds+"\r\n"+
		"Cookie: sess\x1b[0m\xff\xfeid="+value+"; PHPSESSID="+value+"\r\n\r\n"))
	cn.Send(false, []byte("HTTP/1.1 200 OK\r\nSet-Cookie: x\x1b[1m\x00y="+value+"; Path=/\x1b[0m\r\nContent-Length: 0\r\n\r\n"))
	cn.FIN(true)
	cn.FIN(false)
	// A second file cut mid-record: its warning goes to stderr too.
	path := writeCapture(t, "evil.pcap", c.Pcap())
	cut := writeCapture(t, "cut.pcap", c.Pcap()[:len(c.Pcap())-5])

	terminalSafe := func(name, s string) {
		t.Helper()
		for i, r := range s {
			if r == '\n' {
				continue
			}
			if r == utf8.RuneError || r == 0x1b || unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
				t.Errorf("%s: unsafe rune %U at byte %d: %q", name, r, i, s[max(0, i-20):min(len(s), i+20)])
				return
			}
		}
	}
	secretFree := func(name, s string, showValues bool) {
		t.Helper()
		if strings.Contains(s, creds) || strings.Contains(s, "user:s3cr3t") {
			t.Errorf("%s: Authorization credentials in output", name)
		}
		if !showValues && strings.Contains(s, value) {
			t.Errorf("%s: cookie value in output without --show-values", name)
		}
	}
	for _, show := range []bool{false, true} {
		args := []string{"-r", path, "-r", cut, "--all-cookies", "--each", "--hosts", "--fail-on", "none"}
		if show {
			args = append(args, "--show-values")
		}
		code, stdout, stderr := runCLI(t, nil, append(args, "--format", "table")...)
		if code != exitClean {
			t.Fatalf("table: exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, `evil\x1b[2J`) || !strings.Contains(stderr, "warning") {
			t.Errorf("escaped host or truncation warning missing:\n%s\n%s", stdout, stderr)
		}
		terminalSafe("table stdout", stdout)
		terminalSafe("stderr", stderr)
		secretFree("table", stdout+stderr, show)
		if show && !strings.Contains(stdout, value) {
			t.Errorf("--show-values table lacks the value")
		}

		code, stdout, stderr = runCLI(t, nil, append(args, "--format", "json")...)
		if code != exitClean {
			t.Fatalf("json: exit %d: %s", code, stderr)
		}
		if !utf8.ValidString(stdout) {
			t.Errorf("JSON output is not valid UTF-8")
		}
		terminalSafe("json stdout", stdout) // JSON escapes control characters
		secretFree("json", stdout+stderr, show)
		sc := bufio.NewScanner(strings.NewReader(stdout))
		hosts := 0
		for sc.Scan() {
			var rec map[string]any
			if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
				t.Fatalf("bad JSON line %q: %v", sc.Text(), err)
			}
			if rec["type"] == "host" && strings.HasPrefix(rec["host"].(string), "evil\x1b[2j") { // lower-cased
				hosts++ // the value itself is kept, only escaped in the encoding
			}
		}
		if hosts != 1 {
			t.Errorf("JSON host record with the raw host name: %d, want 1", hosts)
		}
	}
}
