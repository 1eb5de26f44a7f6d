package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/internal/demoapp"
	"github.com/cookiewatch/cookiewatch/rules"
)

const demoUsage = `Usage: cookiewatch demo [--explain] [--format FORMAT] [-o FILE]
       cookiewatch demo --live [--duration D] [--every D] [--attacker=false] [--port N]

The classroom demo. Without --live it analyses a capture embedded in the
binary (recorded on loopback by go run ./internal/demoapp/gen): a victim logs
in to a Flask-style app over plain HTTP, the app sets its session cookie
without Secure, HttpOnly or SameSite, the browser sends it back, and an
attacker on another address replays the copied cookie.

With --live (root or CAP_NET_RAW) it runs that story for real on loopback
addresses only: the vulnerable app on 127.0.0.80, a victim on 127.0.0.10
logging in every few seconds, an attacker on 127.0.0.66 replaying the
victim's cookie; it captures on lo, prints findings as they happen, stops
after --duration or on Ctrl-C, shuts everything down and prints the report.

Examples:
  cookiewatch demo                              # the recorded story, as tables
  cookiewatch demo --explain                    # and what each finding means, who can exploit it, the fix
  cookiewatch demo --format html -o report.html # the report to hand out (open it in a browser)
  sudo cookiewatch demo --live --duration 30s   # live on loopback, findings as they happen

The same analysis on real traffic:
  cookiewatch -r capture.pcapng --explain       # forensics on a capture file
  tcpdump -i eth1 -U -w - tcp | cookiewatch -r - # live from a mirror port

Options:
`

// embedded is an in-memory capture read as standard input, with the name
// reports give it (analyze asks for CaptureName).
type embedded struct {
	io.Reader
	name string
}

func (e embedded) CaptureName() string { return e.name }

// demoFlags are the report flags the demo passes on to run.
type demoFlags struct {
	explain, showValues, quiet, hosts, each bool
	format, output, failOn                  string
}

func (d demoFlags) args() []string {
	a := []string{"--format", d.format, "--fail-on", d.failOn}
	if d.output != "" {
		a = append(a, "-o", d.output)
	}
	for _, f := range []struct {
		on   bool
		flag string
	}{{d.explain, "--explain"}, {d.showValues, "--show-values"}, {d.quiet, "-q"}, {d.hosts, "--hosts"}, {d.each, "--each"}} {
		if f.on {
			a = append(a, f.flag)
		}
	}
	return a
}

// narrated says whether the demo prints its story around the report: only
// when the report is a table on standard output.
func (d demoFlags) narrated() bool { return d.format == "table" && d.output == "" && !d.quiet }

func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cookiewatch demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, demoUsage)
		fs.PrintDefaults()
	}
	var d demoFlags
	var lc demoLiveConfig
	fs.BoolVar(&lc.live, "live", false, "run the app, victim and attacker on loopback and capture on lo (root or CAP_NET_RAW)")
	fs.DurationVar(&lc.duration, "duration", time.Minute, "--live: stop after this long (Ctrl-C stops earlier)")
	fs.DurationVar(&lc.every, "every", 3*time.Second, "--live: pause between the victim's (and attacker's) steps")
	fs.BoolVar(&lc.attacker, "attacker", true, "--live: run the attacker who replays the victim's cookie from 127.0.0.66")
	fs.IntVar(&lc.port, "port", 80, "--live: the app's port on 127.0.0.80 (8080 is tried when 80 cannot be bound; 0 picks a free one)")
	fs.BoolVar(&d.explain, "explain", false, "explain each finding in plain words: the attack, who can exploit it, the fix")
	fs.StringVar(&d.format, "format", "table", "report `format`: table, json, csv, sarif or html")
	fs.StringVar(&d.output, "o", "", "write the report to `file`")
	fs.StringVar(&d.failOn, "fail-on", "none", "exit 1 when a finding has this `severity` or higher (the demo's findings are the point, so none by default)")
	fs.BoolVar(&d.showValues, "show-values", false, "print cookie values in clear (the demo's values are made up on loopback)")
	fs.BoolVar(&d.hosts, "hosts", false, "print the host report first")
	fs.BoolVar(&d.each, "each", false, "report every occurrence")
	fs.BoolVar(&d.quiet, "q", false, "quiet: no story around the report, no summary line on standard error")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return exitClean
		}
		return exitError
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cookiewatch demo: unexpected argument %q (see cookiewatch demo -h)\n", fs.Arg(0))
		return exitError
	}
	if lc.live {
		return runDemoLive(lc, d, stdout, stderr) // demo_live.go
	}
	if d.narrated() {
		fmt.Fprint(stdout, demoIntro)
	}
	code := run(append(d.args(), "-r", "-"), embedded{bytes.NewReader(demoapp.Capture), demoapp.CaptureName}, stdout, stderr)
	if code != exitError && d.narrated() {
		fmt.Fprint(stdout, demoNext)
	}
	return code
}

var demoIntro = fmt.Sprintf(`cookiewatch demo: what a man in the middle sees. This capture was recorded on loopback
and is embedded in cookiewatch:

  1. a victim (%s) logs in to http://%s/, a Flask-style app (%s), over plain HTTP;
  2. the app sets its session cookie without Secure, HttpOnly or SameSite;
  3. the victim's browser sends the cookie back on every request, in clear;
  4. an attacker (%s) who copied it off the wire replays it and is let in.

`, demoapp.VictimAddr, demoapp.Host, demoapp.ServerAddr, demoapp.AttackerAddr)

const demoNext = `
Next: cookiewatch demo --explain           what each finding means, who can exploit it, the fix
      cookiewatch demo --format html -o report.html
      sudo cookiewatch demo --live         the same story live on loopback, findings as they happen
`

// ruleByID finds a rule of either catalogue: per-message rules and
// cross-connection rules.
func ruleByID(id string) (rules.Rule, bool) {
	if r, ok := rules.ByID(id); ok {
		return r, true
	}
	for _, r := range correlate.Catalogue() {
		if r.ID == id {
			return r.Rule, true
		}
	}
	return rules.Rule{}, false
}

// htmlTitle names the HTML report after its input.
func htmlTitle(files []string, stdin io.Reader) string {
	if n, ok := stdin.(interface{ CaptureName() string }); ok && len(files) == 1 && files[0] == "-" {
		return "cookiewatch report: " + n.CaptureName()
	}
	if len(files) == 1 {
		return "cookiewatch report: " + filepath.Base(files[0])
	}
	return fmt.Sprintf("cookiewatch report: %d captures", len(files))
}

const rulesUsage = `Usage: cookiewatch rules [RULE-ID]

Lists the rule catalogue (ID, severity, confidence, CWE, what it judges,
title), or prints one rule in full: the attack it enables and the fix per
framework.

Examples:
  cookiewatch rules                          # the catalogue
  cookiewatch rules session-reuse            # one rule in full
  cookiewatch -r capture.pcapng --explain    # forensics: findings with their rule's explanation
  tcpdump -i eth1 -U -w - tcp | cookiewatch -r -   # live from a mirror port
  cookiewatch demo --explain                 # classroom: the recorded demo, explained
`
