package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"
)

// Defaults for the zero values of LiveConfig.
const (
	DefaultSnaplen     = 262144
	DefaultBufferSize  = 32 << 20 // bytes; see LiveConfig.BufferSize
	DefaultReadTimeout = 100 * time.Millisecond
)

// Errors of OpenLive, for errors.Is; the wrapping error says which interface
// and what libpcap answered.
var (
	ErrNoInterface = errors.New("capture: no such interface")
	ErrPermission  = errors.New("capture: permission denied")
	ErrNotUp       = errors.New("capture: interface is down")
	ErrFilter      = errors.New("capture: bad filter")
)

// NoInterfaceError says the interface does not exist; Available lists those
// that do (as Interfaces returns them). It matches ErrNoInterface.
type NoInterfaceError struct {
	Name      string
	Available []string
}

func (e *NoInterfaceError) Error() string {
	return fmt.Sprintf("capture: no interface %q (available: %s)", e.Name, strings.Join(e.Available, ", "))
}

// Is makes errors.Is(err, ErrNoInterface) true.
func (e *NoInterfaceError) Is(target error) bool { return target == ErrNoInterface }

// LiveConfig says what OpenLive opens. Zero fields take the defaults above.
type LiveConfig struct {
	Interface string // as libpcap names it; "any" captures on all (Linux cooked headers)
	Snaplen   int    // bytes kept of each packet
	Promisc   bool   // put the interface in promiscuous mode
	// BufferSize is the kernel ring buffer in bytes. In immediate mode libpcap
	// uses TPACKET_V2, whose slots are as large as the biggest frame the
	// interface can deliver (64 KiB with offloads): libpcap's 2 MB default
	// holds a few dozen packets and drops the rest of any burst.
	BufferSize  int
	Filter      string        // BPF expression compiled into the kernel; "" keeps everything
	ReadTimeout time.Duration // how often a read without packets returns, so the loop can stop and flush
}

// Interface is one capture device as Interfaces lists it.
type Interface struct {
	Name        string
	Description string
	Up          bool
	Running     bool
	Loopback    bool
	Wireless    bool
	Addresses   []string
}

// libpcap's PCAP_IF_ flags.
const (
	ifLoopback = 0x1
	ifUp       = 0x2
	ifRunning  = 0x4
	ifWireless = 0x8
)

// Interfaces lists the devices libpcap can capture on, in its order (the
// order of tcpdump -D). It needs no privileges.
func Interfaces() ([]Interface, error) {
	devs, err := pcap.FindAllDevs()
	if err != nil {
		return nil, fmt.Errorf("capture: listing interfaces: %w", err)
	}
	out := make([]Interface, 0, len(devs))
	for _, d := range devs {
		i := Interface{Name: d.Name, Description: d.Description,
			Up: d.Flags&ifUp != 0, Running: d.Flags&ifRunning != 0,
			Loopback: d.Flags&ifLoopback != 0, Wireless: d.Flags&ifWireless != 0}
		for _, a := range d.Addresses {
			i.Addresses = append(i.Addresses, a.IP.String())
		}
		out = append(out, i)
	}
	return out, nil
}

// Live is an open live capture (a libpcap handle in immediate mode). It
// satisfies Source; reads return pcap.NextErrorTimeoutExpired when no packet
// came within the read timeout. Close it when done.
type Live struct {
	h       *pcap.Handle
	iface   string
	snaplen int
}

