package capture

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcap"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

// fakeLive is a live source: its packets, then read timeouts. Each read
// moves the fake wall clock by step (a timeout's wait, or a little for a
// packet); onRead sees the index of every read before it is answered.
type fakeLive struct {
	pkts   []capturetest.Packet
	i      int
	reads  int
	clock  time.Time
	step   time.Duration
	onRead func(read int)
	err    error // returned once the packets are used up, instead of timeouts
}

func (f *fakeLive) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	f.reads++
	if f.onRead != nil {
		f.onRead(f.reads)
	}
	f.clock = f.clock.Add(f.step)
	if f.i < len(f.pkts) {
		p := f.pkts[f.i]
		f.i++
		return p.Data, p.CI, nil
	}
	if f.err != nil {
		return nil, gopacket.CaptureInfo{}, f.err
	}
	return nil, gopacket.CaptureInfo{}, pcap.NextErrorTimeoutExpired
}

func (f *fakeLive) LinkType() layers.LinkType { return layers.LinkTypeEthernet }
func (f *fakeLive) now() time.Time            { return f.clock }

type teeRec struct{ frames []capturetest.Packet }

func (t *teeRec) WritePacket(ci gopacket.CaptureInfo, data []byte) error {
	t.frames = append(t.frames, capturetest.Packet{CI: ci, Data: append([]byte(nil), data...)})
	return nil
}

// openConn is a connection whose response has begun but not ended (no FIN).
func openConn(start time.Time) *capturetest.Capture {
	c := capturetest.New(capturetest.Ethernet, start)
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
	cn.Send(true, []byte(req))
	cn.Send(false, []byte("HTTP/1.1 200 OK\r\nSet-Cookie: SID=abc123\r\nContent-Length: 900\r\n\r\npartial"))
	return c
}

