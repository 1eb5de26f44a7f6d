package capture

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/ip4defrag"
	"github.com/google/gopacket/layers"
)

// Skip kinds: why a frame gave no TCP segment. They are Stats.Skipped keys and
// stay stable.
const (
	skipShort        = "short-frame"
	skipNonIP        = "non-ip"
	skipNonTCP       = "non-tcp"
	skipUDP          = "udp-not-tunnel"
	skipBadEthernet  = "bad-ethernet"
	skipBadVLAN      = "bad-vlan"
	skipBadMPLS      = "bad-mpls"
	skipMPLSNonIP    = "mpls-non-ip"
	skipBadPPPoE     = "bad-pppoe"
	skipPPPNonIP     = "ppp-non-ip"
	skipBadIPv4      = "bad-ipv4"
	skipBadIPv6      = "bad-ipv6"
	skipIPv6Frag     = "ipv6-fragment"
	skipBadTCP       = "bad-tcp"
	skipBadUDP       = "bad-udp"
	skipBadGRE       = "bad-gre"
	skipGREVersion   = "gre-unsupported"
	skipBadTunnel    = "bad-tunnel"
	skipTooDeep      = "too-deep"
	skipBadLink      = "bad-link-header"
	skipLinkType     = "unsupported-linktype"
	skip80211NonData = "80211-nondata"
	skip80211Prot    = "80211-protected"
	skip80211NoSNAP  = "80211-non-snap"
	skipNflogNoPkt   = "nflog-no-payload"
	skipFragHeld     = "ipv4-fragment-held"
	skipPeekFragment = "ipv4-fragment-peek" // only from a peek decoder, never counted
	skipFragBad      = "ipv4-fragment-bad"
)

// Link types gopacket does not name.
const (
	linkTypeRawAlt1 layers.LinkType = 12
	linkTypeRawAlt2 layers.LinkType = 14
	linkTypeIPv4    layers.LinkType = 228
	linkTypeIPv6    layers.LinkType = 229
	linkTypeNFLog   layers.LinkType = 239
	// linkTypeSLL2 is LINKTYPE_LINUX_SLL2 (276) as it arrives through gopacket,
	// whose LinkType is a uint8: 276 & 0xff. File checks the real value.
	linkTypeSLL2 layers.LinkType = 276 & 0xff
)

const maxDepth = 8 // nested encapsulations before giving up

// supportedLinkType reports whether the decoder knows lt.
func supportedLinkType(lt layers.LinkType) bool {
	switch lt {
	case layers.LinkTypeEthernet, layers.LinkTypeNull, layers.LinkTypeLoop,
		layers.LinkTypeRaw, linkTypeRawAlt1, linkTypeRawAlt2, linkTypeIPv4, linkTypeIPv6,
		layers.LinkTypeLinuxSLL, linkTypeSLL2, linkTypeNFLog,
		layers.LinkTypeIEEE802_11, layers.LinkTypeIEEE80211Radio:
		return true
	}
	return false
}

func linkTypeError(raw int) error {
	lt := layers.LinkType(raw)
	name := lt.String()
	if raw > 255 {
		name = "unknown"
	}
	if lt >= 147 && lt <= 162 {
		name = fmt.Sprintf("USER%d", lt-147)
	}
	return fmt.Errorf("capture: unsupported link type %d (%s)", raw, name)
}

// decoder turns one frame into a TCP segment. Its fields are reused for every
// frame: the headers (Ethernet, VLAN, MPLS, PPPoE, SLL, NFLOG, 802.11, GRE,
// UDP tunnels, IPv4, IPv6, TCP) are decoded by hand, which is simpler than
// gopacket's layers here (TSO lengths, padding, no allocation).
type decoder struct {
	tcp tcpHeader
	// the innermost IP header's addresses (IPv4 in the first 4 bytes)
	src, dst [16]byte
	v6       bool
	ci       gopacket.CaptureInfo

	defrag *ip4defrag.IPv4Defragmenter
	// fragHeld estimates what incomplete datagrams hold (bytes plus a fixed
	// cost per fragment); over maxFragHeld they are all discarded.
	fragHeld, maxFragHeld int
	// counters the Analyzer copies into Stats
	fragments, reassembled, fragDiscarded uint64
	ipTruncated                           bool // IP said more bytes than captured
	// peek: decode without keeping state (the Splitter's decoder): an IPv4
	// fragment is reported as skipPeekFragment instead of being held.
	peek bool
}

// fragCost is what a held fragment costs besides its bytes (ip4defrag keeps
// a layers.IPv4 and list element per fragment).
const fragCost = 256

