// Package capturetest builds packet captures in memory for tests: TCP
// conversations with chosen segmentation, loss, reordering and
// retransmission, written as pcap or pcapng. Everything is deterministic:
// the same calls give the same bytes.
//
// Transcripts (Parse, and cmd mkpcap) describe conversations as text:
//
//	# comment (also blank lines, which end a pending send)
//	conn client=10.0.0.2:51000 server=192.0.2.80:80 [link=ether|vlan|qinq|sll|null|raw] [vlan=100] [vlan2=200] [mss=1460] [nosyn]
//	> GET /login HTTP/1.1      client sends the text and CRLF
//	> Host: shop.example       consecutive lines of one direction are one send
//	>                          just CRLF
//	< HTTP/1.1 200 OK          server line and CRLF
//	<< raw\r\n                 server bytes with Go escapes, no CRLF added
//	>> raw                     the same for the client
//	lose N                     drop the Nth segment (1-based) of the next send
//	reorder [N]                swap segments N and N+1 (default 1) of the next send
//	retransmit [N]             send segment N (default 1) of the next send again after it
//	overlap N TEXT             after the next send, resend segment N with its bytes
//	                           replaced by TEXT (Go escapes; same length or shorter)
//	fin [>|<]                  FIN from the client (>), the server (<), or both (no argument)
//	rst [>|<]                  RST from the client (default) or the server
//	wait DURATION              advance the capture clock (Go duration, e.g. 3m)
//
// IPv6 is used when the addresses are IPv6. A vlan= option implies
// link=vlan, vlan2= link=qinq. A file's link type is that of its first conn;
// several conn blocks follow each other in time. Each packet is 1 ms after
// the previous one, from 2024-01-01T00:00:00Z.
package capturetest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// Link is a link-layer framing for generated packets.
type Link int

const (
	Ethernet Link = iota
	VLAN          // Ethernet + 802.1Q
	QinQ          // Ethernet + 802.1ad + 802.1Q
	SLL           // Linux cooked capture
	Null          // BSD loopback
	Raw           // raw IP (LINKTYPE_RAW)
)

// LinkType is the pcap link type of l.
func (l Link) LinkType() layers.LinkType {
	switch l {
	case SLL:
		return layers.LinkTypeLinuxSLL
	case Null:
		return layers.LinkTypeNull
	case Raw:
		return layers.LinkTypeRaw
	}
	return layers.LinkTypeEthernet
}

// Start is the default time of the first packet.
var Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Packet is one generated frame.
type Packet struct {
	CI   gopacket.CaptureInfo
	Data []byte
}

// Capture accumulates frames of one link type.
type Capture struct {
	Link    Link
	VLAN    [2]uint16
	Packets []Packet
	Now     time.Time     // time of the next packet
	Step    time.Duration // added after each packet (1 ms)
}

// New starts an empty capture; a zero start means Start.
func New(link Link, start time.Time) *Capture {
	if start.IsZero() {
		start = Start
	}
	return &Capture{Link: link, VLAN: [2]uint16{100, 200}, Now: start, Step: time.Millisecond}
}

// Add appends a frame as it is (already link-framed).
func (c *Capture) Add(frame []byte) {
	c.AddTruncated(frame, len(frame))
}

// AddTruncated appends the first caplen bytes of frame, recording its full
// length (a snaplen cut).
func (c *Capture) AddTruncated(frame []byte, caplen int) {
	data := append([]byte(nil), frame[:caplen]...)
	c.Packets = append(c.Packets, Packet{
		CI:   gopacket.CaptureInfo{Timestamp: c.Now, CaptureLength: caplen, Length: len(frame)},
		Data: data,
	})
	c.Now = c.Now.Add(c.Step)
}

