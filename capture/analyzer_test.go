package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
)

var (
	cli4 = netip.MustParseAddrPort("10.0.0.2:51000")
	srv4 = netip.MustParseAddrPort("192.0.2.80:80")
	cli6 = netip.MustParseAddrPort("[2001:db8::2]:51000")
	srv6 = netip.MustParseAddrPort("[2001:db8::80]:80")
)

const req = "GET /login HTTP/1.1\r\nHost: shop.example\r\nCookie: SID=abc123\r\n\r\n"
const resp = "HTTP/1.1 200 OK\r\nSet-Cookie: SID=abc123; Path=/\r\nContent-Length: 0\r\n\r\n"

// run analyzes capture bytes and checks the invariants every run must keep.
func run(t *testing.T, cfg Config, file []byte) (*recorder, Stats, error) {
	t.Helper()
	f, err := NewReader("test", bytes.NewReader(file))
	if err != nil {
		return nil, Stats{}, err
	}
	rec := &recorder{}
	a, err := NewAnalyzer(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	err = a.Run(f)
	st := a.Stats()
	rec.check(t)
	if st.ConnsOpened != st.ConnsClosed || int(st.ConnsOpened) != len(rec.conns) {
		t.Errorf("opened %d, closed %d, recorded %d", st.ConnsOpened, st.ConnsClosed, len(rec.conns))
	}
	return rec, st, err
}

func TestReassembly(t *testing.T) {
	tests := []struct {
		name   string
		build  func(c *capturetest.Capture)
		conns  int
		ab, ba string // bytes of the first conn
		gapsAB []int
		check  func(t *testing.T, rec *recorder, st Stats)
	}{
		{name: "in order", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10})
			cn.Send(true, []byte(req))
			cn.Send(false, []byte(resp))
			cn.FIN(true)
			cn.FIN(false)
		}, conns: 1, ab: req, ba: resp},
		{name: "out of order", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10})
			cn.SendWith(true, []byte(req), capturetest.SendOptions{Swap: []int{1, 3}})
			cn.Send(false, []byte(resp))
		}, conns: 1, ab: req, ba: resp},
		{name: "retransmission and overlapping retransmit", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10})
			cn.SendWith(true, []byte(req), capturetest.SendOptions{Retransmit: []int{1, 2},
				Overlap: map[int][]byte{3: []byte("XXXXXXXXXX")}})
			cn.Send(false, []byte(resp))
		}, conns: 1, ab: req, ba: resp},
		{name: "overlapping retransmit of a buffered segment", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10})
			cn.SendWith(true, []byte(req), capturetest.SendOptions{Swap: []int{1}})
			cn.Send(false, []byte(resp))
		}, conns: 1, ab: req, ba: resp},
		{name: "loss gives a gap then later bytes", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10})
			cn.SendWith(true, []byte(req), capturetest.SendOptions{Lose: []int{2}})
			cn.Send(false, []byte(resp))
		}, conns: 1, ab: req[:10] + req[20:], ba: resp, gapsAB: []int{10}},
		{name: "mid-stream start", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10, NoHandshake: true})
			cn.Send(true, []byte(req))
			cn.Send(false, []byte(resp))
		}, conns: 1, ab: req, ba: resp},
		{name: "one direction only, server first", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10, NoHandshake: true})
			cn.Send(false, []byte(resp))
		}, conns: 1, ab: resp, check: func(t *testing.T, rec *recorder, st Stats) {
			if rec.conns[0].key.A != srv4 {
				t.Errorf("A = %v, want the first sender %v", rec.conns[0].key.A, srv4)
			}
		}},
		{name: "RST closes both directions", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
			cn.Send(true, []byte(req))
			cn.RST(false)
			cn.Send(false, []byte(resp)) // after the reset: a new, mid-stream conn
		}, conns: 2, ab: req, check: func(t *testing.T, rec *recorder, st Stats) {
			if got := rec.conns[1].bytes[DirAB].String(); got != resp {
				t.Errorf("after RST: %q", got)
			}
		}},
		{name: "4-tuple reused after FIN", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
			cn.Send(true, []byte(req))
			cn.FIN(true)
			cn.FIN(false)
			cn.Ack(true)
			cn2 := c.Conn(cli4, srv4, capturetest.ConnOptions{})
			cn2.Send(true, []byte("second"))
		}, conns: 2, ab: req, check: func(t *testing.T, rec *recorder, st Stats) {
			if got := rec.conns[1].bytes[DirAB].String(); got != "second" {
				t.Errorf("second conn: %q", got)
			}
		}},
		{name: "4-tuple reused without close", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
			cn.Send(true, []byte(req))
			cn2 := c.Conn(cli4, srv4, capturetest.ConnOptions{})
			cn2.Send(true, []byte("second"))
		}, conns: 2, ab: req, check: func(t *testing.T, rec *recorder, st Stats) {
			if got := rec.conns[1].bytes[DirAB].String(); got != "second" {
				t.Errorf("second conn: %q", got)
			}
		}},
		{name: "SYN sender is A even when the server speaks first", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
			cn.Send(false, []byte("220 hello\r\n"))
			cn.Send(true, []byte(req))
		}, conns: 1, ab: req, ba: "220 hello\r\n"},
		{name: "IPv6", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli6, srv6, capturetest.ConnOptions{MSS: 7})
			cn.Send(true, []byte(req))
			cn.Send(false, []byte(resp))
		}, conns: 1, ab: req, ba: resp, check: func(t *testing.T, rec *recorder, st Stats) {
			if rec.conns[0].key != (ConnKey{A: cli6, B: srv6}) {
				t.Errorf("key %v", rec.conns[0].key)
			}
		}},
		{name: "sequence numbers wrap", build: func(c *capturetest.Capture) {
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 1000})
			big := strings.Repeat("x", 8000) // client ISN is 0xfffff000+port: wraps
			cn.SendWith(true, []byte(big), capturetest.SendOptions{Swap: []int{3}})
		}, conns: 1, ab: strings.Repeat("x", 8000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := capturetest.New(capturetest.Ethernet, time.Time{})
			tt.build(c)
			rec, st, err := run(t, Config{}, c.Pcap())
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.conns) != tt.conns {
				t.Fatalf("%d conns, want %d (stats %+v)", len(rec.conns), tt.conns, st)
			}
			c0 := rec.conns[0]
			if got := c0.bytes[DirAB].String(); got != tt.ab {
				t.Errorf("A→B bytes\n got %q\nwant %q", got, tt.ab)
			}
			if got := c0.bytes[DirBA].String(); tt.ba != "" && got != tt.ba {
				t.Errorf("B→A bytes\n got %q\nwant %q", got, tt.ba)
			}
			if tt.gapsAB != nil || len(c0.gaps[DirAB]) > 0 {
				if len(c0.gaps[DirAB]) != len(tt.gapsAB) || (len(tt.gapsAB) > 0 && c0.gaps[DirAB][0] != tt.gapsAB[0]) {
					t.Errorf("gaps %v, want %v", c0.gaps[DirAB], tt.gapsAB)
				}
			}
			if tt.gapsAB != nil {
				// the gap comes before the bytes that follow it
				for i, e := range c0.events {
					if e.data == nil && i == 0 {
						t.Errorf("gap before any data")
					}
				}
			}
			if tt.check != nil {
				tt.check(t, rec, st)
			}
		})
	}
}

