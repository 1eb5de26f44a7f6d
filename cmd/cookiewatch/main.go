// Command cookiewatch reads packet captures, reassembles TCP, parses
// plaintext HTTP/1.x and reports session cookies exposed on the wire or set
// without the attributes browsers need to protect them.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"text/tabwriter"

	"github.com/mattn/go-isatty"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/policy"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// Exit codes: 0 no reported finding reaches the --fail-on threshold, 1 one
// does, 2 bad usage, unreadable input or policy, or a failed write.
const (
	exitClean    = 0
	exitFindings = 1
	exitError    = 2
)

func main() {
	processWide = true
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// processWide is set by main: run may change process-wide settings (the
// memory budget). Tests call run in-process and leave them alone.
var processWide bool

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

const usageText = `Usage: cookiewatch -r FILE [-r FILE...] [options] [BPF filter expression]
       cookiewatch -i INTERFACE [-w FILE] [options] [BPF filter expression]
       cookiewatch -D
       cookiewatch demo [--live] [--explain] [--format FORMAT] [-o FILE]
       cookiewatch rules [RULE-ID]

Reads pcap or pcapng captures (gzip-compressed too; "-" is standard input),
reassembles TCP, parses plaintext HTTP/1.x on any port and reports session
cookies sent or set in cleartext, cookies set without the attributes that
protect them, credentials and session IDs in requests, and sessions replayed
or leaked across connections (see docs/rules.md).
Cookie values are redacted unless --show-values. With -i it captures live
(tcpdump's flags), streams findings as they are found and, at SIGINT or
SIGTERM, flushes every open connection and prints the final report and
statistics.

Examples:
  Forensics on a capture file:
    cookiewatch -r incident.pcapng --hosts                 # host report, then findings by host
    cookiewatch -r incident.pcapng --explain               # each finding in plain words, with the fix
    cookiewatch -r incident.pcapng --format html -o report.html   # one page to hand to the developers
  Live, from a mirror (SPAN) port or a tap on eth1 (root or CAP_NET_RAW):
    cookiewatch -i eth1 --format json --stats 60 -w evidence.pcap tcp   # JSON Lines as found
    cookiewatch -D                                         # list interfaces
  Classroom:
    cookiewatch demo                                       # a recorded login, cookie theft and replay
    cookiewatch demo --explain                             # and what each finding means
    sudo cookiewatch demo --live                           # the same, live on loopback

Exit status: 0 no finding at or above --fail-on, 1 at least one, 2 error.
Live capture (-i) exits 0 after a clean stop (signal, -c, --duration), 2 on an error.

Options:
`

// config is what the flags say.
type config struct {
	files     []string
	format    string
	filter    string
	opts      rules.Options
	each      bool
	capture   capture.Config
	limits    httpparse.Limits
	stdin     io.Reader
	output    string
	baseline  string
	policy    string
	failOn    string
	hosts     bool             // --hosts: the host report first
	correlate correlate.Config // cross-connection window and limits
	workers   int
	keylog    string // --tls-keylog: NSS key log for TLS decryption
	tlsHook   func(*httpparse.Message)
	explain   bool         // --explain: each finding in plain words
	quiet     bool         // -q: no progress bar, no summary line on stderr
	progress  *progressBar // progress.go; nil when not drawn
	live      liveConfig
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "rules" {
		return runRules(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "demo" {
		return runDemo(args[1:], stdout, stderr) // demo.go
	}
	fs := flag.NewFlagSet("cookiewatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var cfg config
	var files fileList
	fs.Var(&files, "r", "read packets from capture `file` (pcap, pcapng, gzip; - for stdin); repeatable")
	fs.StringVar(&cfg.format, "format", "table", "output `format`: table, json (JSON Lines), csv, sarif or html (one self-contained page; use with -o)")
	fs.StringVar(&cfg.output, "o", "", "write the report to `file` instead of standard output")
	fs.StringVar(&cfg.filter, "f", "", "BPF filter `expression` (as tcpdump; may also be given as trailing arguments)")
	fs.BoolVar(&cfg.opts.Classifier.All, "all-cookies", false, "treat every cookie as a session cookie")
	fs.BoolVar(&cfg.each, "each", false, "report every occurrence instead of once per rule, host and cookie")
	fs.BoolVar(&cfg.opts.ShowValues, "show-values", false, "print cookie values in clear (they are credentials; Authorization credentials are never printed)")
	fs.StringVar(&cfg.policy, "policy", "", "read the policy `file` (YAML; see docs/policy.example.yaml)")
	fs.StringVar(&cfg.baseline, "baseline", "", "report only findings whose fingerprint is not in this previous JSON report `file`")
	fs.StringVar(&cfg.failOn, "fail-on", "", "exit 1 when a reported finding has this `severity` or higher: info, low, medium, high, critical or none (default high, or the policy's fail_on)")
	fs.DurationVar(&cfg.capture.IdleTimeout, "idle-timeout", 0, "flush TCP connections idle this long in capture time (live: wall-clock time) (default 2m)")
	fs.IntVar(&cfg.limits.MaxHeaderBytes, "max-header-bytes", 0, "largest HTTP header block parsed, in bytes (default 65536)")
	fs.BoolVar(&cfg.hosts, "hosts", false, "print the host report (TLS, plaintext, HSTS, exposed session cookies, findings) before the findings")
	fs.DurationVar(&cfg.correlate.Window, "window", 0, "correlation window in capture time: session reuse within it, idle session values evicted after it (default 1h)")
	fs.IntVar(&cfg.correlate.MaxHosts, "max-hosts", 0, "hosts kept in the correlation state (default 10000)")
	fs.IntVar(&cfg.correlate.MaxValues, "max-values", 0, "session values kept in the correlation state (default 100000)")
	fs.IntVar(&cfg.workers, "workers", runtime.NumCPU(), "goroutines analysing each file, connections split among them by flow hash (findings do not depend on it)")
	// Resource limits (README "Limits"): over each, the oldest state goes and is counted.
	fs.IntVar(&cfg.capture.MaxConns, "max-conns", 0, "TCP connections tracked at once; over it the least recently active is closed (default 1000000)")
	bufTotal := fs.Int("max-buffer", 0, "out-of-order TCP bytes buffered in all, rounded up to 1900-byte pages (default 64 MiB)")
	bufConn := fs.Int("max-buffer-conn", 0, "out-of-order TCP bytes buffered per connection, rounded up to pages (default 4 MiB)")
	fs.IntVar(&cfg.capture.MaxFragmentBytes, "max-fragment-bytes", 0, "IPv4 fragment bytes held for reassembly (default 16 MiB)")
	fs.IntVar(&cfg.limits.MaxPending, "max-pending", 0, "unanswered HTTP requests kept per connection (pipelining depth; default 100)")
	fs.StringVar(&cfg.keylog, "tls-keylog", "", "decrypt TLS with the secrets in NSS key log `file` (SSLKEYLOGFILE); pcapng Decryption Secrets Blocks are used too")
	fs.BoolVar(&cfg.explain, "explain", false, "explain each finding in plain words: the attack, who can exploit it, the fix for the framework that set the cookie")
	fs.BoolVar(&cfg.quiet, "q", false, "quiet: no progress bar and no summary line on standard error")
	memBudgetMiB := fs.Int("mem-budget", defaultMemBudget>>20, "`MiB` the Go runtime may use before the collector runs; when the live heap, the runtime's other memory and a headroom (a quarter of the budget or an eighth of the live heap) no longer fit, all of them (0: Go's default, GOGC=100; GOGC or GOMEMLIMIT in the environment win)")
	addLiveFlags(fs, &cfg.live)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitClean
		}
		return exitError
	}
	cfg.files = files
	if processWide {
		defer applyMemBudget(int64(*memBudgetMiB) << 20)()
	}
	cfg.capture.MaxBufferedPagesTotal = (*bufTotal + capture.BufferPageSize - 1) / capture.BufferPageSize
	cfg.capture.MaxBufferedPagesPerConn = (*bufConn + capture.BufferPageSize - 1) / capture.BufferPageSize
	if rest := fs.Args(); len(rest) > 0 {
		if cfg.filter != "" {
			fmt.Fprintln(stderr, "cookiewatch: give the filter either with -f or as trailing arguments, not both")
			return exitError
		}
		cfg.filter = strings.Join(rest, " ")
	}
	cfg.capture.Filter = cfg.filter
	switch cfg.format {
	case "table", "json", "jsonl", "csv", "sarif", "html":
	default:
		fmt.Fprintf(stderr, "cookiewatch: unknown -format %q (want table, json, csv, sarif or html)\n", cfg.format)
		return exitError
	}
	failOn, failNever := rules.High, false
	if cfg.policy != "" {
		pol, err := policy.Load(cfg.policy)
		if err != nil {
			fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
			return exitError
		}
		pol.Apply(&cfg.opts)
		if pol.FailOnSet {
			failOn, failNever = pol.FailOn, pol.FailOnNever
		}
	}
	if cfg.failOn != "" {
		if cfg.failOn == "none" {
			failNever = true
		} else {
			s, err := rules.ParseSeverity(cfg.failOn)
			if err != nil {
				fmt.Fprintf(stderr, "cookiewatch: --fail-on: %v (or none)\n", err)
				return exitError
			}
			failOn, failNever = s, false
		}
	}
	if cfg.live.liveMode() { // after the policy: live findings are judged by it too
		ctx, stop := signalContext()
		defer stop()
		return runLive(ctx, cfg, stdout, stderr)
	}
	if len(cfg.files) == 0 {
		fmt.Fprintln(stderr, "cookiewatch: no input: give a capture file with -r FILE or an interface with -i IFACE (see -h)")
		return exitError
	}
	var known map[string]bool
	if cfg.baseline != "" {
		var err error
		if known, err = report.ReadBaseline(cfg.baseline); err != nil {
			fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
			return exitError
		}
	}
	cfg.stdin = stdin
	cfg.progress = newProgress(stderr, cfg.files, cfg.quiet)
	sum, findings, err := analyze(cfg, stderr)
	cfg.progress.Stop()
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
		return exitError
	}
	countHosts := true // writeAll counts each host's findings
	if known != nil {
		// A host's findings are all of them, those of the baseline too; the
		// summary's counts only the findings reported.
		report.CountFindings(sum.Hosts, findings, correlate.HostKey)
		countHosts = false
		n := findings.Len()
		findings = findings.Filter(func(f *rules.Finding) bool { return !known[f.Fingerprint] })
		sum.Baselined += n - findings.Len()
	}

	out, closeOut := stdout, func() error { return nil }
	if cfg.output != "" {
		f, err := os.Create(cfg.output)
		if err != nil {
			fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
			return exitError
		}
		out, closeOut = f, f.Close
	}
	// Every format writes many small pieces (a line or a cell at a time):
	// one buffer turns them into few large writes.
	bw := bufio.NewWriterSize(out, 256<<10)
	out = bw
	var w findingWriter
	switch cfg.format {
	case "table":
		t := report.NewTable(out, cfg.output == "" && colorTerminal(stdout))
		if cfg.explain {
			t.Explain(ruleByID)
		}
		w = t
	case "json", "jsonl":
		w = report.NewJSONLines(out)
	case "csv":
		w = report.NewCSV(out)
	case "sarif":
		w = report.NewSARIF(out)
	case "html":
		w = report.NewHTML(out, report.HTMLOptions{Title: htmlTitle(cfg.files, stdin), Lookup: ruleByID})
	}
	werr := writeAll(w, &sum, findings, cfg.hosts, countHosts)
	if err := bw.Flush(); werr == nil && err != nil {
		werr = fmt.Errorf("writing the report: %w", err)
	}
	if err := closeOut(); werr == nil && err != nil {
		werr = fmt.Errorf("writing %s: %w", cfg.output, err)
	}
	if werr != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", werr)
		return exitError
	}
	for _, warn := range sum.Warnings {
		fmt.Fprintf(stderr, "cookiewatch: warning: %s\n", warn)
	}
	if (cfg.output != "" || cfg.format != "table") && !cfg.quiet {
		fmt.Fprintf(stderr, "cookiewatch: %s\n", sum.FindingsLine())
	}
	return exitCode(sum, failOn, failNever)
}

