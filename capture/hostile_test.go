package capture

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// feed runs frames through a without a file.
func feed(a *Analyzer, c *capturetest.Capture) {
	for _, p := range c.Packets {
		a.Packet(layers.LinkTypeEthernet, p.Data, p.CI)
	}
	c.Packets = c.Packets[:0]
}

func TestEvictionIsLeastRecentlyActive(t *testing.T) {
	// A long-lived connection that keeps sending survives a flood of new
	// connections over MaxConns; the idle flood connections are evicted.
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	rec := &recorder{}
	a, err := NewAnalyzer(Config{MaxConns: 8}, rec)
	if err != nil {
		t.Fatal(err)
	}
	active := c.Conn(cli4, srv4, capturetest.ConnOptions{})
	for i := 0; i < 100; i++ {
		active.Send(true, []byte("x"))
		cl := netip.AddrPortFrom(netip.MustParseAddr("10.1.0.1"), uint16(1000+i))
		c.Conn(cl, srv4, capturetest.ConnOptions{NoHandshake: true}).Send(true, []byte("y"))
		feed(a, c)
	}
	a.Finish()
	st := a.Stats()
	if got := rec.conns[0].bytes[DirAB].Len(); got != 100 || len(rec.conns[0].gaps[DirAB]) != 0 {
		t.Errorf("active connection delivered %d bytes, gaps %v; want 100 in one piece", got, rec.conns[0].gaps[DirAB])
	}
	if rec.conns[0].closes != 1 || st.ConnsOverLimit != 100-7 {
		t.Errorf("closes %d, evicted %d, want 1 and %d", rec.conns[0].closes, st.ConnsOverLimit, 100-7)
	}
}