func TestSpansFrames(t *testing.T) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 10})
	// frames 1-3 handshake; the request's 10-byte segments 1..n are written
	// in the order 2,1,3,4,...: segment 2 is frame 4, segment 1 frame 5.
	cn.SendWith(true, []byte(req), capturetest.SendOptions{Swap: []int{1}})
	rec, _, err := run(t, Config{}, c.Pcap())
	if err != nil {
		t.Fatal(err)
	}
	c0 := rec.conns[0]
	tests := []struct {
		name  string
		off   int
		frame uint64
	}{
		{"first byte of segment 1", 0, 5},
		{"last byte of segment 1", 9, 5},
		{"first byte of segment 2", 10, 4},
		{"segment 3", 25, 6},
		{"last byte", len(req) - 1, uint64(3 + (len(req)+9)/10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c0.frameOf(DirAB, tt.off); got != tt.frame {
				t.Errorf("byte %d: frame %d, want %d (spans %+v)", tt.off, got, tt.frame, c0.spans[DirAB])
			}
		})
	}
	if s := c0.spans[DirAB][0]; !s.Time.Equal(capturetest.Start.Add(4 * time.Millisecond)) {
		t.Errorf("span time %v", s.Time)
	}
}

func TestCloses(t *testing.T) {
	tests := []struct {
		name  string
		build func(cn *capturetest.Conn)
	}{
		{"FIN both sides", func(cn *capturetest.Conn) { cn.FIN(true); cn.FIN(false); cn.Ack(true) }},
		{"FIN one side only", func(cn *capturetest.Conn) { cn.FIN(true) }},
		{"RST from server", func(cn *capturetest.Conn) { cn.RST(false) }},
		{"RST from client then stray ACK", func(cn *capturetest.Conn) { cn.RST(true); cn.Ack(false) }},
		{"end of input", func(cn *capturetest.Conn) {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := capturetest.New(capturetest.Ethernet, time.Time{})
			cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
			cn.Send(true, []byte(req))
			cn.Send(false, []byte(resp))
			tt.build(cn)
			rec, _, err := run(t, Config{}, c.Pcap())
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.conns) != 1 || rec.conns[0].closes != 1 {
				t.Fatalf("want one conn closed once, got %d conns", len(rec.conns))
			}
		})
	}
}