// writeAll writes the findings one at a time (each Write's finding is
// valid for that call only: fs may decode them into a reused value) and
// closes w with the summary, whose counts of the findings (Tally; with
// countHosts each host's findings too, CountFindings) it makes in the same
// pass: fs decodes a finding each time it is read, so every pass over it
// costs (some 20 ms for the 54,780 findings of the 1 GB benchmark capture).
// With hosts, the host report comes first and takes a pass of its own.
func writeAll(w findingWriter, sum *report.Summary, fs report.Findings, hosts, countHosts bool) error {
	var t report.Tallier
	if countHosts {
		t.CountHosts(sum.Hosts, correlate.HostKey)
	}
	// A table or JSON Lines take the findings all at once (they read them
	// on two goroutines), and the counts then come from the findings'
	// keys, which a rules.Sorted gives without decoding them.
	aw, all := w.(allWriter)
	keys, keyed := fs.(keyedFindings)
	if all && keyed {
		for i := range fs.Len() {
			t.AddKey(keys.Key(i))
		}
		t.Fill(sum)
		if hw, ok := w.(hostWriter); ok && hosts {
			if err := hw.WriteHosts(sum.Hosts); err != nil {
				return err
			}
		}
		if err := aw.WriteAll(fs); err != nil {
			return err
		}
		return w.Close(*sum, fs)
	}
	if hw, ok := w.(hostWriter); ok && hosts {
		for i := range fs.Len() {
			t.Add(fs.At(i))
		}
		t.Fill(sum)
		if err := hw.WriteHosts(sum.Hosts); err != nil {
			return err
		}
		for i := range fs.Len() {
			if err := w.Write(fs.At(i)); err != nil {
				return err
			}
		}
		return w.Close(*sum, fs)
	}
	for i := range fs.Len() {
		f := fs.At(i)
		t.Add(f)
		if err := w.Write(f); err != nil {
			return err
		}
	}
	t.Fill(sum)
	return w.Close(*sum, fs)
}

