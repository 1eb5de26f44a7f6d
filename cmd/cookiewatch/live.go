package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/gopacket/pcapgo"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// liveConfig is what the live-capture flags say (tcpdump's letters).
type liveConfig struct {
	iface       string
	list        bool // -D
	snaplen     int
	noPromisc   bool
	bufferKiB   int
	count       uint64
	duration    time.Duration
	user        string
	write       string
	stats       time.Duration
	maxFindings int
}

// defaultMaxFindings bounds the findings a live capture keeps for its final
// table; later new ones are still streamed, and counted.
const defaultMaxFindings = 20000

func addLiveFlags(fs *flag.FlagSet, lc *liveConfig) {
	fs.StringVar(&lc.iface, "i", "", "capture live on `interface` (\"any\" for all; a number is an index into -D)")
	fs.BoolVar(&lc.list, "D", false, "list the interfaces a live capture can use, and exit")
	fs.IntVar(&lc.snaplen, "s", capture.DefaultSnaplen, "live: bytes kept of each packet (snapshot length)")
	fs.BoolVar(&lc.noPromisc, "p", false, "live: do not put the interface into promiscuous mode")
	fs.IntVar(&lc.bufferKiB, "B", capture.DefaultBufferSize>>10, "live: kernel capture buffer `size` in KiB, as tcpdump -B")
	fs.Uint64Var(&lc.count, "c", 0, "live: stop after `count` packets")
	fs.DurationVar(&lc.duration, "duration", 0, "live: stop after this long (e.g. 30m, 8h)")
	fs.StringVar(&lc.user, "Z", "", "live: drop root privileges to `user` (and its groups) once the capture is open")
	fs.StringVar(&lc.write, "w", "", "live: also write the captured packets to pcap `file` (frame numbers match it)")
	fs.Func("stats", "live: print statistics to stderr every `interval` (seconds, or a duration like 1m); always at exit", func(v string) error {
		d, err := parseInterval(v)
		lc.stats = d
		return err
	})
	fs.IntVar(&lc.maxFindings, "max-findings", defaultMaxFindings, "live: findings kept for the final table; later new ones are streamed only")
}

func parseInterval(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n <= 0 {
			return 0, errors.New("must be positive")
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, errors.New("want seconds or a positive duration like 30s")
	}
	return d, nil
}

// signalContext is done at the first SIGINT or SIGTERM. From then on the
// signals have their default effect again: a second one ends the process at
// once, without the final report.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}

// liveMode says whether the flags ask for a live capture (or -D).
func (lc *liveConfig) liveMode() bool { return lc.iface != "" || lc.list }

// listInterfaces prints the interfaces as tcpdump -D does.
func listInterfaces(stdout, stderr io.Writer) int {
	ifs, err := capture.Interfaces()
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
		return exitError
	}
	for i, d := range ifs {
		var flags []string
		if d.Up {
			flags = append(flags, "Up")
		}
		if d.Running {
			flags = append(flags, "Running")
		}
		if d.Loopback {
			flags = append(flags, "Loopback")
		}
		if d.Wireless {
			flags = append(flags, "Wireless")
		}
		line := fmt.Sprintf("%d.%s", i+1, d.Name)
		if d.Description != "" {
			line += " (" + d.Description + ")"
		}
		if len(flags) > 0 {
			line += " [" + strings.Join(flags, ", ") + "]"
		}
		if _, err := fmt.Fprintln(stdout, line); err != nil {
			fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
			return exitError
		}
	}
	return exitClean
}

// openError explains a failure to open the capture with the fix.
func openError(err error, iface string) string {
	var nie *capture.NoInterfaceError
	switch {
	case errors.As(err, &nie):
		return fmt.Sprintf("no interface %q; available: %s (cookiewatch -D lists them)", nie.Name, strings.Join(nie.Available, ", "))
	case errors.Is(err, capture.ErrPermission):
		exe, xerr := os.Executable()
		if xerr != nil {
			exe = "/path/to/cookiewatch"
		}
		return fmt.Sprintf("%v\nlive capture needs CAP_NET_RAW (and CAP_NET_ADMIN for the buffer size): run as root, "+
			"or grant the capabilities to the binary once:\n    sudo setcap cap_net_raw,cap_net_admin=eip %s", err, exe)
	case errors.Is(err, capture.ErrNotUp):
		return fmt.Sprintf("%v\nbring it up first:  sudo ip link set dev %s up", err, iface)
	case errors.Is(err, capture.ErrFilter):
		return fmt.Sprintf("%v\n(the filter uses libpcap syntax, as tcpdump: see man pcap-filter)", err)
	}
	return err.Error()
}