func newDecoder(maxFragHeld int) *decoder {
	return &decoder{defrag: ip4defrag.NewIPv4Defragmenter(), maxFragHeld: maxFragHeld}
}

// decode decodes one frame of link type lt. It returns "" when d.tcp and
// the addresses hold a TCP segment, else the skip kind.
func (d *decoder) decode(lt layers.LinkType, data []byte, ci gopacket.CaptureInfo) string {
	d.ci = ci
	return d.decodeFrame(lt, data)
}

// decodeFrame is decode without a CaptureInfo, which only IPv4
// defragmentation reads: the Splitter's peek decoder, which holds no
// fragments, takes this (copying an empty CaptureInfo into d was most of
// decode's own time there).
func (d *decoder) decodeFrame(lt layers.LinkType, data []byte) string {
	d.ipTruncated = false
	switch lt {
	case layers.LinkTypeEthernet:
		return d.ethernet(data, 0)
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		if len(data) < 4 {
			return skipShort
		}
		fam := binary.LittleEndian.Uint32(data)
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(data)
		}
		switch fam {
		case 2:
			return d.ipv4(data[4:], 0)
		case 24, 28, 30:
			return d.ipv6(data[4:], 0)
		}
		return skipNonIP
	case layers.LinkTypeRaw, linkTypeRawAlt1, linkTypeRawAlt2:
		return d.ip(data, 0)
	case linkTypeIPv4:
		return d.ipv4(data, 0)
	case linkTypeIPv6:
		return d.ipv6(data, 0)
	case layers.LinkTypeLinuxSLL:
		if len(data) < 16 {
			return skipShort
		}
		return d.etherType(binary.BigEndian.Uint16(data[14:]), data[16:], 0)
	case linkTypeSLL2:
		if len(data) < 20 {
			return skipShort
		}
		return d.etherType(binary.BigEndian.Uint16(data[0:]), data[20:], 0)
	case linkTypeNFLog:
		return d.nflog(data)
	case layers.LinkTypeIEEE802_11:
		return d.dot11(data, false)
	case layers.LinkTypeIEEE80211Radio:
		return d.radiotap(data)
	}
	return skipLinkType
}

func (d *decoder) nflog(data []byte) string {
	if len(data) < 4 {
		return skipShort
	}
	fam := data[0]
	for off := 4; off+4 <= len(data); {
		l := int(binary.LittleEndian.Uint16(data[off:]))
		typ := binary.LittleEndian.Uint16(data[off+2:])
		if l < 4 || off+l > len(data) {
			return skipBadLink
		}
		if typ == 9 {
			p := data[off+4 : off+l]
			switch fam {
			case 2:
				return d.ipv4(p, 0)
			case 10:
				return d.ipv6(p, 0)
			}
			return d.ip(p, 0)
		}
		off += (l + 3) &^ 3
	}
	return skipNflogNoPkt
}

func (d *decoder) radiotap(data []byte) string {
	if len(data) < 8 {
		return skipShort
	}
	hlen := int(binary.LittleEndian.Uint16(data[2:]))
	if hlen < 8 || hlen > len(data) {
		return skipBadLink
	}
	present := binary.LittleEndian.Uint32(data[4:])
	off := 8
	for w := present; w&(1<<31) != 0; {
		if off+4 > hlen {
			return skipBadLink
		}
		w = binary.LittleEndian.Uint32(data[off:])
		off += 4
	}
	fcs := false
	if present&1 != 0 { // TSFT, 8-byte aligned
		off = (off + 7) &^ 7
		off += 8
	}
	if present&2 != 0 && off < hlen { // Flags
		fcs = data[off]&0x10 != 0
	}
	return d.dot11(data[hlen:], fcs)
}

func (d *decoder) dot11(data []byte, fcs bool) string {
	if fcs {
		if len(data) < 4 {
			return skipShort
		}
		data = data[:len(data)-4]
	}
	if len(data) < 24 {
		return skipShort
	}
	fc0, fc1 := data[0], data[1]
	if (fc0>>2)&3 != 2 {
		return skip80211NonData
	}
	subtype := fc0 >> 4
	if subtype&0x4 != 0 { // null function: no payload
		return skip80211NonData
	}
	if fc1&0x40 != 0 {
		return skip80211Prot
	}
	hdr := 24
	if fc1&0x03 == 0x03 {
		hdr += 6
	}
	if subtype&0x8 != 0 { // QoS data
		hdr += 2
		if fc1&0x80 != 0 { // +HT control
			hdr += 4
		}
	}
	if len(data) < hdr+8 {
		return skipShort
	}
	p := data[hdr:]
	if p[0] != 0xaa || p[1] != 0xaa || p[2] != 0x03 {
		return skip80211NoSNAP
	}
	return d.etherType(binary.BigEndian.Uint16(p[6:]), p[8:], 0)
}

