package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// ErrTruncated says a capture file ends or breaks in the middle of a record.
// Every packet before that record has been processed; the wrapping error
// names the byte offset where the bad record starts.
var ErrTruncated = errors.New("capture: truncated capture file")

// ErrNotCapture says the input is neither pcap nor pcapng (possibly gzipped).
var ErrNotCapture = errors.New("not a pcap or pcapng file")

// ErrEmpty says the input holds no bytes at all.
var ErrEmpty = errors.New("capture: empty file")

// Source is what an Analyzer reads packets from. *pcap.Handle,
// *pcapgo.Reader and *File satisfy it. ReadPacketData returns io.EOF at the
// end; any other error ends the run.
type Source interface {
	ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
	LinkType() layers.LinkType
}

// PacketLinkTyper is implemented by sources whose packets may carry
// different link types (pcapng with several interfaces). The Analyzer asks
// it for every packet; other sources give LinkType() for all packets.
type PacketLinkTyper interface {
	PacketLinkType(ci gopacket.CaptureInfo) layers.LinkType
}

// File is a pcap or pcapng capture file, optionally gzip-compressed, opened
// by Open. It owns the underlying file and must be closed.
type File struct {
	path   string
	closer io.Closer
	count  *countingReader
	br     *bufio.Reader // shared with pcapgo (it reuses a *bufio.Reader as is)
	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
	mm     *mmapPcap // a classic pcap file mapped into memory (mmap.go)
	gz     bool
	rawLT  int   // the header's link type (gopacket's LinkType is a uint8)
	good   int64 // offset just after the last record read successfully
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

const readBufSize = 1 << 16

// Open opens a capture file; "-" means standard input. Gzip compression is
// detected by its magic bytes, as are pcap (microsecond or nanosecond, either
// byte order) and pcapng.
func Open(path string) (*File, error) {
	var rc io.ReadCloser
	if path == "-" {
		rc = io.NopCloser(os.Stdin)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		rc = f
		m, err := openMmap(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("capture: %s: file header: %w", path, err)
		}
		if m != nil {
			return &File{path: path, closer: f, mm: m, rawLT: m.rawLT, good: int64(m.off)}, nil
		}
	}
	f, err := newFile(path, rc)
	if err != nil {
		rc.Close()
		return nil, err
	}
	f.closer = rc
	return f, nil
}

// NewReader reads a capture from r, as Open does for a file; name is used in
// error messages only. The caller closes r.
func NewReader(name string, r io.Reader) (*File, error) {
	return newFile(name, r)
}

func newFile(path string, r io.Reader) (*File, error) {
	f := &File{path: path}
	br := bufio.NewReaderSize(r, readBufSize)
	magic, err := br.Peek(4)
	if len(magic) == 0 && (err == io.EOF || err == nil) {
		return nil, fmt.Errorf("%w: %s", ErrEmpty, path)
	}
	if len(magic) >= 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("capture: %s: gzip: %w", path, err)
		}
		f.gz = true
		f.count = &countingReader{r: zr}
		br = bufio.NewReaderSize(f.count, readBufSize)
		magic, err = br.Peek(4)
		if len(magic) == 0 && (err == io.EOF || err == nil) {
			return nil, fmt.Errorf("%w: %s (gzip holds no data)", ErrEmpty, path)
		}
	} else {
		// Count below a fresh bufio.Reader so offsets are exact.
		f.count = &countingReader{r: br}
		br = bufio.NewReaderSize(f.count, readBufSize)
		magic, _ = br.Peek(4)
	}
	f.br = br
	if len(magic) < 4 {
		return nil, fmt.Errorf("capture: %s: %w (starts with % x)", path, ErrNotCapture, magic)
	}
	switch binary.LittleEndian.Uint32(magic) {
	case 0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D, 0x4D3CB2A1:
		if hdr, _ := br.Peek(24); len(hdr) == 24 {
			bo := binary.ByteOrder(binary.LittleEndian)
			if hdr[0] == 0xa1 || hdr[0] == 0x4d {
				bo = binary.BigEndian
			}
			f.rawLT = int(bo.Uint32(hdr[20:]) & 0xffff)
		}
		f.pcap, err = pcapgo.NewReader(br)
		if err == nil {
			f.pcap.SetSnaplen(effectiveSnaplen(f.pcap.Snaplen()))
		}
	case 0x0A0D0D0A:
		f.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
	default:
		return nil, fmt.Errorf("capture: %s: %w (starts with % x)", path, ErrNotCapture, magic)
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: %s: file header: %v", ErrTruncated, path, err)
		}
		return nil, fmt.Errorf("capture: %s: file header: %w", path, err)
	}
	f.good = f.offset()
	return f, nil
}

