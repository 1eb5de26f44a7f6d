// Command mkpcap turns transcripts into pcap files beside them:
//
//	go run ./capture/capturetest/mkpcap testdata/pcap/*.txt
//
// writes testdata/pcap/NAME.pcap for each NAME.txt. The output depends only
// on the transcript (fixed start time, fixed sequence numbers).
package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

func main() { os.Exit(run(os.Args[1:], os.Stderr)) }

func run(args []string, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: mkpcap FILE.txt...")
		return 2
	}
	status := 0
	for _, in := range args {
		if err := convert(in); err != nil {
			fmt.Fprintf(stderr, "mkpcap: %s: %v\n", in, err)
			status = 1
		}
	}
	return status
}

func convert(in string) error {
	if !strings.HasSuffix(in, ".txt") {
		return fmt.Errorf("not a .txt transcript")
	}
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	c, err := capturetest.Parse(f)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := c.WritePcap(&b, false); err != nil {
		return err
	}
	return os.WriteFile(strings.TrimSuffix(in, ".txt")+".pcap", b.Bytes(), 0o644)
}
