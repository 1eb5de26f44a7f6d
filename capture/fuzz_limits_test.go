package capture

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/google/gopacket/layers"
)

// FuzzLimits drives the Analyzer with segments chosen by the fuzzer (records
// of flags, connection, direction, sequence jump and payload, as
// cmd/cookiewatch FuzzPipeline) and small limits, and checks after every
// packet that the state it holds stays within them: connections tracked at
// most MaxConns (and the eviction list agrees), buffered pages per direction
// and in all within their limits (and counted right), fragment bytes at most
// MaxFragmentBytes;
// at the end every opened connection is closed exactly once.
func FuzzLimits(f *testing.F) {
	f.Add([]byte{1, 0, 0, 0, 0x13, 0, 0, 0, 2, 0, 0, 4, 'G', 'E', 'T', ' ', 0x22, 0, 1, 2, 'x', 'y', 0x42, 0xff, 0xff, 1, 'z'})
	f.Add([]byte{2, 0, 0, 3, 'a', 'b', 'c', 2, 0, 0, 3, 'a', 'X', 'c', 2, 0x80, 0, 1, 'q', 0x62, 0, 0, 0})
	f.Fuzz(func(t *testing.T, prog []byte) {
		const maxConns = 3
		rec := &recorder{}
		a, err := NewAnalyzer(Config{MaxConns: maxConns, MaxBufferedPagesPerConn: 2, MaxBufferedPagesTotal: 4, MaxFragmentBytes: 4096}, rec)
		if err != nil {
			t.Fatal(err)
		}
		c := capturetest.New(capturetest.Ethernet, time.Time{})
		var cursor [4][2]uint32
		for len(prog) >= 4 {
			fl, delta, n := prog[0], int16(binary.BigEndian.Uint16(prog[1:])), int(prog[3])
			prog = prog[4:]
			n = min(n, len(prog))
			payload := prog[:n]
			prog = prog[n:]
			conn, dir := int(fl>>5&3), int(fl>>4&1)
			cli := netip.AddrPortFrom(cli4.Addr(), uint16(40000+conn))
			src, dst := cli, srv4
			if dir == 1 {
				src, dst = srv4, cli
			}
			seq := cursor[conn][dir] + uint32(int32(delta)*512)
			tf := capturetest.TCPFlags{SYN: fl&1 != 0, ACK: fl&2 != 0, FIN: fl&4 != 0, RST: fl&8 != 0}
			ip := capturetest.IPPacket(src, dst, seq, cursor[conn][1-dir], tf, payload)
			if fl&0x80 != 0 && len(ip) > 28 { // an IPv4 fragment: MF set, offset from the sequence jump
				binary.BigEndian.PutUint16(ip[6:], 0x2000|uint16(delta)&0x1fff)
			}
			c.Add(c.Frame(ip))
			cursor[conn][dir] = seq + uint32(n)
			if tf.SYN || tf.FIN {
				cursor[conn][dir]++
			}
			p := c.Packets[len(c.Packets)-1]
			a.Packet(layers.LinkTypeEthernet, p.Data, p.CI)
			if a.live > maxConns {
				t.Fatalf("%d connections tracked, limit %d", a.live, maxConns)
			}
			k, pages := 0, 0
			for _, s := range liveStreams(a) {
				if k++; k > maxConns+1 {
					t.Fatalf("eviction list longer than %d", maxConns)
				}
				for i := range s.half {
					n := len(s.half[i].segs)
					if n >= 2 {
						t.Fatalf("%d pages buffered in one direction, limit 2", n)
					}
					pages += n
				}
			}
			if pages != a.pages || pages > 4 {
				t.Fatalf("%d pages buffered, %d counted, limit 4", pages, a.pages)
			}
			if k != a.live {
				t.Fatalf("eviction list has %d streams, %d live", k, a.live)
			}
			if a.dec.fragHeld > 4096 {
				t.Fatalf("%d fragment bytes held", a.dec.fragHeld)
			}
		}
		a.Finish()
		st := a.Stats()
		if st.ConnsOpened != st.ConnsClosed || int(st.ConnsOpened) != len(rec.conns) {
			t.Fatalf("opened %d, closed %d, recorded %d", st.ConnsOpened, st.ConnsClosed, len(rec.conns))
		}
		for i, c := range rec.conns {
			if c.closes != 1 || c.afterClose != 0 {
				t.Fatalf("conn %d: %d closes, %d calls after close", i, c.closes, c.afterClose)
			}
		}
	})
}
