// Command cookiewatch reads packet captures, reassembles TCP, parses
// plaintext HTTP/1.x and reports session cookies exposed on the wire or set
// without the attributes browsers need to protect them.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/httpparse"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// Exit codes: 0 the run completed (with or without findings), 2 bad usage,
// unreadable input or a failed write.
const (
	exitClean = 0
	exitError = 2
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

const usageText = `Usage: cookiewatch -r FILE [-r FILE...] [options] [BPF filter expression]
       cookiewatch -i INTERFACE [-w FILE] [options] [BPF filter expression]
       cookiewatch -D

Reads pcap or pcapng captures (gzip-compressed too; "-" is standard input),
reassembles TCP, parses plaintext HTTP/1.x on any port and reports session
cookies sent or set in cleartext and session cookies set without Secure,
HttpOnly or SameSite. Cookie values are redacted unless --show-values.
With -i it captures live (tcpdump's flags), streams findings as they are
found and, at SIGINT or SIGTERM, flushes every open connection and prints
the final report and statistics.

Options:
`

// config is what the flags say.
type config struct {
	files      []string
	format     string
	filter     string
	opts       rules.Options
	each       bool
	capture    capture.Config
	limits     httpparse.Limits
	stdin      io.Reader
	showValues bool
	live       liveConfig
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cookiewatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usageText)
		fs.PrintDefaults()
	}
	var cfg config
	var files fileList
	fs.Var(&files, "r", "read packets from capture `file` (pcap, pcapng, gzip; - for stdin); repeatable")
	fs.StringVar(&cfg.format, "format", "table", "output `format`: table or json (JSON Lines)")
	fs.StringVar(&cfg.filter, "f", "", "BPF filter `expression` (as tcpdump; may also be given as trailing arguments)")
	fs.BoolVar(&cfg.opts.Classifier.All, "all-cookies", false, "treat every cookie as a session cookie")
	fs.BoolVar(&cfg.each, "each", false, "report every occurrence instead of once per rule, host and cookie")
	fs.BoolVar(&cfg.opts.ShowValues, "show-values", false, "print cookie values in clear (they are credentials)")
	fs.DurationVar(&cfg.capture.IdleTimeout, "idle-timeout", 0, "flush TCP connections idle this long in capture time (live: wall-clock time) (default 2m)")
	fs.IntVar(&cfg.limits.MaxHeaderBytes, "max-header-bytes", 0, "largest HTTP header block parsed, in bytes (default 65536)")
	addLiveFlags(fs, &cfg.live)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitClean
		}
		return exitError
	}
	cfg.files = files
	if rest := fs.Args(); len(rest) > 0 {
		if cfg.filter != "" {
			fmt.Fprintln(stderr, "cookiewatch: give the filter either with -f or as trailing arguments, not both")
			return exitError
		}
		cfg.filter = strings.Join(rest, " ")
	}
	cfg.capture.Filter = cfg.filter
	if cfg.live.liveMode() {
		ctx, stop := signalContext()
		defer stop()
		return runLive(ctx, cfg, stdout, stderr)
	}
	if len(cfg.files) == 0 {
		fmt.Fprintln(stderr, "cookiewatch: no input: give a capture file with -r FILE or an interface with -i IFACE (see -h)")
		return exitError
	}
	var w findingWriter
	switch cfg.format {
	case "table":
		w = report.NewTable(stdout)
	case "json", "jsonl":
		w = report.NewJSONLines(stdout)
	default:
		fmt.Fprintf(stderr, "cookiewatch: unknown -format %q (want table or json)\n", cfg.format)
		return exitError
	}
	cfg.stdin = stdin
	sum, findings, err := analyze(cfg, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
		return exitError
	}
	for _, f := range findings {
		if err := w.Write(f); err != nil {
			fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
			return exitError
		}
	}
	if err := w.Close(sum, findings); err != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
		return exitError
	}
	for _, warn := range sum.Warnings {
		fmt.Fprintf(stderr, "cookiewatch: warning: %s\n", warn)
	}
	return exitClean
}

// findingWriter is what run needs of a report writer.
type findingWriter interface {
	Write(rules.Finding) error
	Close(report.Summary, []rules.Finding) error
}