// MaxSnaplen is the largest record a classic pcap file may hold, as
// libpcap's MAXIMUM_SNAPLEN (tcpdump and Wireshark use the same bound).
const MaxSnaplen = 262144

// effectiveSnaplen is the snap length records are checked against: the
// file header's, unless it is 0 or over MaxSnaplen (broken writers, hostile
// files), which read as MaxSnaplen as tcpdump does. Besides, pcapgo sizes
// its packet buffer by the header's snap length: a header claiming 4 GB
// would make it allocate 4 GB for the first packet.
func effectiveSnaplen(hdr uint32) uint32 {
	if hdr == 0 || hdr > MaxSnaplen {
		return MaxSnaplen
	}
	return hdr
}

// offset is how many (decompressed) bytes the pcapgo reader has consumed.
func (f *File) offset() int64 { return f.count.n - int64(f.br.Buffered()) }

// ReadPacketData returns the next packet. At the end it returns io.EOF; a
// record cut short or malformed gives an error wrapping ErrTruncated that
// names the offset where that record starts (in the decompressed stream for
// gzipped files).
func (f *File) ReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	data, ci, err := f.ZeroCopyReadPacketData()
	if err != nil {
		return nil, ci, err
	}
	return append([]byte(nil), data...), ci, nil
}

// ZeroCopyReadPacketData is ReadPacketData without a copy: the data is only
// valid until the next call. The Analyzer reads Files this way (it keeps no
// packet bytes: reassembly and defragmentation copy what they buffer).
func (f *File) ZeroCopyReadPacketData() ([]byte, gopacket.CaptureInfo, error) {
	var (
		data []byte
		ci   gopacket.CaptureInfo
		err  error
	)
	switch {
	case f.mm != nil:
		data, ci, err = f.mm.next()
		if err == nil {
			f.good = int64(f.mm.off)
			return data, ci, nil
		}
	case f.pcap != nil:
		data, ci, err = f.pcap.ZeroCopyReadPacketData()
	default:
		data, ci, err = f.ng.ZeroCopyReadPacketData()
	}
	if err != nil {
		if err == io.EOF {
			return nil, ci, io.EOF
		}
		return nil, ci, fmt.Errorf("%w: %s: record at byte offset %d: %v", ErrTruncated, f.path, f.good, err)
	}
	f.good = f.offset()
	return data, ci, nil
}

// TruncatedOffset is the offset of the first record ReadPacketData could not
// read (meaningful after it returned an ErrTruncated error).
func (f *File) TruncatedOffset() int64 { return f.good }

// LinkType is the link type of the file (pcapng: of its first interface).
func (f *File) LinkType() layers.LinkType {
	if f.mm != nil {
		return f.mm.linkType
	}
	if f.pcap != nil {
		return f.pcap.LinkType()
	}
	return f.ng.LinkType()
}

// RawLinkType is the file's link type as its header says (pcap), which may
// not fit gopacket's 8-bit LinkType; for pcapng it is int(LinkType()).
func (f *File) RawLinkType() int {
	if f.pcap != nil || f.mm != nil {
		return f.rawLT
	}
	return int(f.ng.LinkType())
}

// PacketLinkType is the link type of the interface that captured the packet.
func (f *File) PacketLinkType(ci gopacket.CaptureInfo) layers.LinkType {
	if f.ng == nil {
		return f.LinkType()
	}
	if len(ci.AncillaryData) > 0 {
		if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			return lt
		}
	}
	if intf, err := f.ng.Interface(ci.InterfaceIndex); err == nil {
		return intf.LinkType
	}
	return f.ng.LinkType()
}

// Format is "pcap" or "pcapng", with "+gzip" for a compressed file.
func (f *File) Format() string {
	s := "pcap"
	if f.ng != nil {
		s = "pcapng"
	}
	if f.gz {
		s += "+gzip"
	}
	return s
}

// Mapped reports whether the file is read from a memory mapping. Packet
// bytes then stay valid until Close, and a file cut shorter while it is
// being read makes the reads fault (see Analyzer.Run).
func (f *File) Mapped() bool { return f.mm != nil }

// inMapping reports whether addr lies in the file's mapping.
func (f *File) inMapping(addr uintptr) bool {
	if f.mm == nil || len(f.mm.data) == 0 {
		return false
	}
	start := uintptr(unsafe.Pointer(&f.mm.data[0]))
	return addr >= start && addr < start+uintptr(len(f.mm.data))
}

func (f *File) mapping() []byte {
	if f.mm == nil {
		return nil
	}
	return f.mm.data
}

// Close closes the underlying file (not standard input's descriptor) and
// unmaps it.
func (f *File) Close() error {
	if f.mm != nil {
		f.mm.close()
	}
	if f.closer == nil {
		return nil
	}
	return f.closer.Close()
}