// allWriter is a findingWriter that takes every finding at once
// (report.Table, report.JSONLines), as Write for each in order.
type allWriter interface {
	WriteAll(fs report.Findings) error
}

// keyedFindings gives what report.Tallier counts of finding i without
// decoding it (rules.Sorted).
type keyedFindings interface {
	Key(i int) (sev rules.Severity, host, cookie string)
}

// exitCode is exitFindings when a reported finding reaches failOn, as
// sum's by-severity counts (writeAll's) say.
func exitCode(sum report.Summary, failOn rules.Severity, never bool) int {
	if never {
		return exitClean
	}
	for name, n := range sum.BySeverity {
		if n == 0 {
			continue
		}
		sev, err := rules.ParseSeverity(name)
		if err != nil && name != rules.SeverityInvalid.String() {
			// The only other name is that of a severity past the named
			// ones ("severity(9)"), which reaches every threshold.
			return exitFindings
		}
		if err == nil && sev >= failOn {
			return exitFindings
		}
	}
	return exitClean
}

// colorTerminal reports whether w is a terminal that takes colours (and
// NO_COLOR is not set).
func colorTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	return isatty.IsTerminal(f.Fd())
}

// runRules lists the catalogue, or prints one rule in full.
func runRules(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
		fmt.Fprint(stderr, rulesUsage)
		return exitClean
	}
	if len(args) > 1 {
		fmt.Fprintln(stderr, "cookiewatch: usage: cookiewatch rules [RULE-ID]")
		return exitError
	}
	if len(args) == 1 {
		r, ok := rules.ByID(args[0])
		if !ok {
			fmt.Fprintf(stderr, "cookiewatch: unknown rule ID %q (cookiewatch rules lists them)\n", args[0])
			return exitError
		}
		if _, err := io.WriteString(stdout, rules.RuleMarkdown(r)); err != nil {
			return exitError
		}
		return exitClean
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tCONFIDENCE\tCWE\tJUDGES\tTITLE")
	for _, r := range rules.Catalogue() {
		sev := r.Severity.String()
		if r.Plaintext != rules.SeverityInvalid {
			sev += "/" + r.Plaintext.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\tCWE-%d\t%s\t%s\n", r.ID, sev, r.Confidence, r.CWE, r.Scope, r.Title)
	}
	if err := tw.Flush(); err != nil {
		return exitError
	}
	return exitClean
}

// findingWriter is what run needs of a report writer.
type findingWriter interface {
	Write(*rules.Finding) error
	Close(report.Summary, report.Findings) error
}

// hostWriter is what --hosts needs of a report writer.
type hostWriter interface {
	WriteHosts([]report.Host) error
}
