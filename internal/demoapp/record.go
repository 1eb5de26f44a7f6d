package demoapp

import (
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/pcapgo"
)

// Capture is the embedded demo capture: one round of Play (victim login,
// account page, attacker replay, account page again) recorded on loopback
// by `go run ./internal/demoapp/gen` (make demo-pcap).
//
//go:embed demo.pcap
var Capture []byte

// CaptureName is how reports name the embedded capture.
const CaptureName = "demo.pcap (embedded)"

// Epoch is where recorded captures start: timestamps are shifted so the
// first frame is at Epoch, keeping the real intervals between frames.
var Epoch = time.Date(2025, time.March, 14, 9, 26, 53, 0, time.UTC)

// Record runs the app on server (port 0 picks one), plays one round of the
// story with pause between steps while capturing the app's port on lo, and
// writes the frames as a pcap file to w. It needs root or CAP_NET_RAW
// (ErrNoPrivilege otherwise) and fails if the kernel dropped a frame.
func Record(ctx context.Context, w io.Writer, server netip.AddrPort, pause time.Duration) error {
	srv, err := Listen(server)
	if err != nil {
		return err
	}
	defer srv.Close()
	lo, err := OpenLoopback(fmt.Sprintf("tcp and host %s and port %d", srv.Addr.Addr(), srv.Addr.Port()))
	if err != nil {
		return err
	}
	defer lo.Close()

	type frame struct {
		data []byte
		ci   gopacket.CaptureInfo
	}
	var frames []frame
	stop := make(chan struct{})
	captured := make(chan error, 1)
	go func() {
		captured <- lo.Run(stop, func(data []byte, ci gopacket.CaptureInfo) {
			frames = append(frames, frame{append([]byte(nil), data...), ci})
		})
	}()
	time.Sleep(100 * time.Millisecond) // let the capture settle before the first SYN
	playErr := Play{Server: srv.Addr, Victim: VictimAddr, Attacker: AttackerAddr, Rounds: 1, Pause: pause}.Run(ctx)
	close(stop)
	if err := <-captured; err != nil {
		return err
	}
	if playErr != nil {
		return playErr
	}
	if n := lo.Dropped(); n > 0 {
		return fmt.Errorf("demoapp: the kernel dropped %d frames; record again", n)
	}
	if len(frames) == 0 {
		return fmt.Errorf("demoapp: no frames captured on lo")
	}
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(Snaplen, lo.LinkType()); err != nil {
		return err
	}
	first := frames[0].ci.Timestamp
	for _, f := range frames {
		f.ci.Timestamp = Epoch.Add(f.ci.Timestamp.Sub(first))
		f.ci.InterfaceIndex = 0
		if err := pw.WritePacket(f.ci, f.data); err != nil {
			return err
		}
	}
	return nil
}
