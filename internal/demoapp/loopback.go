package demoapp

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"
)

// ErrNoPrivilege means the process may not capture packets: it needs root
// or the CAP_NET_RAW capability.
var ErrNoPrivilege = errors.New("demoapp: capturing on the loopback interface needs root or CAP_NET_RAW")

// Loopback captures on the loopback interface "lo" with libpcap. It is the
// demo's own small live source, set up as cmd/cookiewatch's loopback test
// does (32 MB buffer, immediate mode, draining on stop); a general live
// capture (-i) belongs to package capture.
type Loopback struct {
	h    *pcap.Handle
	once sync.Once
}

// Snaplen covers a whole loopback frame (its MTU is 65536).
const Snaplen = 262144

// OpenLoopback starts capturing on lo with a BPF filter. A missing
// privilege is reported as ErrNoPrivilege.
func OpenLoopback(filter string) (*Loopback, error) {
	in, err := pcap.NewInactiveHandle("lo")
	if err != nil {
		return nil, privilege(err)
	}
	defer in.CleanUp()
	for _, e := range []error{
		in.SetSnapLen(Snaplen),
		// With TPACKET_V2 each ring slot is snaplen-sized: the default 2 MB
		// buffer holds only a few packets and the kernel would drop the rest.
		in.SetBufferSize(32 << 20),
		in.SetImmediateMode(true),
		in.SetTimeout(50 * time.Millisecond),
	} {
		if e != nil {
			return nil, fmt.Errorf("demoapp: lo: %w", e)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, privilege(err)
	}
	if filter != "" {
		if err := h.SetBPFFilter(filter); err != nil {
			h.Close()
			return nil, fmt.Errorf("demoapp: BPF filter %q: %w", filter, err)
		}
	}
	return &Loopback{h: h}, nil
}

func privilege(err error) error {
	s := strings.ToLower(err.Error())
	if strings.Contains(s, "permission") || strings.Contains(s, "not permitted") {
		return fmt.Errorf("%w (%v)", ErrNoPrivilege, err)
	}
	return fmt.Errorf("demoapp: capture on lo: %w", err)
}

// LinkType is the link type of captured frames (Ethernet on Linux lo).
func (l *Loopback) LinkType() layers.LinkType { return l.h.LinkType() }

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
		data, ci, err := l.h.ReadPacketData()
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
	st, err := l.h.Stats()
	if err != nil {
		return 0
	}
	return st.PacketsDropped
}

// Close stops the capture; later calls do nothing.
func (l *Loopback) Close() { l.once.Do(l.h.Close) }
