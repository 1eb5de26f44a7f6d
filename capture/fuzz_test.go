package capture

import (
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/capture/capturetest"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var fuzzLinkTypes = []layers.LinkType{
	layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLoop, layers.LinkTypeRaw,
	linkTypeIPv4, linkTypeIPv6, layers.LinkTypeLinuxSLL, linkTypeSLL2, linkTypeNFLog,
	layers.LinkTypeIEEE802_11, layers.LinkTypeIEEE80211Radio,
}

// FuzzDecode feeds arbitrary bytes to the decoder and the reassembler under
// every supported link type: no panic, no hang.
func FuzzDecode(f *testing.F) {
	c := simple()
	for _, p := range c.Packets {
		f.Add(uint8(0), p.Data)
	}
	f.Add(uint8(3), capturetest.IPPacket(cli6, srv6, 1, 1, capturetest.TCPFlags{ACK: true}, []byte(req)))
	f.Fuzz(func(t *testing.T, lt uint8, data []byte) {
		a, err := NewAnalyzer(Config{}, &recorder{})
		if err != nil {
			t.Fatal(err)
		}
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(data), Length: len(data)}
		a.Packet(fuzzLinkTypes[int(lt)%len(fuzzLinkTypes)], data, ci)
		a.Packet(fuzzLinkTypes[int(lt)%len(fuzzLinkTypes)], data, ci)
		a.Finish()
	})
}

// BenchmarkPacket measures the per-packet path (decode, reassemble, deliver)
// over an in-order bulk transfer.
func BenchmarkPacket(b *testing.B) {
	c := capturetest.New(capturetest.Ethernet, time.Time{})
	cn := c.Conn(cli4, srv4, capturetest.ConnOptions{})
	for i := 0; i < 64; i++ {
		cn.Send(true, make([]byte, 1460*4))
		cn.Send(false, make([]byte, 1460))
	}
	pkts := c.Packets
	a, _ := NewAnalyzer(Config{}, nopHandler{})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p := pkts[3+i%(len(pkts)-3)] // skip the handshake after the first round
		if i < 3 {
			p = pkts[i]
		}
		a.Packet(layers.LinkTypeEthernet, p.Data, p.CI)
	}
}

type nopHandler struct{}

func (nopHandler) Open(ConnKey) Conn { return nopConn{} }

type nopConn struct{}

func (nopConn) Data(Dir, []byte, []Span) {}
func (nopConn) Gap(Dir, int)             {}
func (nopConn) Close()                   {}
