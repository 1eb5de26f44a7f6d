package demoapp

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"

	"github.com/cookiewatch/cookiewatch/capture"
)

// ErrNoPrivilege means the process may not capture packets: it needs root
// or the CAP_NET_RAW capability.
var ErrNoPrivilege = errors.New("demoapp: capturing on the loopback interface needs root or CAP_NET_RAW")

// Loopback captures on the loopback interface "lo" for the demo. It opens
// lo with capture.OpenLive (immediate mode, 32 MB ring, filter in the
// kernel) and adds the demo's own read loop, which drains on stop.
type Loopback struct {
	src  *capture.Live
	once sync.Once
}

// Snaplen covers a whole loopback frame (its MTU is 65536).
const Snaplen = 262144

// OpenLoopback starts capturing on lo with a BPF filter. A missing
// privilege is reported as ErrNoPrivilege.
func OpenLoopback(filter string) (*Loopback, error) {
	// With TPACKET_V2 each ring slot is snaplen-sized: libpcap's default 2 MB
	// buffer holds only a few packets and the kernel would drop the rest.
	src, err := capture.OpenLive(capture.LiveConfig{Interface: "lo", Snaplen: Snaplen, BufferSize: 32 << 20,
		ReadTimeout: 50 * time.Millisecond, Filter: filter})
	if errors.Is(err, capture.ErrPermission) {
		return nil, fmt.Errorf("%w (%v)", ErrNoPrivilege, err)
	}
	if err != nil {
		return nil, fmt.Errorf("demoapp: capture on lo: %w", err)
	}
	return &Loopback{src: src}, nil
}

// LinkType is the link type of captured frames (Ethernet on Linux lo).
func (l *Loopback) LinkType() layers.LinkType { return l.src.LinkType() }

// Run hands every captured frame to fn, in the calling goroutine, until stop
// is closed; then it keeps reading until the kernel has nothing more for
// 200 ms (or for a second at most), since frames arrive in blocks. fn owns
// data.
func (l *Loopback) Run(stop <-chan struct{}, fn func(data []byte, ci gopacket.CaptureInfo)) error {
	var drainUntil, quietSince time.Time
	for {
		if drainUntil.IsZero() {
			select {
			case <-stop:
				drainUntil = time.Now().Add(time.Second)
				quietSince = time.Now()
			default:
			}
		} else if now := time.Now(); now.After(drainUntil) || now.Sub(quietSince) > 200*time.Millisecond {
			return nil
		}
		data, ci, err := l.src.ReadPacketData()
		if err == pcap.NextErrorTimeoutExpired {
			continue
		}
		if err != nil {
			return fmt.Errorf("demoapp: reading lo: %w", err)
		}
		quietSince = time.Now()
		fn(data, ci)
	}
}

// Dropped returns the packets the kernel dropped because the capture fell
// behind (0 when libpcap cannot tell).
func (l *Loopback) Dropped() int {
	st, err := l.src.Stats()
	if err != nil {
		return 0
	}
	return int(st.Dropped)
}

// Close stops the capture; later calls do nothing.
func (l *Loopback) Close() { l.once.Do(l.src.Close) }
