package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/cookiewatch/cookiewatch/capture"
	"github.com/cookiewatch/cookiewatch/correlate"
	"github.com/cookiewatch/cookiewatch/internal/demoapp"
	"github.com/cookiewatch/cookiewatch/report"
	"github.com/cookiewatch/cookiewatch/rules"
)

// demoLiveConfig is what the demo's --live flags say.
type demoLiveConfig struct {
	live            bool
	duration, every time.Duration
	attacker        bool
	port            int
}

// maxLiveCapture bounds the frames the live demo keeps for its final report;
// the filter keeps only the app's port, so a long demo stays far below it.
const maxLiveCapture = 64 << 20

const privilegeHelp = `cookiewatch demo --live captures on the loopback interface, which needs root or the
CAP_NET_RAW capability. Either run it as root:

    sudo cookiewatch demo --live

or give the binary the capabilities once and run it as yourself afterwards:

    sudo setcap cap_net_raw,cap_net_admin,cap_net_bind_service+eip "$(command -v cookiewatch)"

(with go run, build first: go build -o cookiewatch ./cmd/cookiewatch). Without privileges,
cookiewatch demo shows the same story from a capture recorded this way.
`

// runDemoLive is `cookiewatch demo --live`: the app, the victim and the attacker
// of package demoapp on loopback addresses, captured on lo (demoapp.Loopback:
// capture.OpenLive with a read loop that drains on stop), findings printed
// as they happen, then the full report of
// everything captured, in the requested format.
func runDemoLive(lc demoLiveConfig, d demoFlags, stdout, stderr io.Writer) int {
	if lc.duration <= 0 || lc.every <= 0 {
		fmt.Fprintln(stderr, "cookiewatch demo: --duration and --every must be positive")
		return exitError
	}
	if lc.port < 0 || lc.port > 65535 {
		fmt.Fprintf(stderr, "cookiewatch demo: --port %d is not a TCP port\n", lc.port)
		return exitError
	}
	// The story goes where a person reads it: not into a machine-readable
	// report on standard output.
	events := stdout
	if d.format != "table" && d.output == "" {
		events = stderr
	}
	srv, err := demoapp.Listen(netip.AddrPortFrom(demoapp.ServerAddr, uint16(lc.port)))
	if err != nil && lc.port == 80 {
		srv, err = demoapp.Listen(netip.AddrPortFrom(demoapp.ServerAddr, 8080))
	}
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch demo: %v\n", err)
		return exitError
	}
	defer srv.Close()
	lo, err := demoapp.OpenLoopback(fmt.Sprintf("tcp and host %s and port %d", srv.Addr.Addr(), srv.Addr.Port()))
	if errors.Is(err, demoapp.ErrNoPrivilege) {
		fmt.Fprintf(stderr, "cookiewatch demo: %v\n\n%s", err, privilegeHelp)
		return exitError
	}
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch demo: %v\n", err)
		return exitError
	}
	defer lo.Close()

	var mu sync.Mutex // events is written by the capture and the play goroutines
	say := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(events, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, a...))
	}
	lt := lo.LinkType()
	var pcapBuf bytes.Buffer
	pw := pcapgo.NewWriter(&pcapBuf)
	if err := pw.WriteFileHeader(demoapp.Snaplen, lt); err != nil {
		fmt.Fprintf(stderr, "cookiewatch demo: %v\n", err)
		return exitError
	}
	la, err := newLiveAnalysis(func(f rules.Finding, again bool) {
		if again { // a replay happened once more
			say("AGAIN   %-8s %-22s %s on %s: %d times so far", f.Severity, f.Rule, report.Safe(f.Cookie, 32), report.Safe(f.Host, 40), f.Count)
			return
		}
		say("FINDING %-8s %-22s %s on %s: %s", f.Severity, f.Rule, report.Safe(f.Cookie, 32), report.Safe(f.Host, 40), liveEvidence(f))
	})
	if err != nil {
		fmt.Fprintf(stderr, "cookiewatch demo: %v\n", err)
		return exitError
	}

	ctx, stopSignals := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSignals()
	ctx, cancel := context.WithTimeout(ctx, lc.duration)
	defer cancel()

	if !d.quiet {
		say("live demo: app http://%s/ on %s, capturing on lo for %s (Ctrl-C stops earlier)", demoapp.Host, srv.Addr, lc.duration)
	}
	stop := make(chan struct{})
	captured := make(chan error, 1)
	overflow := false
	go func() {
		captured <- lo.Run(stop, func(data []byte, ci gopacket.CaptureInfo) {
			if pcapBuf.Len()+len(data) < maxLiveCapture {
				pw.WritePacket(ci, data) // a bytes.Buffer does not fail
			} else {
				overflow = true
			}
			la.packet(lt, data, ci)
		})
	}()
	play := demoapp.Play{Server: srv.Addr, Victim: demoapp.VictimAddr, Pause: lc.every}
	if !d.quiet {
		play.Say = func(who netip.Addr, what string) { say("%-11s %s", who, what) }
	}
	if lc.attacker {
		play.Attacker = demoapp.AttackerAddr
	}
	playErr := play.Run(ctx)
	why := "after " + lc.duration.String()
	if context.Cause(ctx) != context.DeadlineExceeded && ctx.Err() != nil {
		why = "on request"
	}
	cancel()
	close(stop)
	capErr := <-captured
	la.finish()
	srv.Close()
	dropped := lo.Dropped()
	lo.Close()
	if !d.quiet {
		say("stopped %s; app, victim and attacker shut down", why)
	}
	switch {
	case playErr != nil:
		fmt.Fprintf(stderr, "cookiewatch demo: %v\n", playErr)
		return exitError
	case capErr != nil:
		fmt.Fprintf(stderr, "cookiewatch demo: %v\n", capErr)
		return exitError
	}
	if dropped > 0 {
		fmt.Fprintf(stderr, "cookiewatch demo: warning: the kernel dropped %d frames\n", dropped)
	}
	if overflow {
		fmt.Fprintf(stderr, "cookiewatch demo: warning: the report covers the first %d MB of the capture\n", maxLiveCapture>>20)
	}
	if d.narrated() {
		fmt.Fprintln(stdout, "\nThe report of everything captured:")
	}
	return run(append(d.args(), "-r", "-"), embedded{&pcapBuf, "lo (live demo)"}, stdout, stderr)
}