func TestLinks(t *testing.T) {
	for _, link := range []struct {
		name string
		l    capturetest.Link
	}{{"ethernet", capturetest.Ethernet}, {"vlan", capturetest.VLAN}, {"qinq", capturetest.QinQ},
		{"sll", capturetest.SLL}, {"null", capturetest.Null}, {"raw", capturetest.Raw}} {
		for _, v6 := range []bool{false, true} {
			name := link.name + "/ipv4"
			cl, sv := cli4, srv4
			if v6 {
				name, cl, sv = link.name+"/ipv6", cli6, srv6
			}
			t.Run(name, func(t *testing.T) {
				c := capturetest.New(link.l, time.Time{})
				cn := c.Conn(cl, sv, capturetest.ConnOptions{MSS: 16})
				cn.Send(true, []byte(req))
				cn.Send(false, []byte(resp))
				rec, st, err := run(t, Config{}, c.Pcap())
				if err != nil {
					t.Fatal(err)
				}
				if len(rec.conns) != 1 || rec.conns[0].bytes[DirAB].String() != req || rec.conns[0].bytes[DirBA].String() != resp {
					t.Fatalf("conns %d, stats %+v", len(rec.conns), st)
				}
			})
		}
	}
}

// ipFrame builds a frame around an IP packet for decoder-level tests.
func ethernet(ip []byte, et uint16) []byte {
	b := make([]byte, 14, 14+len(ip))
	b[0], b[6] = 2, 2
	binary.BigEndian.PutUint16(b[12:], et)
	return append(b, ip...)
}

