// Command gen records the embedded demo capture: it starts the vulnerable
// app, the victim and the attacker of package demoapp on loopback addresses,
// captures them on lo with libpcap and writes the pcap:
//
//	go run ./internal/demoapp/gen              # rewrites internal/demoapp/demo.pcap
//	go run ./internal/demoapp/gen -o FILE
//
// It needs root or CAP_NET_RAW. Runs differ only in cookie values, client
// ports and the intervals between frames; timestamps start at demoapp.Epoch.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/cookiewatch/cookiewatch/internal/demoapp"
)

func main() {
	out := flag.String("o", "internal/demoapp/demo.pcap", "write the capture to `file`")
	pause := flag.Duration("pause", 700*time.Millisecond, "pause between the steps of the story")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var b bytes.Buffer
	if err := demoapp.Record(ctx, &b, netip.AddrPortFrom(demoapp.ServerAddr, 80), *pause); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b.Bytes(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen: wrote %s (%d bytes)\n", *out, b.Len())
}