func (d *decoder) ethernet(data []byte, depth int) string {
	if len(data) < 14 {
		return skipBadEthernet
	}
	et := binary.BigEndian.Uint16(data[12:])
	p := data[14:]
	if et == 0x0800 && depth <= maxDepth {
		return d.ipv4(p, depth) // etherType's case, without its call (every frame of most captures)
	}
	if et < 0x0600 { // 802.3 length: LLC, maybe SNAP
		if len(p) < 8 || p[0] != 0xaa || p[1] != 0xaa || p[2] != 0x03 {
			return skipNonIP
		}
		et = binary.BigEndian.Uint16(p[6:])
		p = p[8:]
	}
	return d.etherType(et, p, depth)
}

func (d *decoder) etherType(et uint16, p []byte, depth int) string {
	for {
		if depth > maxDepth {
			return skipTooDeep
		}
		switch et {
		case 0x0800:
			return d.ipv4(p, depth)
		case 0x86DD:
			return d.ipv6(p, depth)
		case 0x8100, 0x88A8, 0x9100: // 802.1Q, QinQ
			if len(p) < 4 {
				return skipBadVLAN
			}
			et = binary.BigEndian.Uint16(p[2:])
			p = p[4:]
			depth++
		case 0x8847, 0x8848: // MPLS: pop to bottom of stack
			for {
				if len(p) < 4 {
					return skipBadMPLS
				}
				bos := p[2]&1 != 0
				p = p[4:]
				if bos {
					break
				}
			}
			if len(p) == 0 {
				return skipBadMPLS
			}
			switch p[0] >> 4 {
			case 4:
				return d.ipv4(p, depth+1)
			case 6:
				return d.ipv6(p, depth+1)
			case 0: // pseudowire control word, then Ethernet (RFC 4448)
				if len(p) >= 4+14 {
					return d.ethernet(p[4:], depth+1)
				}
			}
			return skipMPLSNonIP
		case 0x8864: // PPPoE session, then PPP
			if len(p) < 8 {
				return skipBadPPPoE
			}
			proto := binary.BigEndian.Uint16(p[6:])
			p0 := p
			p = p0[8:]
			if proto>>8&1 != 0 { // protocol field compression: one byte
				proto >>= 8
				p = p0[7:]
			}
			switch proto {
			case 0x0021:
				return d.ipv4(p, depth+1)
			case 0x0057:
				return d.ipv6(p, depth+1)
			}
			return skipPPPNonIP
		case 0x6558: // transparent Ethernet bridging (GRE, NVGRE)
			return d.ethernet(p, depth+1)
		case 0x88BE: // ERSPAN type II
			if len(p) < 8 {
				return skipBadTunnel
			}
			return d.ethernet(p[8:], depth+1)
		case 0x22EB: // ERSPAN type III, optional platform subheader
			if len(p) < 12 {
				return skipBadTunnel
			}
			h := 12
			if p[11]&1 != 0 {
				h += 8
			}
			if len(p) < h {
				return skipBadTunnel
			}
			return d.ethernet(p[h:], depth+1)
		default:
			return skipNonIP
		}
	}
}

// ip decodes IPv4 or IPv6 by the version nibble.
func (d *decoder) ip(p []byte, depth int) string {
	if len(p) == 0 {
		return skipShort
	}
	switch p[0] >> 4 {
	case 4:
		return d.ipv4(p, depth)
	case 6:
		return d.ipv6(p, depth)
	}
	return skipNonIP
}

func (d *decoder) ipv4(p []byte, depth int) string {
	if len(p) < 20 || p[0]>>4 != 4 {
		return skipBadIPv4
	}
	ihl := int(p[0]&0x0f) * 4
	if ihl < 20 || ihl > len(p) {
		return skipBadIPv4
	}
	total := int(binary.BigEndian.Uint16(p[2:]))
	switch {
	case total == 0: // TSO super-packet: the captured length is the length
		total = len(p)
	case total > len(p): // TSO/GRO, or cut by the snaplen: use what we have
		d.ipTruncated = true
		total = len(p)
	case total < ihl:
		return skipBadIPv4
	}
	p = p[:total] // drop link-layer padding
	flagsFrag := binary.BigEndian.Uint16(p[6:])
	proto := p[9]
	if flagsFrag&0x3fff != 0 { // MF set or offset != 0
		return d.fragment(p, depth)
	}
	d.setIPv4(p[12:16], p[16:20])
	if proto == 6 && depth <= maxDepth { // transport's case, without its call
		if !d.tcp.decode(p[ihl:]) {
			return skipBadTCP
		}
		return ""
	}
	return d.transport(proto, p[ihl:], depth)
}