func TestEncapsulations(t *testing.T) {
	inner := capturetest.IPPacket(cli4, srv4, 1000, 1, capturetest.TCPFlags{ACK: true, PSH: true}, []byte(req))
	inner6 := capturetest.IPPacket(cli6, srv6, 1000, 1, capturetest.TCPFlags{ACK: true, PSH: true}, []byte(req))
	outer := func(proto byte, payload []byte) []byte { // IPv4 header 198.51.100.1 → .2
		h := []byte{0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0, 198, 51, 100, 1, 198, 51, 100, 2}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(payload)))
		return append(h, payload...)
	}
	udp := func(port uint16, payload []byte) []byte {
		h := make([]byte, 8)
		binary.BigEndian.PutUint16(h, 40000)
		binary.BigEndian.PutUint16(h[2:], port)
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(payload)))
		return append(h, payload...)
	}
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	tests := []struct {
		name  string
		frame []byte
	}{
		{"ipv4", ethernet(inner, 0x0800)},
		{"ipv6", ethernet(inner6, 0x86dd)},
		{"mpls two labels", ethernet(cat([]byte{0, 1, 0x20, 64, 0, 2, 0x21, 64}, inner), 0x8847)},
		{"pppoe", ethernet(cat([]byte{0x11, 0, 0, 1, 0, 0, 0x00, 0x21}, inner), 0x8864)},
		{"gre ipv4", ethernet(outer(47, cat([]byte{0, 0, 0x08, 0x00}, inner)), 0x0800)},
		{"gre key transparent ethernet", ethernet(outer(47, cat([]byte{0x20, 0, 0x65, 0x58, 0, 0, 0, 1}, ethernet(inner, 0x0800))), 0x0800)},
		{"erspan ii", ethernet(outer(47, cat([]byte{0x10, 0, 0x88, 0xbe, 0, 0, 0, 1}, make([]byte, 8), ethernet(inner, 0x0800))), 0x0800)},
		{"ip in ip", ethernet(outer(4, inner), 0x0800)},
		{"6in4", ethernet(outer(41, inner6), 0x0800)},
		{"teredo", ethernet(outer(17, udp(3544, inner6)), 0x0800)},
		{"teredo origin indication", ethernet(outer(17, udp(3544, cat(make([]byte, 8), inner6))), 0x0800)},
		{"vxlan", ethernet(outer(17, udp(4789, cat([]byte{8, 0, 0, 0, 0, 0, 1, 0}, ethernet(inner, 0x0800)))), 0x0800)},
		{"ayiya", ethernet(outer(17, udp(5072, cat([]byte{0x41, 0x52, 0x11, 41, 0, 0, 0, 0}, make([]byte, 16+20), inner6))), 0x0800)},
		{"ipv6 hop-by-hop", ethernet(func() []byte {
			b := append([]byte(nil), inner6...)
			b[6] = 0
			ext := []byte{6, 0, 1, 4, 0, 0, 0, 0}
			b = cat(b[:40], ext, b[40:])
			binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
			return b
		}(), 0x86dd)},
		{"tso ipv4 length zero", ethernet(func() []byte {
			b := append([]byte(nil), inner...)
			b[2], b[3] = 0, 0
			return b
		}(), 0x0800)},
		{"ipv6 payload length zero", ethernet(func() []byte {
			b := append([]byte(nil), inner6...)
			b[4], b[5] = 0, 0
			return b
		}(), 0x86dd)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := capturetest.New(capturetest.Ethernet, time.Time{})
			c.Add(tt.frame)
			rec, st, err := run(t, Config{}, c.Pcap())
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.conns) != 1 || rec.conns[0].bytes[DirAB].String() != req {
				t.Fatalf("conns %d, skipped %v", len(rec.conns), st.Skipped)
			}
		})
	}
	t.Run("ipv6 fragment is counted", func(t *testing.T) {
		b := append([]byte(nil), inner6...)
		b[6] = 44
		b = cat(b[:40], []byte{6, 0, 0, 1, 0, 0, 0, 1}, b[40:])
		binary.BigEndian.PutUint16(b[4:], uint16(len(b)-40))
		c := capturetest.New(capturetest.Ethernet, time.Time{})
		c.Add(ethernet(b, 0x86dd))
		c.Add(ethernet([]byte{1, 2, 3}, 0x0806))
		_, st, err := run(t, Config{}, c.Pcap())
		if err != nil {
			t.Fatal(err)
		}
		if st.Skipped["ipv6-fragment"] != 1 || st.Skipped["non-ip"] != 1 {
			t.Errorf("skipped %v", st.Skipped)
		}
	})
}