// Frame wraps an IP packet in the capture's link layer.
func (c *Capture) Frame(ip []byte) []byte {
	v6 := len(ip) > 0 && ip[0]>>4 == 6
	et := []byte{0x08, 0x00}
	if v6 {
		et = []byte{0x86, 0xdd}
	}
	var b bytes.Buffer
	mac := []byte{0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02}
	switch c.Link {
	case Ethernet:
		b.Write(mac)
		b.Write(et)
	case VLAN:
		b.Write(mac)
		b.Write([]byte{0x81, 0x00, byte(c.VLAN[0] >> 8), byte(c.VLAN[0])})
		b.Write(et)
	case QinQ:
		b.Write(mac)
		b.Write([]byte{0x88, 0xa8, byte(c.VLAN[0] >> 8), byte(c.VLAN[0])})
		b.Write([]byte{0x81, 0x00, byte(c.VLAN[1] >> 8), byte(c.VLAN[1])})
		b.Write(et)
	case SLL:
		b.Write([]byte{0, 0, 0, 1, 0, 6})
		b.Write(mac[:6])
		b.Write([]byte{0, 0})
		b.Write(et)
	case Null:
		fam := uint32(2)
		if v6 {
			fam = 30
		}
		var f [4]byte
		binary.LittleEndian.PutUint32(f[:], fam)
		b.Write(f[:])
	case Raw:
	}
	b.Write(ip)
	return b.Bytes()
}

// TCPFlags are the flags of a generated segment.
type TCPFlags struct{ SYN, ACK, FIN, RST, PSH bool }

// IPPacket builds an IPv4 or IPv6 packet holding one TCP segment, with
// correct checksums.
func IPPacket(src, dst netip.AddrPort, seq, ack uint32, fl TCPFlags, payload []byte) []byte {
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, SYN: fl.SYN, ACK: fl.ACK, FIN: fl.FIN, RST: fl.RST, PSH: fl.PSH,
		Window: 65535,
	}
	var ipl gopacket.SerializableLayer
	if src.Addr().Is4() {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip)
		ipl = ip
	} else {
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip)
		ipl = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		ipl, tcp, gopacket.Payload(payload)); err != nil {
		panic(err) // only on programming errors
	}
	return append([]byte(nil), buf.Bytes()...)
}

// ConnOptions shape a Conn.
type ConnOptions struct {
	MSS         int  // segment size; 0 means 1460
	NoHandshake bool // start mid-stream, without SYN, SYN-ACK, ACK
}

// Conn generates one TCP conversation into a Capture.
type Conn struct {
	c      *Capture
	client netip.AddrPort
	server netip.AddrPort
	mss    int
	next   [2]uint32 // next sequence number: [0] client, [1] server
}

// Conn starts a conversation; unless opt.NoHandshake it writes the
// three-way handshake.
func (c *Capture) Conn(client, server netip.AddrPort, opt ConnOptions) *Conn {
	cn := &Conn{c: c, client: client, server: server, mss: opt.MSS}
	if cn.mss <= 0 {
		cn.mss = 1460
	}
	// deterministic initial sequence numbers, with a wrap not far off
	cn.next[0] = 0xfffff000 + uint32(client.Port())
	cn.next[1] = 0x10000000 + uint32(server.Port())<<8
	if !opt.NoHandshake {
		cn.segment(true, TCPFlags{SYN: true}, nil)
		cn.segment(false, TCPFlags{SYN: true, ACK: true}, nil)
		cn.segment(true, TCPFlags{ACK: true}, nil)
	}
	return cn
}

func side(fromClient bool) int {
	if fromClient {
		return 0
	}
	return 1
}

// Seq is the next sequence number of the client's or the server's side.
func (cn *Conn) Seq(fromClient bool) uint32 { return cn.next[side(fromClient)] }

// build makes (but does not add) a frame at sequence seq.
func (cn *Conn) build(fromClient bool, seq uint32, fl TCPFlags, payload []byte) []byte {
	src, dst := cn.client, cn.server
	if !fromClient {
		src, dst = dst, src
	}
	i := side(fromClient)
	ack := cn.next[1-i]
	if fl.SYN && !fl.ACK {
		ack = 0
	} else {
		fl.ACK = true
	}
	return cn.c.Frame(IPPacket(src, dst, seq, ack, fl, payload))
}

// segment adds one segment at the side's next sequence number and advances it.
func (cn *Conn) segment(fromClient bool, fl TCPFlags, payload []byte) {
	i := side(fromClient)
	cn.c.Add(cn.build(fromClient, cn.next[i], fl, payload))
	cn.advance(i, fl, len(payload))
}

func (cn *Conn) advance(i int, fl TCPFlags, n int) {
	cn.next[i] += uint32(n)
	if fl.SYN || fl.FIN {
		cn.next[i]++
	}
}

// SendOptions disturb one Send. Segment numbers are 1-based.
type SendOptions struct {
	Lose       []int          // segments not written
	Swap       []int          // segment i is written after segment i+1
	Retransmit []int          // segments written again after all of them
	Overlap    map[int][]byte // segments written again, after all, with these bytes instead
}