// OpenLive opens cfg.Interface for capture in immediate mode, so packets are
// handed over as they arrive, and installs the filter in the kernel. A
// numeric name that is not an interface is taken as a 1-based index into
// Interfaces, as tcpdump -i 2 does.
func OpenLive(cfg LiveConfig) (*Live, error) {
	if cfg.Snaplen <= 0 {
		cfg.Snaplen = DefaultSnaplen
	}
	if cfg.BufferSize <= 0 {
		cfg.BufferSize = DefaultBufferSize
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	name := cfg.Interface
	if name == "" {
		return nil, errors.New("capture: no interface given")
	}
	devs, listErr := Interfaces()
	if n, err := strconv.Atoi(name); err == nil && listErr == nil && !slices.ContainsFunc(devs, func(d Interface) bool { return d.Name == name }) {
		if n < 1 || n > len(devs) {
			return nil, fmt.Errorf("%w: index %d (there are %d interfaces; see -D)", ErrNoInterface, n, len(devs))
		}
		name = devs[n-1].Name
	}
	in, err := pcap.NewInactiveHandle(name)
	if err != nil {
		return nil, classifyOpenError(name, devs, err)
	}
	defer in.CleanUp()
	for _, set := range []func() error{
		func() error { return in.SetSnapLen(cfg.Snaplen) },
		func() error { return in.SetPromisc(cfg.Promisc) },
		func() error { return in.SetBufferSize(cfg.BufferSize) },
		func() error { return in.SetImmediateMode(true) },
		func() error { return in.SetTimeout(cfg.ReadTimeout) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("capture: %s: %w", name, err)
		}
	}
	h, err := in.Activate()
	if err != nil {
		return nil, classifyOpenError(name, devs, err)
	}
	l := &Live{h: h, iface: name, snaplen: cfg.Snaplen}
	if cfg.Filter != "" {
		if err := h.SetBPFFilter(cfg.Filter); err != nil {
			h.Close()
			return nil, fmt.Errorf("%w %q: %v", ErrFilter, cfg.Filter, err)
		}
	}
	return l, nil
}

// classifyOpenError turns libpcap's activation errors (gopacket gives only
// their text) into ErrNoInterface, ErrPermission or ErrNotUp where it can.
func classifyOpenError(name string, devs []Interface, err error) error {
	msg := err.Error()
	lower := strings.ToLower(msg)
	known := devs == nil || slices.ContainsFunc(devs, func(d Interface) bool { return d.Name == name })
	switch {
	case !known || strings.Contains(lower, "no such device"):
		names := make([]string, len(devs))
		for i, d := range devs {
			names[i] = d.Name
		}
		return &NoInterfaceError{Name: name, Available: names}
	case strings.Contains(lower, "permission denied") || strings.Contains(lower, "operation not permitted"):
		return fmt.Errorf("%w: capturing on %s: %s", ErrPermission, name, msg)
	case strings.Contains(lower, "not up"):
		return fmt.Errorf("%w: %s: %s", ErrNotUp, name, msg)
	}
	return fmt.Errorf("capture: opening %s: %w", name, err)
}

// ReadPacketData returns the next packet (a copy the caller may keep), or
// pcap.NextErrorTimeoutExpired when none came within the read timeout.
func (l *Live) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := l.h.ReadPacketData()
	if err == pcap.NextErrorReadError {
		err = fmt.Errorf("capture: reading from %s: %v", l.iface, l.h.Error())
	}
	return data, ci, err
}

// LinkType is the link type of the interface ("any": Linux cooked, SLL).
func (l *Live) LinkType() layers.LinkType { return l.h.LinkType() }

// Interface is the name of the interface captured on.
func (l *Live) Interface() string { return l.iface }

// Snaplen is the snapshot length the capture was opened with.
func (l *Live) Snaplen() int { return l.snaplen }

// LiveStats are libpcap's counters for a live capture (pcap_stats).
type LiveStats struct {
	Received  uint64 // packets that passed the filter (libpcap's ps_recv)
	Dropped   uint64 // dropped by the kernel: no room in the ring buffer (ps_drop)
	IfDropped uint64 // dropped by the interface or its driver (ps_ifdrop)
}

// Stats asks libpcap for its counters.
func (l *Live) Stats() (LiveStats, error) {
	st, err := l.h.Stats()
	if err != nil {
		return LiveStats{}, fmt.Errorf("capture: stats of %s: %w", l.iface, err)
	}
	return LiveStats{Received: uint64(st.PacketsReceived), Dropped: uint64(st.PacketsDropped),
		IfDropped: uint64(st.PacketsIfDropped)}, nil
}

// Close closes the handle.
func (l *Live) Close() { l.h.Close() }

// PacketWriter takes a copy of every packet a live run reads;
// *pcapgo.Writer satisfies it.
type PacketWriter interface {
	WritePacket(ci gopacket.CaptureInfo, data []byte) error
}