func TestRunLive(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

	t.Run("stop flushes open connections after a last look", func(t *testing.T) {
		c := openConn(start)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := &fakeLive{pkts: c.Packets, clock: start, step: time.Millisecond}
		src.onRead = func(n int) {
			if n == len(c.Packets)+1 { // all packets read: SIGINT
				cancel()
			}
		}
		rec := &recorder{}
		a, err := NewAnalyzer(Config{}, rec)
		if err != nil {
			t.Fatal(err)
		}
		var trackedAtStop, closedAtStop int
		err = a.RunLive(ctx, src, LiveOptions{Now: src.now, Stopped: func() {
			trackedAtStop, _ = a.Tracked()
			closedAtStop = int(a.Stats().ConnsClosed)
		}})
		if err != nil {
			t.Fatal(err)
		}
		rec.check(t)
		if len(rec.conns) != 1 || !strings.Contains(rec.conns[0].bytes[DirBA].String(), "partial") {
			t.Fatalf("conns %d; bytes not delivered", len(rec.conns))
		}
		if trackedAtStop != 1 || closedAtStop != 0 {
			t.Errorf("at stop: %d tracked, %d closed; want 1 and 0", trackedAtStop, closedAtStop)
		}
		if st := a.Stats(); st.Packets != uint64(len(c.Packets)) || st.ConnsIdleFlushed != 0 {
			t.Errorf("stats %+v", st)
		}
	})

	t.Run("count stops and the tee gets the same frames", func(t *testing.T) {
		c := openConn(start)
		src := &fakeLive{pkts: c.Packets, clock: start, step: time.Millisecond}
		tee := &teeRec{}
		a, _ := NewAnalyzer(Config{}, &recorder{})
		if err := a.RunLive(context.Background(), src, LiveOptions{Count: 4, Tee: tee, Now: src.now}); err != nil {
			t.Fatal(err)
		}
		if a.Stats().Packets != 4 || len(tee.frames) != 4 || src.i != 4 {
			t.Fatalf("packets %d, tee %d, read %d; want 4", a.Stats().Packets, len(tee.frames), src.i)
		}
		for i, f := range tee.frames {
			if string(f.Data) != string(c.Packets[i].Data) || !f.CI.Timestamp.Equal(c.Packets[i].CI.Timestamp) {
				t.Errorf("tee frame %d differs from packet %d", i+1, i+1)
			}
		}
	})

	t.Run("idle connections close by wall clock while no packets come", func(t *testing.T) {
		c := openConn(start)
		const idle = 10 * time.Second
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := &fakeLive{pkts: c.Packets, clock: start, step: 250 * time.Millisecond}
		rec := &recorder{}
		a, _ := NewAnalyzer(Config{IdleTimeout: idle}, rec)
		last := c.Packets[len(c.Packets)-1].CI.Timestamp
		var closedEarly, closedAt time.Time
		src.onRead = func(int) {
			if len(rec.conns) == 1 && rec.conns[0].closes > 0 && closedAt.IsZero() {
				closedAt = src.clock
			}
			if src.clock.Sub(last) < idle && len(rec.conns) == 1 && rec.conns[0].closes > 0 && closedEarly.IsZero() {
				closedEarly = src.clock
			}
			if src.clock.Sub(last) > 3*idle {
				cancel()
			}
		}
		if err := a.RunLive(ctx, src, LiveOptions{Now: src.now}); err != nil {
			t.Fatal(err)
		}
		rec.check(t)
		if !closedEarly.IsZero() {
			t.Errorf("closed %v after its last packet, before the idle timeout", closedEarly.Sub(last))
		}
		if closedAt.IsZero() {
			t.Fatal("not closed by the wall-clock flush (only at the end)")
		}
		if late := closedAt.Sub(last); late > idle+idle/4+time.Second {
			t.Errorf("closed %v after its last packet; idle timeout %v", late, idle)
		}
		if st := a.Stats(); st.ConnsIdleFlushed != 1 {
			t.Errorf("ConnsIdleFlushed %d, want 1", st.ConnsIdleFlushed)
		}
	})

	t.Run("after stop, captured packets are drained until the kernel is empty", func(t *testing.T) {
		c := openConn(start)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // stopped before the first read
		src := &fakeLive{pkts: c.Packets, clock: start, step: time.Millisecond}
		a, _ := NewAnalyzer(Config{}, &recorder{})
		if err := a.RunLive(ctx, src, LiveOptions{Now: src.now}); err != nil {
			t.Fatal(err)
		}
		if a.Stats().Packets != uint64(len(c.Packets)) || src.reads != len(c.Packets)+1 {
			t.Errorf("read %d of %d packets in %d reads", a.Stats().Packets, len(c.Packets), src.reads)
		}
	})

	t.Run("the drain is bounded in time under endless traffic", func(t *testing.T) {
		c := openConn(start)
		var endless []capturetest.Packet
		for range 1000 {
			endless = append(endless, c.Packets...)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		src := &fakeLive{pkts: endless, clock: start, step: 10 * time.Millisecond}
		a, _ := NewAnalyzer(Config{}, &recorder{})
		if err := a.RunLive(ctx, src, LiveOptions{Now: src.now, Drain: 2 * time.Second}); err != nil {
			t.Fatal(err)
		}
		if n := a.Stats().Packets; n < 150 || n > 250 {
			t.Errorf("drained %d packets in 2s of 10ms reads, want about 200", n)
		}
	})

	t.Run("a read error ends the run, connections still closed", func(t *testing.T) {
		c := openConn(start)
		boom := errors.New("interface went away")
		src := &fakeLive{pkts: c.Packets, clock: start, step: time.Millisecond, err: boom}
		rec := &recorder{}
		a, _ := NewAnalyzer(Config{}, rec)
		err := a.RunLive(context.Background(), src, LiveOptions{Now: src.now})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "after frame") {
			t.Errorf("error %v", err)
		}
		rec.check(t)
	})

	t.Run("ticks come by wall clock", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := &fakeLive{clock: start, step: 100 * time.Millisecond}
		src.onRead = func(n int) {
			if n == 100 { // 10 s of timeouts
				cancel()
			}
		}
		ticks := 0
		a, _ := NewAnalyzer(Config{}, &recorder{})
		if err := a.RunLive(ctx, src, LiveOptions{Now: src.now, Every: time.Second, Tick: func() { ticks++ }}); err != nil {
			t.Fatal(err)
		}
		if ticks < 9 || ticks > 11 {
			t.Errorf("%d ticks in 10 s with Every 1s", ticks)
		}
	})
}

// TestTrackedBuffered checks the reassembler's page count: an out-of-order
// segment is buffered until the hole before it is filled.
func TestTrackedBuffered(t *testing.T) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 100})
	cn.SendWith(true, []byte(strings.Repeat("x", 1000)), capturetest.SendOptions{Lose: []int{1}})
	a, _ := NewAnalyzer(Config{}, &recorder{})
	for _, p := range c.Packets {
		a.Packet(layers.LinkTypeEthernet, p.Data, p.CI)
	}
	conns, buffered := a.Tracked()
	if conns != 1 || buffered < 900 {
		t.Errorf("tracked %d conns, %d bytes buffered; want 1 and ≥ 900 (9 segments after a hole)", conns, buffered)
	}
	a.Finish()
	if conns, buffered = a.Tracked(); conns != 0 || buffered != 0 {
		t.Errorf("after Finish: %d conns, %d bytes", conns, buffered)
	}
}