func TestStaleRetransmissionsNotRecorded(t *testing.T) {
	// Copies of bytes already delivered are never delivered again: keeping
	// a frame record for each (up to 4096 per direction) was memory an
	// attacker could fill on every connection.
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	a, err := NewAnalyzer(Config{}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
	seq := cn.Seq(true)
	cn.Send(true, []byte(req))
	old := c.Frame(capturetest.IPPacket(cli4, srv4, seq, 1, capturetest.TCPFlags{ACK: true}, []byte(req[:10])))
	for range 5000 {
		c.Add(old)
	}
	feed(a, c)
	for _, s := range liveStreams(a) {
		for i := range s.half {
			if n := len(s.half[i].segs); n > 1 {
				t.Errorf("half %d keeps %d segment records after 5000 stale copies", i, n)
			}
		}
	}
	a.Finish()
	if st := a.Stats(); st.OverlapConflicts != 0 {
		t.Errorf("identical copies counted as %d conflicts", st.OverlapConflicts)
	}
}

func TestOverlapConflicts(t *testing.T) {
	// Same range, other bytes: a conflict; the same bytes again: none.
	tests := []struct {
		name      string
		opt       capturetest.SendOptions
		conflicts uint64
		want      string
	}{
		{"identical retransmission", capturetest.SendOptions{Retransmit: []int{2}}, 0, req},
		{"delivered, resent with other bytes: first copy wins",
			capturetest.SendOptions{Overlap: map[int][]byte{6: []byte("XXXXXXXXXX")}}, 1, req},
		// a known limit: only the last 4 delivered segments are remembered
		{"delivered 5 segments before, resent with other bytes: not compared",
			capturetest.SendOptions{Overlap: map[int][]byte{2: []byte("XXXXXXXXXX")}}, 0, req},
		{"buffered, resent with other bytes: last copy wins",
			capturetest.SendOptions{Swap: []int{1}, Overlap: map[int][]byte{1: []byte("XXXXXXXXXX")}}, 1, "XXXXXXXXXX" + req[10:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := capturetest.New(capturetest.Ethernet, time.Time{})
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10})
			if tt.opt.Swap != nil { // hold segment 1 back so 2 waits behind a hole, resend 1 with other bytes, then 1
				seq := cn.Seq(true)
				cn.SendWith(true, []byte(req), capturetest.SendOptions{Lose: []int{1}})
				c.Add(c.Frame(capturetest.IPPacket(cli4, srv4, seq+10, 1, capturetest.TCPFlags{ACK: true}, []byte("XXXXXXXXXX"))))
				c.Add(c.Frame(capturetest.IPPacket(cli4, srv4, seq, 1, capturetest.TCPFlags{ACK: true}, []byte(req[:10]))))
				tt.want = req[:10] + "XXXXXXXXXX" + req[20:]
			} else {
				cn.SendWith(true, []byte(req), tt.opt)
			}
			rec, st, err := run(t, Config{}, c.Pcap())
			if err != nil {
				t.Fatal(err)
			}
			if st.OverlapConflicts != tt.conflicts {
				t.Errorf("conflicts %d, want %d", st.OverlapConflicts, tt.conflicts)
			}
			if got := rec.conns[0].bytes[DirAB].String(); got != tt.want {
				t.Errorf("delivered %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFragmentBound(t *testing.T) {
	// First fragments that never complete: held bytes stay under
	// MaxFragmentBytes (ip4defrag alone keeps them for the idle timeout).
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	a, err := NewAnalyzer(Config{MaxFragmentBytes: 64 << 10}, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	ip := capturetest.IPPacket(cli4, srv4, 1, 1, capturetest.TCPFlags{ACK: true}, make([]byte, 1000))
	binary.BigEndian.PutUint16(ip[6:], 0x2000) // more fragments, offset 0
	f := c.Frame(ip)
	const n = 1000
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint16(f[14+4:], uint16(i))
		a.Packet(layers.LinkTypeEthernet, f, gopacket.CaptureInfo{Timestamp: capturetest.Start.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)})
		if a.dec.fragHeld > 64<<10 {
			t.Fatalf("after %d fragments %d bytes held", i+1, a.dec.fragHeld)
		}
	}
	a.Finish()
	if st := a.Stats(); st.FragmentsDiscarded < n-64<<10/(1020+fragCost) || st.Fragments != n {
		t.Errorf("fragments %d, discarded %d", st.Fragments, st.FragmentsDiscarded)
	}
}

// TestActivityOrder checks the live streams' order of activity (the
// eviction and idle-flush order) after every packet against a model that
// moves a connection to the front at each of its segments: random
// segments on 24 connections (SYN, FIN, RST, data; MaxConns 10, so
// evictions; time jumps past the idle timeout, so idle flushes), long
// enough that the activity list is compacted many times.
func TestActivityOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rec := &recorder{}
	a, err := NewAnalyzer(Config{MaxConns: 10}, rec)
	if err != nil {
		t.Fatal(err)
	}
	c := capturetest.New(capturetest.Ethernet, time.Unix(1e9, 0))
	d := newDecoder(0)
	var model []connKey // least recently active first
	var seq [24][2]uint32
	now := time.Unix(1e9, 0)
	for i := range 20000 {
		conn, dir := rng.IntN(len(seq)), rng.IntN(2)
		cli := netip.AddrPortFrom(cli4.Addr(), uint16(40000+conn))
		src, dst := cli, srv4
		if dir == 1 {
			src, dst = srv4, cli
		}
		var fl capturetest.TCPFlags
		switch r := rng.IntN(100); {
		case r < 3:
			fl.SYN = true
		case r < 6:
			fl.FIN, fl.ACK = true, true
		case r < 8:
			fl.RST, fl.ACK = true, true
		default:
			fl.ACK = true
		}
		payload := []byte("data")[:rng.IntN(5)]
		if rng.IntN(500) == 0 {
			now = now.Add(DefaultIdleTimeout + flushInterval)
		}
		now = now.Add(time.Millisecond)
		frame := c.Frame(capturetest.IPPacket(src, dst, seq[conn][dir], 1, fl, payload))
		seq[conn][dir] += uint32(len(payload))
		if fl.SYN || fl.FIN {
			seq[conn][dir]++
		}
		ci := gopacket.CaptureInfo{Timestamp: now, CaptureLength: len(frame), Length: len(frame)}
		if d.decode(layers.LinkTypeEthernet, frame, ci) != "" {
			t.Fatal("test frame not decoded")
		}
		k, _ := d.key()
		model = slices.DeleteFunc(model, func(m connKey) bool { return m == k })
		model = append(model, k)
		a.Packet(layers.LinkTypeEthernet, frame, ci)
		var want, got []connKey
		for _, m := range model {
			if a.conns[m] != nil {
				want = append(want, m)
			}
		}
		for _, s := range liveStreams(a) {
			got = append(got, s.key)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("packet %d: %d streams in activity order %v, want %v", i, len(got), got, want)
		}
	}
	a.Finish()
	rec.check(t)
	if st := a.Stats(); st.ConnsOverLimit == 0 || st.ConnsIdleFlushed == 0 || st.ConnsClosed < 100 {
		t.Errorf("evicted %d, idle-flushed %d, closed %d: the test missed what it is for", st.ConnsOverLimit, st.ConnsIdleFlushed, st.ConnsClosed)
	}
}
