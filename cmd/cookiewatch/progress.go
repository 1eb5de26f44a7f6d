package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/cookiewatch/cookiewatch/capture"
)

// progressBar draws one line on a terminal's standard error while capture
// files are read: bytes read of the total, rate, time left and findings so
// far. The analysis goroutine only stores atomics (from inside Read, where
// it also samples the finding count); a ticker goroutine draws.
type progressBar struct {
	w     io.Writer
	total int64 // sum of the files' sizes
	read  atomic.Int64
	found atomic.Int64
	start time.Time

	mu   sync.Mutex
	open *os.File // the file being read; closed at the next open or at stop
	stop chan struct{}
	done chan struct{}
}

// progressInterval is how often the bar is redrawn.
const progressInterval = 200 * time.Millisecond

// newProgress returns a bar for files drawn on w, or nil when there is
// nothing to show: quiet, standard error not a terminal, or standard input
// among the files (its size is unknown).
func newProgress(stderr io.Writer, files []string, quiet bool) *progressBar {
	f, ok := stderr.(*os.File)
	if quiet || !ok || !isatty.IsTerminal(f.Fd()) || os.Getenv("TERM") == "dumb" {
		return nil
	}
	return startProgress(stderr, files)
}

// startProgress starts drawing for files on w, terminal or not.
func startProgress(w io.Writer, files []string) *progressBar {
	var total int64
	for _, p := range files {
		st, err := os.Stat(p)
		if p == "-" || err != nil {
			return nil // the open reports the error; stdin has no size
		}
		total += st.Size()
	}
	pb := &progressBar{w: w, total: total, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go pb.loop()
	return pb
}

func (pb *progressBar) loop() {
	defer close(pb.done)
	t := time.NewTicker(progressInterval)
	defer t.Stop()
	for {
		select {
		case <-pb.stop:
			// The final state, then an empty line for what follows.
			fmt.Fprintf(pb.w, "\r%s\x1b[K\r\x1b[K", pb.line())
			return
		case <-t.C:
			fmt.Fprintf(pb.w, "\r%s\x1b[K", pb.line())
		}
	}
}

func (pb *progressBar) line() string {
	return progressLine(pb.read.Load(), pb.total, time.Since(pb.start), int(pb.found.Load()))
}

// Stop draws the final state, clears the line and closes the last file. A
// nil bar does nothing.
func (pb *progressBar) Stop() {
	if pb == nil {
		return
	}
	close(pb.stop)
	<-pb.done
	pb.mu.Lock()
	defer pb.mu.Unlock()
	if pb.open != nil {
		pb.open.Close()
		pb.open = nil
	}
}

// openCapture opens a capture file, read through the bar when there is one.
// found is sampled for the finding count from inside Read, in the analysis
// goroutine.
func openCapture(path string, pb *progressBar, found *atomic.Int64) (*capture.File, error) {
	if pb == nil || path == "-" {
		return capture.Open(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("capture: %w", err)
	}
	pb.mu.Lock()
	if pb.open != nil {
		pb.open.Close() // the previous file is done: analyze reads files in turn
	}
	pb.open = f
	pb.mu.Unlock()
	return capture.NewReader(path, &progressReader{r: f, pb: pb, found: found})
}

type progressReader struct {
	r     io.Reader
	pb    *progressBar
	found *atomic.Int64 // findings so far
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.pb.read.Add(int64(n))
	p.pb.found.Store(p.found.Load())
	return n, err
}

// progressLine renders the bar: "[#####-----]  45%  120.3 MB of 267.0 MB,
// 35.2 MB/s, 0:04 left, 12 findings".
func progressLine(read, total int64, elapsed time.Duration, findings int) string {
	const width = 24
	frac := 0.0
	if total > 0 {
		frac = min(float64(read)/float64(total), 1)
	}
	filled := int(frac * width)
	var b strings.Builder
	b.WriteString("[" + strings.Repeat("#", filled) + strings.Repeat("-", width-filled) + "]")
	fmt.Fprintf(&b, " %3d%%  %s of %s", int(frac*100), bytesText(read), bytesText(total))
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(read) / s
	}
	fmt.Fprintf(&b, ", %s/s", bytesText(int64(rate)))
	if rate > 0 && read < total {
		left := time.Duration(float64(total-read) / rate * float64(time.Second))
		fmt.Fprintf(&b, ", %s left", clock(left))
	}
	fmt.Fprintf(&b, ", %d findings", findings)
	return b.String()
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f kB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// clock formats a duration as m:ss or h:mm:ss.
func clock(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