// liveFindings folds findings as they come and streams each new one (each
// occurrence with --each) to the writer at once. It keeps at most max of
// them for the final table, so memory stays bounded on runs of days.
type liveFindings struct {
	agg     *rules.Aggregator
	keys    map[string]struct{} // keys of kept findings (not with --each)
	max     int
	kept    int
	notKept int
	stream  func(rules.Finding) error
	err     error
	stop    context.CancelFunc // called on a write error
}

func (l *liveFindings) add(f rules.Finding) {
	if l.err != nil {
		return
	}
	if !l.agg.Each {
		if _, ok := l.keys[f.Key()]; ok {
			l.agg.Add(f) // folded: count and last time grow
			return
		}
	}
	if l.kept < l.max {
		l.agg.Add(f)
		l.kept++
		if !l.agg.Each {
			l.keys[f.Key()] = struct{}{}
		}
	} else {
		l.notKept++
	}
	if err := l.stream(f); err != nil {
		l.err = err
		l.stop()
	}
}

// runLive captures on an interface until ctx is done (SIGINT, SIGTERM,
// --duration), -c packets were read, or capturing fails; it reports findings
// as they are found, then flushes every open connection through the parser
// and writes the final report and statistics.
func runLive(ctx context.Context, cfg config, stdout, stderr io.Writer) int {
	lc := cfg.live
	if lc.list {
		return listInterfaces(stdout, stderr)
	}
	if len(cfg.files) > 0 {
		fmt.Fprintln(stderr, "cookiewatch: give either -r FILE or -i INTERFACE, not both")
		return exitError
	}
	if lc.snaplen <= 0 || lc.bufferKiB <= 0 || lc.maxFindings < 0 || lc.duration < 0 {
		fmt.Fprintln(stderr, "cookiewatch: -s, -B and --max-findings must be positive, --duration not negative")
		return exitError
	}
	var (
		stream func(rules.Finding) error
		final  findingWriter
	)
	switch cfg.format {
	case "table":
		final = report.NewTable(stdout, colorTerminal(stdout))
		stream = func(f rules.Finding) error {
			_, err := fmt.Fprintln(stdout, report.LiveLine(&f))
			return err
		}
	case "json", "jsonl":
		j := report.NewJSONLines(stdout) // one write per line: nothing waits in a buffer
		final, stream = j, func(f rules.Finding) error { return j.Write(&f) }
	default:
		fmt.Fprintf(stderr, "cookiewatch: unknown -format %q (want table or json)\n", cfg.format)
		return exitError
	}

	src, err := capture.OpenLive(capture.LiveConfig{Interface: lc.iface, Snaplen: lc.snaplen, Promisc: !lc.noPromisc,
		BufferSize: lc.bufferKiB << 10, Filter: cfg.filter})
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch: %s\n", openError(err, lc.iface))
		return exitError
	}
	defer src.Close()
	if lc.user != "" {
		if err := dropPrivileges(lc.user); err != nil {
			fmt.Fprintf(stderr, "cookiewatch: -Z %s: %v\n", lc.user, err)
			return exitError
		}
	}
	// Said after -Z: once it shows, the process runs as the user it asked
	// for (TestLiveCapture checks every thread right after this line).
	fmt.Fprintf(stderr, "cookiewatch: listening on %s, link-type %s, snapshot length %d bytes, buffer %d KiB\n",
		src.Interface(), src.LinkType(), src.Snaplen(), lc.bufferKiB)

	// -w is created after dropping privileges, as tcpdump does.
	var tee *pcapgo.Writer
	var teeBuf *bufio.Writer
	var teeFile *os.File
	if lc.write != "" {
		teeFile, err = os.Create(lc.write)
		if err != nil {
			fmt.Fprintf(stderr, "cookiewatch: -w: %v\n", err)
			return exitError
		}
		defer teeFile.Close()
		teeBuf = bufio.NewWriterSize(teeFile, 1<<16)
		tee = pcapgo.NewWriter(teeBuf)
		if err := tee.WriteFileHeader(uint32(lc.snaplen), src.LinkType()); err != nil {
			fmt.Fprintf(stderr, "cookiewatch: -w %s: %v\n", lc.write, err)
			return exitError
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if lc.duration > 0 {
		var c context.CancelFunc
		ctx, c = context.WithTimeout(ctx, lc.duration)
		defer c()
	}
	agg := &rules.Aggregator{Each: cfg.each}
	lf := &liveFindings{agg: agg, keys: map[string]struct{}{}, max: lc.maxFindings, stream: stream, stop: cancel}
	p := newPipeline(cfg, agg)
	p.file, p.found = lc.write, lf.add
	// Correlation runs in this goroutine: findings as soon as they are decided.
	corrCfg := cfg.correlate
	corrCfg.Classifier = cfg.opts.Classifier
	cc, err := correlate.New(corrCfg)
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
		return exitError
	}
	corr := &correlation{c: cc, agg: agg, found: lf.add}
	p.feed = &feed{direct: corr}
	h := &liveHandler{p: p, open: map[*conn]struct{}{}}
	ccfg := cfg.capture
	ccfg.Filter = "" // in the kernel already
	a, err := capture.NewAnalyzer(ccfg, h)
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
		return exitError
	}

	st := &report.LiveStats{Interface: src.Interface(), LinkType: src.LinkType().String(), Filter: cfg.filter,
		WriteFile: lc.write, Started: time.Now().UTC()}
	began := time.Now() // monotonic, unlike st.Started
	var statsErr error
	sample := func() {
		ps, err := src.Stats()
		if err != nil {
			statsErr = err
		}
		st.Received, st.Dropped, st.IfDropped = ps.Received, ps.Dropped, ps.IfDropped
		st.ConnsTracked, st.ReassemblyBytes = a.Tracked()
		st.ParserBytes = h.buffered()
		st.ConnsIdleFlushed = a.Stats().ConnsIdleFlushed
		st.FindingsNotKept = lf.notKept
		st.Seconds = time.Since(began).Seconds()
	}
	summary := func() report.Summary {
		var sum report.Summary
		fillSummary(&sum, a.Stats(), p)
		sum.Findings = lf.kept + lf.notKept
		sum.Live = st
		return sum
	}
	lastStats := time.Now()
	tick := func() {
		if teeBuf != nil {
			if err := teeBuf.Flush(); err != nil {
				lf.err = fmt.Errorf("-w %s: %w", lc.write, err)
				cancel()
			}
		}
		if lc.stats > 0 && time.Since(lastStats) >= lc.stats {
			lastStats = time.Now()
			sample()
			fmt.Fprintf(stderr, "cookiewatch: stats: %s\n", report.StatsLine(summary(), st))
		}
	}
	every := time.Second // -w is flushed this often
	if lc.stats > 0 && lc.stats < every {
		every = lc.stats
	}
	opt := capture.LiveOptions{Count: lc.count, Every: every, Tick: tick, Stopped: sample}
	if tee != nil {
		opt.Tee = tee
	}
	runErr := a.RunLive(ctx, src, opt)
	corr.add(cc.End()) // every connection is flushed: decide the end-of-input rules
	switch {
	case runErr != nil:
		st.Stop = "error"
	case lf.err != nil:
		st.Stop = "error"
	case lc.count > 0 && a.Stats().Packets >= lc.count:
		st.Stop = "count"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		st.Stop = "duration"
	default:
		st.Stop = "signal"
	}
	st.ParserBytes = max(st.ParserBytes, 0)
	st.FindingsNotKept = lf.notKept
	code := exitClean
	if teeBuf != nil {
		if err := teeBuf.Flush(); err != nil {
			fmt.Fprintf(stderr, "cookiewatch: -w %s: %v\n", lc.write, err)
			code = exitError
		}
		if err := teeFile.Close(); err != nil {
			fmt.Fprintf(stderr, "cookiewatch: -w %s: %v\n", lc.write, err)
			code = exitError
		}
	}
	sum := summary()
	fs := agg.Release() // capturing is over: the store moves to fs
	sum.Hosts = hostRows(cc, fs)
	sum.Correlation = correlationSummary(cc)
	if statsErr != nil {
		sum.Warnings = append(sum.Warnings, statsErr.Error())
	}
	if lf.notKept > 0 {
		sum.Warnings = append(sum.Warnings, fmt.Sprintf("%d findings were streamed but not kept for the final report (over --max-findings %d)", lf.notKept, lc.maxFindings))
	}
	if lf.err != nil {
		fmt.Fprintf(stderr, "cookiewatch: writing findings: %v\n", lf.err)
		return exitError
	}
	if err := final.Close(sum, fs); err != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", err)
		return exitError
	}
	fmt.Fprintf(stderr, "cookiewatch: stats: %s\n", report.StatsLine(sum, st))
	for _, warn := range sum.Warnings {
		fmt.Fprintf(stderr, "cookiewatch: warning: %s\n", warn)
	}
	if runErr != nil {
		fmt.Fprintf(stderr, "cookiewatch: %v\n", runErr)
		return exitError
	}
	return code
}

// liveHandler opens connections through the pipeline and remembers which
// are open, so statistics can say how many bytes their parsers buffer.
type liveHandler struct {
	p    *pipeline
	open map[*conn]struct{}
}

func (h *liveHandler) Open(key capture.ConnKey) capture.Conn {
	c := h.p.Open(key).(*conn)
	h.open[c] = struct{}{}
	return liveConn{c, h}
}

func (h *liveHandler) buffered() int {
	n := 0
	for c := range h.open {
		n += c.hc.Buffered()
	}
	return n
}

type liveConn struct {
	*conn
	h *liveHandler
}

func (c liveConn) Close() {
	delete(c.h.open, c.conn)
	c.conn.Close()
}
