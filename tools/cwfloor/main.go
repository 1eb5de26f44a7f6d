// Command cwfloor is the decode floor of the benchmark: it only reads the
// packets of a capture and decodes Ethernet, IPv4/IPv6 and TCP with one
// reused gopacket DecodingLayerParser, as the issue defines it. -reader says
// which packet reader: libpcap (pcap_next_ex through gopacket/pcap, zero
// copy) or pcapgo (gopacket's pure-Go reader over a 64 KiB bufio.Reader,
// zero copy) or file (capture.Open: the reader cookiewatch uses for files,
// which maps a classic pcap file into memory and falls back to pcapgo for
// pcapng, gzip and small files).
//
//	cwfloor -reader libpcap|pcapgo|file FILE
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"
	"github.com/google/gopacket/pcapgo"

	"github.com/cookiewatch/cookiewatch/capture"
)

type zeroCopy interface {
	ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cwfloor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	reader := fs.String("reader", "libpcap", "packet `reader`: libpcap, pcapgo or file")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: cwfloor [-reader libpcap|pcapgo|file] FILE")
		return 2
	}
	path := fs.Arg(0)
	var src zeroCopy
	switch *reader {
	case "libpcap":
		h, err := pcap.OpenOffline(path)
		if err != nil {
			fmt.Fprintln(stderr, "cwfloor:", err)
			return 2
		}
		defer h.Close()
		src = h
	case "pcapgo":
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintln(stderr, "cwfloor:", err)
			return 2
		}
		defer f.Close()
		r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<16))
		if err != nil {
			fmt.Fprintln(stderr, "cwfloor:", err)
			return 2
		}
		src = r
	case "file":
		f, err := capture.Open(path)
		if err != nil {
			fmt.Fprintln(stderr, "cwfloor:", err)
			return 2
		}
		defer f.Close()
		src = f
	default:
		fmt.Fprintf(stderr, "cwfloor: unknown -reader %q\n", *reader)
		return 2
	}
	var (
		eth     layers.Ethernet
		ip4     layers.IPv4
		ip6     layers.IPv6
		tcp     layers.TCP
		payload gopacket.Payload
	)
	parser := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &ip4, &ip6, &tcp, &payload)
	parser.IgnoreUnsupported = true
	decoded := make([]gopacket.LayerType, 0, 8)
	var packets, bytes, segments, payloadBytes uint64
	t0 := time.Now()
	for {
		data, _, err := src.ZeroCopyReadPacketData()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			fmt.Fprintln(stderr, "cwfloor:", err)
			return 2
		}
		packets++
		bytes += uint64(len(data))
		_ = parser.DecodeLayers(data, &decoded)
		for _, lt := range decoded {
			if lt == layers.LayerTypeTCP {
				segments++
				payloadBytes += uint64(len(tcp.Payload))
			}
		}
	}
	el := time.Since(t0)
	fmt.Fprintf(stdout, "cwfloor -reader %s: %d packets, %d bytes, %d TCP segments (%d payload bytes) in %v\n",
		*reader, packets, bytes, segments, payloadBytes, el.Round(time.Millisecond))
	return 0
}