func TestIPv4Fragments(t *testing.T) {
	ip := capturetest.IPPacket(cli4, srv4, 1000, 1, capturetest.TCPFlags{ACK: true}, []byte(req))
	ip[6] = 0 // clear DF
	payload := ip[20:]
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	frag := func(off int, data []byte, more bool) {
		h := append([]byte(nil), ip[:20]...)
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(data)))
		fo := uint16(off / 8)
		if more {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		c.Add(ethernet(append(h, data...), 0x0800))
	}
	frag(24, payload[24:48], true) // out of order
	frag(0, payload[:24], true)
	frag(48, payload[48:], false)
	rec, st, err := run(t, Config{}, c.Pcap())
	if err != nil {
		t.Fatal(err)
	}
	if st.Fragments != 3 || st.Reassembled != 1 || len(rec.conns) != 1 || rec.conns[0].bytes[DirAB].String() != req {
		t.Fatalf("stats %+v", st)
	}
	if f := rec.conns[0].frameOf(DirAB, 0); f != 3 {
		t.Errorf("frame %d, want the last fragment 3", f)
	}
}

func TestSnaplenTruncated(t *testing.T) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{NoHandshake: true})
	ip := capturetest.IPPacket(cli4, srv4, cn.Seq(true), cn.Seq(false), capturetest.TCPFlags{ACK: true}, []byte(req))
	frame := c.Frame(ip)
	c.AddTruncated(frame, 14+20+20+10)
	rec, st, err := run(t, Config{}, c.Pcap())
	if err != nil {
		t.Fatal(err)
	}
	if st.SnaplenTruncated != 1 || len(rec.conns) != 1 || rec.conns[0].bytes[DirAB].String() != req[:10] {
		t.Fatalf("stats %+v", st)
	}
}

func TestIdleFlush(t *testing.T) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
	cn.Send(true, []byte(req))
	c.Now = c.Now.Add(5 * time.Minute)
	other := c.Conn(netip.MustParseAddrPort("10.0.0.3:4000"), srv4, capturetest.ConnOptions{})
	other.Send(true, []byte(req))
	c.Now = c.Now.Add(2 * time.Minute)
	other.Send(true, []byte("more"))
	rec, st, err := run(t, Config{IdleTimeout: time.Minute}, c.Pcap())
	if err != nil {
		t.Fatal(err)
	}
	if st.ConnsIdleFlushed != 2 || len(rec.conns) != 3 {
		t.Fatalf("idle flushed %d, conns %d", st.ConnsIdleFlushed, len(rec.conns))
	}
	if rec.conns[2].bytes[DirAB].String() != "more" {
		t.Errorf("third conn %q", rec.conns[2].bytes[DirAB].String())
	}
	if rec.conns[1].bytes[DirAB].String() != req {
		t.Errorf("idle-closed conn bytes %q (later bytes must go to a new conn)", rec.conns[1].bytes[DirAB].String())
	}
}

func TestBufferLimit(t *testing.T) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{MSS: 1000})
	data := bytes.Repeat([]byte("y"), 20000)
	cn.SendWith(true, data, capturetest.SendOptions{Lose: []int{1}})
	rec, st, err := run(t, Config{MaxBufferedPagesPerConn: 4}, c.Pcap())
	if err != nil {
		t.Fatal(err)
	}
	if st.BufferOverruns == 0 || st.Gaps == 0 {
		t.Errorf("stats %+v", st)
	}
	if got := rec.conns[0].bytes[DirAB].Len(); got != 19000 {
		t.Errorf("delivered %d bytes, want 19000", got)
	}
}

func TestMaxConns(t *testing.T) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	for i := 0; i < 3; i++ {
		cl := netip.AddrPortFrom(cli4.Addr(), uint16(5000+i))
		c.Conn(cl, srv4, capturetest.ConnOptions{}).Send(true, []byte(req))
	}
	rec, st, err := run(t, Config{MaxConns: 2}, c.Pcap())
	if err != nil {
		t.Fatal(err)
	}
	// The third connection evicts the least recently active (the first),
	// which is closed with what it delivered; none is refused.
	if len(rec.conns) != 3 || st.ConnsOverLimit != 1 {
		t.Fatalf("conns %d, over limit %d", len(rec.conns), st.ConnsOverLimit)
	}
	for i, c := range rec.conns {
		if got := c.bytes[DirAB].String(); got != req || c.closes != 1 {
			t.Errorf("conn %d: %q, %d closes", i, got, c.closes)
		}
	}
}

