package capture

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/cookiewatch/cookiewatch/internal/gen"
)

// checkTCPHeader fails if tcpHeader.decode and gopacket's
// layers.TCP.DecodeFromBytes (what the decoder used before) disagree on
// data: accepted or not, and for an accepted segment the ports, sequence
// number, the flags the reassembler reads and the payload (the same bytes
// of data, not a copy).
func checkTCPHeader(t testing.TB, data []byte) {
	var h tcpHeader
	var g layers.TCP
	ok := h.decode(data)
	gerr := g.DecodeFromBytes(data, gopacket.NilDecodeFeedback)
	if ok != (gerr == nil) {
		t.Fatalf("% x: decode %v, gopacket %v", data, ok, gerr)
	}
	if !ok {
		return
	}
	if h.SrcPort != uint16(g.SrcPort) || h.DstPort != uint16(g.DstPort) || h.Seq != g.Seq ||
		h.SYN != g.SYN || h.ACK != g.ACK || h.FIN != g.FIN || h.RST != g.RST {
		t.Fatalf("% x: decode %+v, gopacket %v", data, h, &g)
	}
	if len(h.Payload) != len(g.Payload) || cap(h.Payload) != cap(g.Payload) ||
		len(h.Payload) > 0 && unsafe.SliceData(h.Payload) != unsafe.SliceData(g.Payload) {
		t.Fatalf("% x: payload %d bytes, gopacket %d", data, len(h.Payload), len(g.Payload))
	}
}

// FuzzTCPHeader: tcpHeader.decode accepts and gives what gopacket does, on
// any bytes.
func FuzzTCPHeader(f *testing.F) {
	syn := capturetest.IPPacket(cli4, srv4, 7, 0, capturetest.TCPFlags{SYN: true}, nil)[20:]
	f.Add(syn)
	f.Add(capturetest.IPPacket(cli4, srv4, 7, 9, capturetest.TCPFlags{ACK: true, FIN: true}, []byte(req))[20:])
	// options: MSS, SACK permitted, timestamps, NOP, window scale (5 of
	// them), then end of list and padding
	opts := []byte{2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7, 0, 0, 0, 0}
	hdr := append(append([]byte(nil), syn[:20]...), opts...)
	hdr[12] = byte((20+len(opts))/4) << 4
	f.Add(append(hdr, "data"...))
	f.Add(hdr[:30])                                             // options cut
	f.Add(append(append([]byte(nil), hdr[:20]...), 8, 1, 0, 0)) // option length < 2
	// NOP, NOP, timestamps (decode's shortcut), and near misses of it
	for _, o := range [][]byte{{1, 1, 8, 10}, {1, 1, 8, 11}, {1, 1, 8, 9}, {1, 0, 8, 10}} {
		ts := append(append(append([]byte(nil), syn[:20]...), o...), 0, 0, 0, 1, 0, 0, 0, 2)
		ts[12] = 8 << 4
		f.Add(append(ts, "data"...))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkTCPHeader(t, data) })
}

// TestTCPHeaderMatchesGopacket runs checkTCPHeader on the TCP bytes of every
// frame of the corpus, the repository's captures and a generated capture
// (as the decoder reaches them through every encapsulation), and on every
// cut of the first header with options.
func TestTCPHeaderMatchesGopacket(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(corpusDir, "pcaps", "*"))
	more, _ := filepath.Glob("../testdata/pcap/*")
	files = append(files, more...)
	var g bytes.Buffer
	if _, err := gen.Generate(gen.Config{Seed: 5, Bytes: 2 << 20, Conns: 40}, &g, io.Discard); err != nil {
		t.Fatal(err)
	}
	genPath := filepath.Join(t.TempDir(), "gen.pcap")
	if err := os.WriteFile(genPath, g.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	files = append(files, genPath)
	segs, bad, withOpts := 0, 0, 0
	for _, path := range files {
		f, err := Open(path)
		if err != nil {
			continue // not a capture the reader takes (the corpus has some)
		}
		d := newDecoder(1 << 20)
		for {
			data, ci, err := f.ZeroCopyReadPacketData()
			if err != nil {
				break
			}
			d.tcp.raw = nil
			kind := d.decode(f.PacketLinkType(ci), data, ci)
			if d.tcp.raw == nil {
				continue // no TCP reached
			}
			checkTCPHeader(t, d.tcp.raw)
			if kind == skipBadTCP {
				bad++
				continue
			}
			segs++
			if len(d.tcp.raw) >= 20 && d.tcp.raw[12]>>4 > 5 {
				if withOpts == 0 {
					for n := range len(d.tcp.raw) {
						checkTCPHeader(t, d.tcp.raw[:n])
					}
				}
				withOpts++
			}
		}
		f.Close()
	}
	t.Logf("%d files: %d TCP segments (%d with options), %d bad", len(files), segs, withOpts, bad)
	if segs < 5000 || withOpts < 1000 {
		t.Fatalf("only %d segments, %d with options", segs, withOpts)
	}
}
