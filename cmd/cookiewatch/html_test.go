package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

// chromiumInstall is the line .ci/run uses to install the browser.
const chromiumInstall = "apt-get install -y chromium"

// chromiumPath finds a headless-capable Chromium. Without one the HTML
// rendering tests skip, except under CI=true, where they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("chromium is not installed (CI needs it: %s)", chromiumInstall)
	}
	t.Skipf("chromium is not installed (%s)", chromiumInstall)
	return ""
}

// chromium runs headless Chromium on a local file with a fresh profile and
// every background connection turned off, and returns its standard output
// and the console messages it logged (any message is a failure for a page
// that has no scripts: CSP violations and failed loads are logged there).
func chromium(t *testing.T, page string, mode ...string) (stdout string, console []string) {
	t.Helper()
	bin := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--hide-scrollbars"}
	args = append(args, mode...)
	args = append(args, "file://"+page)
	cmd := exec.CommandContext(ctx, bin, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", mode, err, e.String())
	}
	for _, line := range strings.Split(e.String(), "\n") {
		if strings.Contains(line, ":CONSOLE") {
			console = append(console, line)
		}
	}
	return o.String(), console
}

// dom parses a dumped DOM.
func dom(t *testing.T, s string) *html.Node {
	t.Helper()
	n, err := html.Parse(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// walk calls fn on every element.
func walk(n *html.Node, fn func(*html.Node)) {
	if n.Type == html.ElementNode {
		fn(n)
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		walk(c, fn)
	}
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

func byID(root *html.Node, id string) *html.Node {
	var found *html.Node
	walk(root, func(n *html.Node) {
		if v, ok := attr(n, "id"); ok && v == id && found == nil {
			found = n
		}
	})
	return found
}

func count(root *html.Node, tag string) int {
	n := 0
	walk(root, func(e *html.Node) {
		if e.Data == tag {
			n++
		}
	})
	return n
}

// selfContained fails on anything in the page that could fetch or run:
// scripts, external resources, event handlers, CSS imports and url().
func selfContained(t *testing.T, root *html.Node) {
	t.Helper()
	walk(root, func(n *html.Node) {
		switch n.Data {
		case "script", "link", "img", "iframe", "object", "embed", "audio", "video", "source", "base", "form":
			t.Errorf("page has a <%s> element", n.Data)
		case "style":
			if s := textOf(n); strings.Contains(s, "url(") || strings.Contains(s, "@import") || strings.Contains(s, "@font-face") {
				t.Errorf("style loads something: %q", s)
			}
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Errorf("<%s> has an event handler %s=%q", n.Data, a.Key, a.Val)
			}
			if (a.Key == "src" || a.Key == "srcset") || (a.Key == "href" && n.Data != "a") {
				t.Errorf("<%s %s=%q> loads a resource", n.Data, a.Key, a.Val)
			}
		}
	})
}

// TestHTMLReportInChromium renders the demo's HTML report in headless
// Chromium and checks the page the browser built: no console messages,
// nothing fetched or run, and every finding of the JSON report present with
// its evidence, explanation and fix; the charts, timeline and host table
// match the findings. A screenshot and a PDF print are made in a temporary
// directory (COOKIEWATCH_ARTIFACTS=DIR keeps them there instead).
func TestHTMLReportInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var o, e bytes.Buffer
	if code := run([]string{"demo", "--format", "html", "-o", page}, nil, &o, &e); code != exitClean {
		t.Fatalf("demo --format html: exit %d\n%s", code, e.String())
	}
	o.Reset()
	if code := run([]string{"demo", "--format", "json", "--hosts"}, nil, &o, &e); code != exitClean {
		t.Fatalf("demo --format json: exit %d\n%s", code, e.String())
	}
	want, summary := jsonReport(t, o.String())
	if len(want) == 0 {
		t.Fatal("the demo has no findings to look for")
	}

	out, console := chromium(t, page, "--dump-dom")
	if len(console) > 0 {
		t.Errorf("the page logged to the console:\n%s", strings.Join(console, "\n"))
	}
	root := dom(t, out)
	selfContained(t, root)

	var articles []*html.Node
	walk(root, func(n *html.Node) {
		if c, _ := attr(n, "class"); n.Data == "article" && strings.HasPrefix(c, "finding ") {
			articles = append(articles, n)
		}
	})
	if len(articles) != len(want) {
		t.Errorf("page shows %d findings, the JSON report has %d", len(articles), len(want))
	}
	for _, f := range want {
		var art *html.Node
		for _, a := range articles {
			r, _ := attr(a, "data-rule")
			s, _ := attr(a, "data-severity")
			if r == f["rule"] && s == f["severity"] {
				art = a
			}
		}
		if art == nil {
			t.Errorf("no finding %v/%v on the page", f["rule"], f["severity"])
			continue
		}
		text := strings.Join(strings.Fields(textOf(art)), " ")
		frames := strconv.FormatFloat(f["frame"].(float64), 'f', 0, 64)
		for _, w := range []string{f["title"].(string), f["host"].(string), frames, f["client"].(string), f["server"].(string),
			f["value"].(map[string]any)["fingerprint"].(string), "Who can exploit it", "Fix for Flask"} {
			if !strings.Contains(text, w) {
				t.Errorf("finding %v: page text lacks %q:\n%s", f["rule"], w, text)
			}
		}
		if fix := f["fix"].(string); fix != "" && !strings.Contains(text, fix) {
			t.Errorf("finding %v: page lacks the fix %q", f["rule"], fix)
		}
	}

	sevs := 0
	for _, n := range summary["by_severity"].(map[string]any) {
		if n.(float64) > 0 {
			sevs++
		}
	}
	if c := byID(root, "chart-severity"); c == nil || count(c, "rect") != sevs {
		t.Errorf("severity chart: want %d bars", sevs)
	}
	if c := byID(root, "chart-hosts"); c == nil || count(c, "rect") != sevs { // one host: one segment per severity
		t.Errorf("host chart: want %d segments", sevs)
	}
	aboveInfo := 0
	for _, f := range want {
		if f["severity"] != "info" {
			aboveInfo++
		}
	}
	if c := byID(root, "timeline-chart"); c == nil || count(c, "g") != aboveInfo || count(c, "circle") < aboveInfo {
		t.Errorf("timeline: want %d rows (the findings above info)", aboveInfo)
	}
	if c := byID(root, "host-table"); c == nil || count(c, "tr") != 1+len(summary["hosts"].([]any)) {
		t.Errorf("host table: want a header and %d rows", len(summary["hosts"].([]any)))
	}

	art := dir
	if d := os.Getenv("COOKIEWATCH_ARTIFACTS"); d != "" {
		art = d
	}
	png := filepath.Join(art, "report.png")
	if _, console := chromium(t, page, "--window-size=1200,3000", "--screenshot="+png); len(console) > 0 {
		t.Errorf("console while taking the screenshot:\n%s", strings.Join(console, "\n"))
	}
	if b, err := os.ReadFile(png); err != nil || len(b) < 10000 || !bytes.HasPrefix(b, []byte("\x89PNG")) {
		t.Errorf("screenshot %s: %d bytes, %v", png, len(b), err)
	}
	pdf := filepath.Join(art, "report.pdf")
	chromium(t, page, "--no-pdf-header-footer", "--print-to-pdf="+pdf)
	if b, err := os.ReadFile(pdf); err != nil || !bytes.HasPrefix(b, []byte("%PDF")) {
		t.Errorf("print to PDF %s failed: %v", pdf, err)
	} else if pages := len(regexp.MustCompile(`/Type\s*/Page[^s]`).FindAll(b, -1)); pages < 2 {
		t.Errorf("the printed report has %d page(s); the findings should flow over several", pages)
	}
}

// TestChromiumCatchesConsoleErrors is the control for the console check: a
// page that breaks the report's rules (an external image under the same
// CSP, an inline script) must be caught.
func TestChromiumCatchesConsoleErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	page := filepath.Join(t.TempDir(), "bad.html")
	bad := `<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"></head>` +
		`<body><p>x</p><img src="http://192.0.2.1/x.png"><script>nope()</script></body></html>`
	if err := os.WriteFile(page, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, console := chromium(t, page, "--dump-dom")
	if len(console) < 2 {
		t.Errorf("want console messages for the blocked image and script, got %q", console)
	}
	var failures []string
	root := dom(t, out)
	walk(root, func(n *html.Node) {
		if n.Data == "img" || n.Data == "script" {
			failures = append(failures, n.Data)
		}
	})
	if len(failures) != 2 {
		t.Errorf("selfContained's targets not found in the control page: %v", failures)
	}
}

// TestHTMLReportHostileTraffic puts markup in every traffic-derived field
// (host, path, cookie name, Server header) and checks, in the page Chromium
// built, that none of it became markup: no script element, no event
// handler, and the text shown as text.
func TestHTMLReportHostileTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a browser")
	}
	const transcript = `conn client=10.0.0.23:51000 server=192.0.2.80:80
> GET /a?<svg/onload=alert(3)> HTTP/1.1
> Host: x"><script>alert(1)</script>.example
> Cookie: <img src=x onerror=alert(2)>=abcdef0123456789abcdef0123456789
>
< HTTP/1.1 200 OK
< Server: Werkzeug</title><script>alert(4)</script>
< Set-Cookie: sessionid=</dd><script>alert(5)</script>; Path=/
< Content-Length: 0
<
`
	c, err := capturetest.Parse(strings.NewReader(transcript))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "hostile.pcap")
	if err := os.WriteFile(pcap, c.Pcap(), 0o644); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, "hostile.html")
	code, _, stderr := runCLI(t, nil, "-r", pcap, "--all-cookies", "--show-values", "--format", "html", "-o", page, "--fail-on", "none")
	if code != exitClean {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	out, console := chromium(t, page, "--dump-dom")
	if len(console) > 0 {
		t.Errorf("console:\n%s", strings.Join(console, "\n"))
	}
	root := dom(t, out)
	selfContained(t, root)
	text := textOf(root)
	for _, w := range []string{`<script>alert(1)</script>`, `<img src`, `<svg/onload=alert(3)>`, `</dd><script>alert(5)</script>`} {
		if !strings.Contains(text, w) {
			t.Errorf("page text lacks %q shown as text", w)
		}
	}
	n := 0
	walk(root, func(e *html.Node) {
		if c, _ := attr(e, "class"); e.Data == "article" && strings.HasPrefix(c, "finding ") {
			n++
		}
	})
	if n == 0 {
		t.Errorf("no findings rendered for the hostile capture:\n%s", out)
	}
}