// Send writes data from the client (or the server) in MSS-sized segments.
func (cn *Conn) Send(fromClient bool, data []byte) { cn.SendWith(fromClient, data, SendOptions{}) }

// SendWith is Send with loss, reordering and retransmission.
func (cn *Conn) SendWith(fromClient bool, data []byte, o SendOptions) {
	i := side(fromClient)
	type seg struct {
		seq  uint32
		data []byte
	}
	var segs []seg
	seq := cn.next[i]
	for off := 0; off < len(data); off += cn.mss {
		end := min(off+cn.mss, len(data))
		segs = append(segs, seg{seq + uint32(off), data[off:end]})
	}
	cn.next[i] += uint32(len(data))
	order := make([]int, len(segs))
	for k := range order {
		order[k] = k
	}
	for _, s := range o.Swap {
		if s >= 1 && s < len(order) {
			order[s-1], order[s] = order[s], order[s-1]
		}
	}
	lost := map[int]bool{}
	for _, l := range o.Lose {
		lost[l-1] = true
	}
	psh := TCPFlags{PSH: true}
	for _, k := range order {
		if !lost[k] {
			cn.c.Add(cn.build(fromClient, segs[k].seq, psh, segs[k].data))
		}
	}
	for _, r := range o.Retransmit {
		if r >= 1 && r <= len(segs) {
			cn.c.Add(cn.build(fromClient, segs[r-1].seq, psh, segs[r-1].data))
		}
	}
	for r := 1; r <= len(segs); r++ {
		if b, ok := o.Overlap[r]; ok {
			cn.c.Add(cn.build(fromClient, segs[r-1].seq, psh, b))
		}
	}
}

// FIN closes the client's (or the server's) side.
func (cn *Conn) FIN(fromClient bool) { cn.segment(fromClient, TCPFlags{FIN: true}, nil) }

// RST resets the connection from the client (or the server).
func (cn *Conn) RST(fromClient bool) { cn.segment(fromClient, TCPFlags{RST: true}, nil) }

// Ack writes a pure ACK.
func (cn *Conn) Ack(fromClient bool) { cn.segment(fromClient, TCPFlags{}, nil) }

// WritePcap writes a microsecond pcap file (nanosecond when nano).
func (c *Capture) WritePcap(w io.Writer, nano bool) error {
	var pw *pcapgo.Writer
	if nano {
		pw = pcapgo.NewWriterNanos(w)
	} else {
		pw = pcapgo.NewWriter(w)
	}
	if err := pw.WriteFileHeader(262144, c.Link.LinkType()); err != nil {
		return err
	}
	for _, p := range c.Packets {
		if err := pw.WritePacket(p.CI, p.Data); err != nil {
			return err
		}
	}
	return nil
}

// Pcap returns the capture as a microsecond pcap file.
func (c *Capture) Pcap() []byte {
	var b bytes.Buffer
	if err := c.WritePcap(&b, false); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// WritePcapng writes a pcapng file with one interface per capture, packets
// interleaved by time (stable), so captures of different link types share a
// file.
func WritePcapng(w io.Writer, caps ...*Capture) error {
	if len(caps) == 0 {
		return fmt.Errorf("capturetest: no captures")
	}
	intf := pcapgo.DefaultNgInterface
	intf.LinkType = caps[0].Link.LinkType()
	intf.SnapLength = 262144
	opts := pcapgo.DefaultNgWriterOptions
	opts.SectionInfo.Hardware, opts.SectionInfo.OS, opts.SectionInfo.Application = "test", "test", "capturetest"
	nw, err := pcapgo.NewNgWriterInterface(w, intf, opts)
	if err != nil {
		return err
	}
	for _, c := range caps[1:] {
		in := intf
		in.LinkType = c.Link.LinkType()
		if _, err := nw.AddInterface(in); err != nil {
			return err
		}
	}
	idx := make([]int, len(caps))
	for {
		best := -1
		for k, c := range caps {
			if idx[k] < len(c.Packets) && (best < 0 || c.Packets[idx[k]].CI.Timestamp.Before(caps[best].Packets[idx[best]].CI.Timestamp)) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		p := caps[best].Packets[idx[best]]
		idx[best]++
		p.CI.InterfaceIndex = best
		if err := nw.WritePacket(p.CI, p.Data); err != nil {
			return err
		}
	}
	return nw.Flush()
}