func simple() *capturetest.Capture {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
	cn.Send(true, []byte(req))
	cn.Send(false, []byte(resp))
	return c
}

func TestSources(t *testing.T) {
	pcap := simple().Pcap()
	var nano, gz, ng bytes.Buffer
	if err := simple().WritePcap(&nano, true); err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(&gz)
	zw.Write(pcap)
	zw.Close()
	// two interfaces: Ethernet and Linux SLL, different conns
	sll := capturetest.New(capturetest.SLL, capturetest.Start.Add(500*time.Microsecond))
	sll.Conn(netip.MustParseAddrPort("10.9.9.9:1234"), srv4, capturetest.ConnOptions{}).Send(true, []byte(req))
	if err := capturetest.WritePcapng(&ng, simple(), sll); err != nil {
		t.Fatal(err)
	}
	bigEndian := append([]byte(nil), pcap...)
	swapPcapHeader(bigEndian)
	tests := []struct {
		name  string
		file  []byte
		conns int
	}{
		{"pcap", pcap, 1},
		{"pcap big-endian", bigEndian, 1},
		{"pcap nanoseconds", nano.Bytes(), 1},
		{"gzip pcap", gz.Bytes(), 1},
		{"pcapng two link types", ng.Bytes(), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, st, err := run(t, Config{}, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.conns) != tt.conns {
				t.Fatalf("%d conns, want %d; stats %+v", len(rec.conns), tt.conns, st)
			}
			if rec.conns[0].bytes[DirAB].String() != req {
				t.Errorf("bytes %q", rec.conns[0].bytes[DirAB].String())
			}
			if !st.FirstTime.Equal(capturetest.Start) {
				t.Errorf("first time %v", st.FirstTime)
			}
		})
	}
}

// swapPcapHeader rewrites a little-endian pcap as big-endian.
func swapPcapHeader(b []byte) {
	sw := func(off, n int) {
		for i, j := off, off+n-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
	}
	sw(0, 4)
	sw(4, 2)
	sw(6, 2)
	for _, o := range []int{8, 12, 16, 20} {
		sw(o, 4)
	}
	for off := 24; off+16 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[off+8:]))
		for _, o := range []int{0, 4, 8, 12} {
			sw(off+o, 4)
		}
		off += 16 + n
	}
}

func TestBadFiles(t *testing.T) {
	pcap := simple().Pcap()
	cut := len(pcap) - 30
	t.Run("garbage", func(t *testing.T) {
		_, err := NewReader("junk", strings.NewReader("hello world, no capture here"))
		if !errors.Is(err, ErrNotCapture) || !strings.Contains(err.Error(), "68 65 6c 6c") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		_, err := NewReader("empty", strings.NewReader(""))
		if !errors.Is(err, ErrEmpty) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("truncated keeps earlier packets", func(t *testing.T) {
		rec, st, err := run(t, Config{}, pcap[:cut])
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("err %v", err)
		}
		// the last record starts at len(pcap) - (16 + its length)
		last := simple().Packets
		want := int64(len(pcap) - 16 - len(last[len(last)-1].Data))
		if !st.Truncated || st.TruncatedOffset != want || !strings.Contains(err.Error(), "offset") {
			t.Errorf("truncated %v at %d, want %d (%v)", st.Truncated, st.TruncatedOffset, want, err)
		}
		if len(rec.conns) != 1 || rec.conns[0].bytes[DirAB].String() != req {
			t.Errorf("earlier packets not delivered")
		}
	})
	t.Run("unsupported link type", func(t *testing.T) {
		b := append([]byte(nil), pcap...)
		binary.LittleEndian.PutUint32(b[20:], 147)
		_, _, err := run(t, Config{}, b)
		if err == nil || err.Error() != "capture: unsupported link type 147 (USER0)" {
			t.Errorf("err %v", err)
		}
	})
	t.Run("open missing file", func(t *testing.T) {
		if _, err := Open("/nonexistent/x.pcap"); err == nil {
			t.Error("no error")
		}
	})
}

func TestFilter(t *testing.T) {
	c := simple()
	c.Conn(netip.MustParseAddrPort("10.0.0.7:4444"), netip.MustParseAddrPort("192.0.2.81:8080"), capturetest.ConnOptions{}).Send(true, []byte(req))
	rec, st, err := run(t, Config{Filter: "tcp port 8080"}, c.Pcap())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.conns) != 1 || rec.conns[0].key.B.Port() != 8080 || st.FilteredOut == 0 {
		t.Errorf("conns %d filtered %d", len(rec.conns), st.FilteredOut)
	}
	// frame numbers still count the filtered frames
	if f := rec.conns[0].frameOf(DirAB, 0); f != uint64(len(simple().Packets)+4) {
		t.Errorf("frame %d", f)
	}
	if _, err := NewAnalyzer(Config{Filter: "tcp port"}, &recorder{}); err == nil || !strings.Contains(err.Error(), `"tcp port"`) {
		t.Errorf("bad filter: %v", err)
	}
}