// fragment hands an IPv4 fragment to ip4defrag, which keeps it (so it gets
// its own copy) until the datagram is complete.
func (d *decoder) fragment(p []byte, depth int) string {
	if d.peek {
		return skipPeekFragment
	}
	d.fragments++
	ip := new(layers.IPv4)
	buf := append([]byte(nil), p...)
	binary.BigEndian.PutUint16(buf[2:], uint16(len(buf)))
	if err := ip.DecodeFromBytes(buf, gopacket.NilDecodeFeedback); err != nil {
		d.fragDiscarded++
		return skipFragBad
	}
	out, err := d.defrag.DefragIPv4WithTimestamp(ip, d.ci.Timestamp)
	if err != nil {
		d.fragDiscarded++
		return skipFragBad
	}
	if out == nil {
		if d.fragHeld += len(buf) + fragCost; d.fragHeld > d.maxFragHeld {
			// ip4defrag has no global bound: drop every incomplete datagram
			// not updated at this very instant (at least all older ones).
			d.fragDiscarded += uint64(d.defrag.DiscardOlderThan(d.ci.Timestamp))
			d.fragHeld = 0
		}
		return skipFragHeld
	}
	d.fragHeld = max(0, d.fragHeld-int(out.Length)-fragCost)
	d.reassembled++
	d.setIPv4(out.SrcIP.To4(), out.DstIP.To4())
	return d.transport(uint8(out.Protocol), out.Payload, depth)
}

func (d *decoder) setIPv4(src, dst []byte) {
	d.src, d.dst, d.v6 = [16]byte{}, [16]byte{}, false
	copy(d.src[:4], src)
	copy(d.dst[:4], dst)
}

func (d *decoder) ipv6(p []byte, depth int) string {
	if len(p) < 40 || p[0]>>4 != 6 {
		return skipBadIPv6
	}
	plen := int(binary.BigEndian.Uint16(p[4:]))
	switch {
	case plen == 0: // jumbogram or TSO: the captured length is the length
		plen = len(p) - 40
	case 40+plen > len(p):
		d.ipTruncated = true
		plen = len(p) - 40
	}
	p = p[:40+plen]
	d.src, d.dst, d.v6 = [16]byte(p[8:24]), [16]byte(p[24:40]), true
	nh := p[6]
	q := p[40:]
	for i := 0; ; i++ {
		if i > 16 {
			return skipBadIPv6
		}
		switch nh {
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(q) < 8 {
				return skipBadIPv6
			}
			l := (int(q[1]) + 1) * 8
			if l > len(q) {
				return skipBadIPv6
			}
			nh = q[0]
			q = q[l:]
			continue
		case 51: // AH
			if len(q) < 8 {
				return skipBadIPv6
			}
			l := (int(q[1]) + 2) * 4
			if l > len(q) {
				return skipBadIPv6
			}
			nh = q[0]
			q = q[l:]
			continue
		case 44:
			return skipIPv6Frag
		}
		return d.transport(nh, q, depth)
	}
}

func (d *decoder) transport(proto uint8, p []byte, depth int) string {
	if depth > maxDepth {
		return skipTooDeep
	}
	switch proto {
	case 6:
		if !d.tcp.decode(p) {
			return skipBadTCP
		}
		return ""
	case 4:
		return d.ipv4(p, depth+1)
	case 41:
		return d.ipv6(p, depth+1)
	case 47:
		return d.gre(p, depth+1)
	case 17:
		return d.udp(p, depth+1)
	}
	return skipNonTCP
}

// tcpHeader is a decoded TCP segment: what the reassembler reads of it.
type tcpHeader struct {
	SrcPort, DstPort   uint16
	Seq                uint32
	SYN, ACK, FIN, RST bool
	Payload            []byte
	raw                []byte // what decode was given (for tests)
}

// decode decodes a TCP segment. It accepts exactly what gopacket's
// layers.TCP.DecodeFromBytes accepts (the decoder used it before, and a
// frame it rejected is counted as bad-tcp; FuzzTCPHeader checks this) and
// gives the same fields and payload, without building the options list or
// the fields nobody reads (layers.TCP.DecodeFromBytes was a third of the
// decoding time).
// nopNopTimestamps is the first four bytes of the options NOP, NOP,
// Timestamps (kind 8, length 10).
const nopNopTimestamps = 0x0101080a