// liveAnalysis runs the file pipeline push-style and hands each finding to
// emit when it is first seen; later occurrences fold into it and are shown
// again only for cross-connection findings (each replay is an incident).
type liveAnalysis struct {
	p     *pipeline
	corr  *correlation
	a     *capture.Analyzer
	agg   *rules.Aggregator
	shown map[string]int // finding key → count last shown
	seen  int            // p.occurrences at the last check
	emit  func(f rules.Finding, again bool)
}

func newLiveAnalysis(emit func(rules.Finding, bool)) (*liveAnalysis, error) {
	cc, err := correlate.New(correlate.Config{})
	if err != nil {
		return nil, err
	}
	agg := &rules.Aggregator{}
	corr := &correlation{c: cc, agg: agg} // one goroutine: findings straight into agg
	p := newPipeline(config{}, agg)
	p.file = "lo"
	p.feed = &feed{direct: corr}
	a, err := capture.NewAnalyzer(capture.Config{}, p)
	if err != nil {
		return nil, err
	}
	return &liveAnalysis{p: p, corr: corr, a: a, agg: agg, shown: map[string]int{}, emit: emit}, nil
}

func (l *liveAnalysis) packet(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) {
	l.a.Packet(lt, data, ci)
	l.flush()
}

// finish closes every connection and decides the end-of-input rules.
func (l *liveAnalysis) finish() {
	l.a.Finish()
	l.corr.add(l.corr.c.End())
	l.flush()
}

func (l *liveAnalysis) flush() {
	if n := l.p.occurrences + l.corr.occurrences; n == l.seen {
		return
	} else {
		l.seen = n
	}
	for _, f := range l.agg.Findings() {
		k := f.Key()
		n, ok := l.shown[k]
		switch {
		case !ok:
			l.emit(f, false)
		case f.Count > n && len(f.Chain) > 0:
			l.emit(f, true)
		}
		l.shown[k] = f.Count
	}
}

// liveEvidence is a finding's evidence on one line: request, client and frames.
func liveEvidence(f rules.Finding) string {
	s := report.Safe(f.Method+" "+f.Path, 40)
	if f.Direction == "response" && f.Status != 0 {
		s += " → " + strconv.Itoa(f.Status)
	}
	s += " from " + f.Client.Addr().String() + ", frame "
	if len(f.Chain) > 1 {
		for i, l := range f.Chain {
			if i > 0 {
				s += "→"
			}
			s += strconv.FormatUint(l.Frame, 10)
		}
		return s
	}
	return s + strconv.FormatUint(f.Frame, 10)
}