func TestTranscriptFile(t *testing.T) {
	f, err := os.Open("testdata/login.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := capturetest.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := run(t, Config{}, c.Pcap())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.conns) != 2 || !strings.Contains(rec.conns[0].bytes[DirBA].String(), "Set-Cookie: SID=abc123") {
		t.Fatalf("conns %d", len(rec.conns))
	}
	if g := rec.conns[1].gaps[DirAB]; len(g) != 1 || g[0] != 10 {
		t.Errorf("gaps %v", g)
	}
	if disk, err := os.ReadFile("testdata/login.pcap"); err != nil || !bytes.Equal(disk, c.Pcap()) {
		t.Errorf("testdata/login.pcap is stale: go run ./capture/capturetest/mkpcap capture/testdata/login.txt")
	}
}

func TestStatsAdd(t *testing.T) {
	t0 := capturetest.Start
	a := Stats{Packets: 1, Skipped: map[string]uint64{"x": 1}, FirstTime: t0.Add(time.Second), LastTime: t0.Add(2 * time.Second)}
	b := Stats{Packets: 2, Skipped: map[string]uint64{"x": 2, "y": 1}, FirstTime: t0, LastTime: t0.Add(time.Second), Truncated: true, TruncatedOffset: 9}
	var s Stats
	s.Add(a)
	s.Add(b)
	if s.Packets != 3 || s.Skipped["x"] != 3 || s.Skipped["y"] != 1 || !s.FirstTime.Equal(t0) || !s.LastTime.Equal(t0.Add(2*time.Second)) || !s.Truncated || s.TruncatedOffset != 9 {
		t.Errorf("%+v", s)
	}
}

// TestNanosOf: a frame's time in nanoseconds is greater than nanosOf(t)
// exactly when time.Unix(0, ns).UTC() is after t, for t the zero Time,
// times around the frames' and outside what nanoseconds hold.
func TestNanosOf(t *testing.T) {
	ts := []time.Time{{}, time.Unix(0, 0).UTC(), time.Unix(1700000000, 5).UTC(), time.Unix(1700000000, 5).In(time.FixedZone("x", 3600)),
		time.Unix(-1, 999999999), time.Unix(0, math.MinInt64).Add(-1), time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64),
		time.Unix(0, math.MaxInt64).Add(1), time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)}
	frames := []int64{0, 1, 1700000000e9 + 4, 1700000000e9 + 5, 1700000000e9 + 6, 1<<32*1e9 - 1, math.MaxInt64}
	for _, at := range ts {
		for _, ns := range frames {
			if got, want := ns > nanosOf(at), time.Unix(0, ns).UTC().After(at); got != want {
				t.Errorf("frame at %d ns, t %v: after %v, want %v", ns, at, got, want)
			}
		}
	}
}