// LiveOptions tune RunLive.
type LiveOptions struct {
	Count uint64       // stop after this many packets; 0: no limit
	Tee   PacketWriter // gets every packet read, before it is analysed (tcpdump -w)
	// Every and Tick: Tick is called from the loop about every Every of wall
	// time (0: never), between packets, so it may read the Analyzer's state.
	Every time.Duration
	Tick  func()
	// Drain bounds how long packets already captured are still read after
	// ctx is done (default one second); reading stops earlier at the first
	// read timeout, when the kernel has nothing more.
	Drain time.Duration
	// Stopped is called once when reading has stopped, before the open
	// connections are flushed: the moment to take a last look at Tracked.
	Stopped func()
	Now     func() time.Time // wall clock; nil means time.Now (tests set it)
}

// RunLive reads a live source until ctx is done (then it drains what the
// kernel already captured, within opt.Drain), opt.Count packets were read,
// or reading fails. Packets are numbered and analysed as Run does, so frame
// numbers are those of a pcap written by opt.Tee. Idle connections are
// flushed by wall-clock time, also while no packets arrive. At the end every
// open connection is flushed and closed, whatever the reason for stopping.
// It returns nil when stopped by ctx or Count. Config.Filter must be empty:
// a live filter belongs in the kernel (LiveConfig.Filter).
func (a *Analyzer) RunLive(ctx context.Context, src Source, opt LiveOptions) error {
	if a.ran {
		return errors.New("capture: Analyzer run twice")
	}
	if a.cfg.Filter != "" {
		return errors.New("capture: RunLive with Config.Filter set: give the filter to OpenLive")
	}
	a.ran = true
	lt := src.LinkType()
	if !supportedLinkType(lt) {
		return linkTypeError(int(lt))
	}
	if opt.Drain <= 0 {
		opt.Drain = time.Second
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	err := a.liveLoop(ctx, src, lt, opt, now)
	if opt.Stopped != nil {
		opt.Stopped()
	}
	a.flushAll()
	return err
}

func (a *Analyzer) liveLoop(ctx context.Context, src Source, lt layers.LinkType, opt LiveOptions, now func() time.Time) error {
	interval := a.wallFlushInterval()
	start := now()
	lastFlush, lastTick := start, start
	var drainUntil time.Time
	for {
		if drainUntil.IsZero() && ctx.Err() != nil {
			drainUntil = now().Add(opt.Drain)
		}
		t := now()
		if !drainUntil.IsZero() && t.After(drainUntil) {
			return nil
		}
		if t.Sub(lastFlush) >= interval {
			a.flushIdle(t)
			lastFlush = t
		}
		if opt.Tick != nil && opt.Every > 0 && t.Sub(lastTick) >= opt.Every {
			opt.Tick()
			lastTick = t
		}
		data, ci, err := src.ReadPacketData()
		switch {
		case err == pcap.NextErrorTimeoutExpired: // no packet within the read timeout
			if !drainUntil.IsZero() {
				return nil // the kernel has nothing more
			}
			continue
		case err == io.EOF:
			return nil
		case err != nil:
			return fmt.Errorf("capture: after frame %d: %w", a.frame, err)
		}
		if opt.Tee != nil {
			if err := opt.Tee.WritePacket(ci, data); err != nil {
				return fmt.Errorf("capture: writing frame %d: %w", a.frame+1, err)
			}
		}
		a.Packet(lt, data, ci)
		if opt.Count > 0 && a.stats.Packets >= opt.Count {
			return nil
		}
	}
}

// wallFlushInterval is how often a live run flushes idle connections: every
// minute, or more often for short idle timeouts, so a connection is closed
// at most a quarter of its timeout late.
func (a *Analyzer) wallFlushInterval() time.Duration {
	return min(flushInterval, max(a.cfg.IdleTimeout/4, 10*time.Millisecond))
}

// flushIdle closes connections (and drops IPv4 fragments) idle since before
// now minus the idle timeout. Live runs call it with the wall clock, so
// connections end even when no packet arrives to advance capture time.
func (a *Analyzer) flushIdle(now time.Time) {
	a.flushOlderThan(now.Add(-a.cfg.IdleTimeout))
	a.dec.discardFragments(now.Add(-a.cfg.IdleTimeout))
}

// Tracked says how many TCP connections the reassembler holds now and how
// many bytes of out-of-order data it buffers (whole pages, so an upper bound).
func (a *Analyzer) Tracked() (conns int, bufferedBytes int) {
	return a.live, a.pages * pageSize
}