func (t *tcpHeader) decode(data []byte) bool {
	t.raw = data
	if len(data) < 20 {
		return false
	}
	start := int(data[12]>>4) * 4
	if start < 20 || start > len(data) {
		return false
	}
	o := data[20:start]
	if len(o) == 12 && binary.BigEndian.Uint32(o) == nopNopTimestamps {
		// The options of nearly every segment of a connection with
		// timestamps (RFC 7323's recommended layout): well formed, as the
		// walk below would find them, which was two fifths of decode's
		// instructions (23.0M -> 14.1M on the 100 MB benchmark capture,
		// callgrind; the Splitter decodes every frame, serially).
		o = nil
	}
	for len(o) > 0 {
		switch o[0] {
		case 0: // end of options: the rest is padding
			o = nil
		case 1: // no-op
			o = o[1:]
		default:
			if len(o) < 2 || o[1] < 2 || int(o[1]) > len(o) {
				return false
			}
			o = o[o[1]:]
		}
	}
	t.SrcPort, t.DstPort = binary.BigEndian.Uint16(data[0:]), binary.BigEndian.Uint16(data[2:])
	t.Seq = binary.BigEndian.Uint32(data[4:])
	f := data[13]
	t.FIN, t.SYN, t.RST, t.ACK = f&0x01 != 0, f&0x02 != 0, f&0x04 != 0, f&0x10 != 0
	t.Payload = data[start:]
	return true
}

func (d *decoder) gre(p []byte, depth int) string {
	if len(p) < 4 {
		return skipBadGRE
	}
	flags := binary.BigEndian.Uint16(p)
	if flags&7 != 0 { // version 1 is PPTP's enhanced GRE
		return skipGREVersion
	}
	h := 4
	if flags&0x8000 != 0 { // checksum present
		h += 4
	}
	if flags&0x2000 != 0 { // key
		h += 4
	}
	if flags&0x1000 != 0 { // sequence number
		h += 4
	}
	if flags&0x4000 != 0 { // routing present (RFC 1701): not supported
		return skipBadGRE
	}
	if len(p) < h {
		return skipBadGRE
	}
	return d.etherType(binary.BigEndian.Uint16(p[2:]), p[h:], depth)
}

func (d *decoder) udp(p []byte, depth int) string {
	if len(p) < 8 {
		return skipBadUDP
	}
	sport, dport := binary.BigEndian.Uint16(p), binary.BigEndian.Uint16(p[2:])
	if l := int(binary.BigEndian.Uint16(p[4:])); l >= 8 && l <= len(p) {
		p = p[:l]
	}
	p = p[8:]
	switch {
	case sport == 3544 || dport == 3544:
		return d.teredo(p, depth)
	case sport == 5072 || dport == 5072:
		return d.ayiya(p, depth)
	case sport == 4789 || dport == 4789:
		if len(p) < 8 {
			return skipBadTunnel
		}
		return d.ethernet(p[8:], depth+1)
	}
	return skipUDP
}

// teredo skips the optional authentication and origin indication headers
// (RFC 4380 5.1.1) before the IPv6 packet.
func (d *decoder) teredo(p []byte, depth int) string {
	if len(p) >= 4 && p[0] == 0 && p[1] == 1 {
		h := 4 + int(p[2]) + int(p[3]) + 8 + 1
		if len(p) < h {
			return skipBadTunnel
		}
		p = p[h:]
	}
	if len(p) >= 8 && p[0] == 0 && p[1] == 0 {
		p = p[8:]
	}
	if len(p) == 0 || p[0]>>4 != 6 {
		return skipBadTunnel
	}
	return d.ipv6(p, depth)
}

// ayiya decodes the "Anything In Anything" header (as Zeek's AYIYA analyzer):
// identity length 2^n, signature length n*4, next header in byte 3.
func (d *decoder) ayiya(p []byte, depth int) string {
	if len(p) < 8 {
		return skipBadTunnel
	}
	idLen := 1 << (p[0] >> 4)
	sigLen := int(p[1]>>4) * 4
	opcode := p[2] & 0x0f
	nh := p[3]
	h := 8 + idLen + sigLen
	if opcode != 1 || len(p) < h {
		return skipBadTunnel
	}
	switch nh {
	case 4:
		return d.ipv4(p[h:], depth)
	case 41:
		return d.ipv6(p[h:], depth)
	}
	return skipBadTunnel
}

// discardFragments drops fragment lists idle since before t.
func (d *decoder) discardFragments(t time.Time) {
	d.fragDiscarded += uint64(d.defrag.DiscardOlderThan(t))
}
