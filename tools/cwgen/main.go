// Command cwgen writes a large, deterministic HTTP capture and its ground
// truth (see package internal/gen) for benchmarks:
//
//	cwgen -o bench.pcap -truth bench.truth -size 1G [-seed 1] [-conns 1000] [-faults]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cookiewatch/cookiewatch/internal/gen"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("cwgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "capture `file` to write (pcap)")
	truth := fs.String("truth", "", "ground-truth `file` to write (default: the capture's name + .truth)")
	size := fs.String("size", "100M", "approximate capture `size` (K, M, G suffixes)")
	seed := fs.Uint64("seed", 1, "random `seed`")
	conns := fs.Int("conns", 1000, "connections open at once")
	faults := fs.Bool("faults", false, "inject loss, reordering, retransmission and mid-stream starts")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	n, err := parseSize(*size)
	if err != nil || *out == "" {
		fmt.Fprintf(stderr, "cwgen: need -o FILE and a valid -size (%v)\n", err)
		return 2
	}
	if *truth == "" {
		*truth = *out + ".truth"
	}
	pf, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(stderr, "cwgen:", err)
		return 2
	}
	tf, err := os.Create(*truth)
	if err != nil {
		fmt.Fprintln(stderr, "cwgen:", err)
		return 2
	}
	t0 := time.Now()
	res, err := gen.Generate(gen.Config{Seed: *seed, Bytes: n, Conns: *conns, Faults: *faults}, pf, tf)
	if err == nil {
		err = pf.Close()
	}
	if err == nil {
		err = tf.Close()
	}
	if err != nil {
		fmt.Fprintln(stderr, "cwgen:", err)
		return 2
	}
	fmt.Fprintf(stderr, "cwgen: %s: %d bytes, %d packets, %d connections (%d TLS), %d HTTP messages, %d cookie headers (%d intact), %d segments lost, in %v\n",
		*out, res.Bytes, res.Packets, res.Conns, res.TLSConns, res.Messages, res.Headers, res.Intact, res.Lost, time.Since(t0).Round(time.Millisecond))
	return 0
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}
