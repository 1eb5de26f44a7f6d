//go:build unix

package capture

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// mmapPcap reads a classic pcap file (not gzipped, not pcapng) mapped into
// memory: a record's bytes are handed out where they lie, with no read
// system call and no copy. It follows pcapgo.Reader's rules exactly (header
// checks, snap length and original length checks, timestamp arithmetic) so
// that the packets are the same (TestMmapMatchesPcapgo); it differs in one
// place on purpose: a file that ends right after a record header is
// truncated, where pcapgo reports a clean end.
//
// Why not pcapgo here: it copies every packet through a bufio.Reader, and
// with several workers each reading the whole file that copy (and its read
// system calls) is paid once per worker; mapped pages are shared by the
// workers and by the page cache (docs/performance.md).
type mmapPcap struct {
	data     []byte // the whole file
	off      int    // where the next record starts
	big      bool   // byte order of the file
	nanos    uint32 // 1 (nanosecond file) or 1000 (microsecond file)
	snaplen  uint32
	linkType layers.LinkType
	rawLT    int
	released int // the mapping before this offset has been given back (release)
	// manualRelease: pages are given back by releaseTo only (a Splitter
	// reads ahead of the shards that use the packets)
	manualRelease bool
	touched       int  // the reader read one byte of every cache line before this offset
	sink          byte // what it read (so the reads are not optimised away)
}

// releaseEvery is how much of the mapping is read before the pages behind
// the reader are dropped from the process (MADV_DONTNEED on a shared file
// mapping: they stay in the page cache, and a later access would just map
// them again). Without it every page read counts in the resident set, and
// a 2 GB capture would show 2 GB of RSS.
const releaseEvery = 8 << 20

// mmapMinSize: smaller files are read the usual way (mapping costs more).
var mmapMinSize int64 = 1 << 20

// openMmap maps f if it is a regular classic-pcap file worth mapping. It
// returns nil, nil when the file should be read the usual way (too small,
// another format, mapping refused); an error only for a bad pcap header.
func openMmap(f *os.File) (*mmapPcap, error) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < mmapMinSize || int64(int(st.Size())) != st.Size() {
		return nil, nil
	}
	var magic [4]byte
	if _, err := f.ReadAt(magic[:], 0); err != nil {
		return nil, nil
	}
	switch binary.LittleEndian.Uint32(magic[:]) {
	case 0xA1B2C3D4, 0xD4C3B2A1, 0xA1B23C4D, 0x4D3CB2A1:
	default:
		return nil, nil
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(st.Size()), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil
	}
	_ = syscall.Madvise(data, syscall.MADV_SEQUENTIAL) // a hint for read-ahead only
	m, err := newMmapPcap(data)
	if err != nil {
		_ = syscall.Munmap(data)
		return nil, err
	}
	return m, nil
}

// newMmapPcap checks the file header as pcapgo.NewReader does.
func newMmapPcap(data []byte) (*mmapPcap, error) {
	if len(data) < 24 {
		return nil, fmt.Errorf("file header cut at %d bytes", len(data))
	}
	m := &mmapPcap{data: data, off: 24}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(data[0:4]) {
	case 0xA1B23C4D:
		bo, m.nanos = binary.LittleEndian, 1
	case 0x4D3CB2A1:
		bo, m.nanos, m.big = binary.BigEndian, 1, true
	case 0xA1B2C3D4:
		bo, m.nanos = binary.LittleEndian, 1000
	case 0xD4C3B2A1:
		bo, m.nanos, m.big = binary.BigEndian, 1000, true
	default:
		return nil, fmt.Errorf("Unknown magic %x", binary.LittleEndian.Uint32(data[0:4]))
	}
	if v := bo.Uint16(data[4:6]); v != 2 {
		return nil, fmt.Errorf("Unknown major version %d", v)
	}
	if v := bo.Uint16(data[6:8]); v != 4 {
		return nil, fmt.Errorf("Unknown minor version %d", v)
	}
	m.snaplen = effectiveSnaplen(bo.Uint32(data[16:20]))
	lt := bo.Uint32(data[20:24])
	m.linkType = layers.LinkType(lt)
	m.rawLT = int(lt & 0xffff)
	return m, nil
}

func (m *mmapPcap) u32(b []byte) uint32 {
	if m.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

var errRecordHeaderOnly = errors.New("record header without its packet data")

// next returns the next record's bytes (valid until close) and capture info.
func (m *mmapPcap) next() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	rest := m.data[m.off:]
	if len(rest) == 0 {
		return nil, ci, io.EOF
	}
	if len(rest) < 16 {
		return nil, ci, io.ErrUnexpectedEOF
	}
	h := rest[:16]
	ci.Timestamp = time.Unix(int64(m.u32(h[0:4])), int64(m.u32(h[4:8])*m.nanos)).UTC()
	ci.CaptureLength = int(m.u32(h[8:12]))
	ci.Length = int(m.u32(h[12:16]))
	if ci.CaptureLength > int(m.snaplen) {
		return nil, ci, fmt.Errorf("capture length exceeds snap length: %d > %d", ci.CaptureLength, m.snaplen)
	}
	if ci.CaptureLength > ci.Length {
		return nil, ci, fmt.Errorf("capture length exceeds original packet length: %d > %d", ci.CaptureLength, ci.Length)
	}
	if ci.CaptureLength > len(rest)-16 {
		if len(rest) == 16 {
			return nil, ci, errRecordHeaderOnly
		}
		return nil, ci, io.ErrUnexpectedEOF
	}
	data := rest[16 : 16+ci.CaptureLength : 16+ci.CaptureLength]
	m.off += 16 + ci.CaptureLength
	m.touch()
	if m.off-m.released >= 2*releaseEvery && !m.manualRelease {
		m.releaseTo(m.off - releaseEvery)
	}
	return data, ci, nil
}

// record is next for the Splitter, in next's common case: it returns where
// the next record's packet bytes start, their captured and original
// lengths and the record's time in Unix nanoseconds, the value next's
// Timestamp.UnixNano() has, without building a time.Time (its
// normalisation and the CaptureInfo were a third of next's cost). ok is
// false at the end of the file and for any record next refuses; then
// nothing has moved, and next called for the same record returns its
// error (TestRecordMatchesNext). Release is the caller's (manualRelease).
func (m *mmapPcap) record() (off, n, orig int, ts int64, ok bool) {
	rest := m.data[m.off:]
	if len(rest) < 16 {
		return 0, 0, 0, 0, false
	}
	h := rest[:16:16]
	var sec, frac, cl, ol uint32
	if m.big {
		sec, frac = binary.BigEndian.Uint32(h[0:4]), binary.BigEndian.Uint32(h[4:8])
		cl, ol = binary.BigEndian.Uint32(h[8:12]), binary.BigEndian.Uint32(h[12:16])
	} else {
		sec, frac = binary.LittleEndian.Uint32(h[0:4]), binary.LittleEndian.Uint32(h[4:8])
		cl, ol = binary.LittleEndian.Uint32(h[8:12]), binary.LittleEndian.Uint32(h[12:16])
	}
	// next's checks, in the same types
	if cl > m.snaplen || cl > ol || int(cl) > len(rest)-16 {
		return 0, 0, 0, 0, false
	}
	// time.Unix(sec, nsec) with nsec = frac*nanos wrapped to 32 bits as in
	// next, normalised, then UnixNano: the same sum (sec < 2^32: no
	// overflow).
	ts = int64(sec)*1e9 + int64(frac*m.nanos)
	off = m.off + 16
	m.off = off + int(cl)
	m.touch()
	return off, int(cl), int(ol), ts, true
}

// touch reads ahead of m.off (touchAhead).
func (m *mmapPcap) touch() {
	if end := min(m.off+touchAhead, len(m.data)); m.touched < end {
		t, sink := max(m.touched, m.off), m.sink
		for ; t < end; t += 64 {
			sink += m.data[t]
		}
		m.touched, m.sink = t, sink
	}
}

// touchAhead: the reader reads one byte of every cache line up to this far
// past the record it returns. The walk from record header to record header
// jumps over the packet bytes, and each header was a cache miss it waited
// for (the first touch of each record was most of the reader's time, and
// of the Splitter's); reading every line in order is a stream the processor
// prefetches, so the next headers are in the cache when they are read.
// Measured on the 1 GB capture (cwfloor -reader file): 0.27 → 0.15 s of
// CPU; 512 and 1024 bytes gained nothing (less than the next record away),
// 2 to 16 KiB the same (16 KiB also reaches past jumbo frames). A file cut
// shorter while it is read faults up to this far ahead of the reader, so
// the records just before the cut are lost too (ErrTruncated either way).
const touchAhead = 16 << 10

// releaseTo drops the pages before offset end (packets no longer used),
// up to a 2 MiB (faultAround) boundary of the address space: a page cache
// holding the file in 2 MiB folios maps each with one entry, and giving
// back part of one splits it, page by page. Measured on the 1 GB capture, 5 runs each
// interleaved (the Splitter releases every 512 frames, ~0.5 MB): the file
// read in fresh (2 MiB folios) 0.53-0.72 s wall, 0.08-0.14 s system time
// before, 0.50-0.64 and 0.06-0.11 after; the page cache in small pieces
// 0.55-0.58 → 0.52-0.57 s; peak RSS the same within 0.4 MB.
func (m *mmapPcap) releaseTo(end int) {
	if end <= m.released {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.data)))
	end = int((base+uintptr(end))&^(faultAround-1)) - int(base)
	if end > m.released {
		_ = syscall.Madvise(m.data[m.released:end], syscall.MADV_DONTNEED)
		m.released = end
	}
}

func (m *mmapPcap) close() error {
	if m.data == nil {
		return nil
	}
	err := syscall.Munmap(m.data)
	m.data = nil
	return err
}

// faultAround is the most the kernel maps on one page fault in a file
// mapping: fault-around maps 64 KiB (fault_around_bytes), and a page cache
// holding the file in large folios is mapped a whole 2 MiB folio at a time
// (seen on Linux 6.18: one byte read mapped 2,048 KiB). Reading a few bytes
// of a page given back earlier maps up to that much of the file again.
const faultAround = 2 << 20

// releaseRead gives back the pages around mapping[off:off+n] after a read
// of bytes that may lie in pages already given back (the overlap-conflict
// check reads the original of a retransmitted segment): without it every
// such read would leave up to 2 MiB of the file resident for the rest of
// the run (a lossy 300 MB capture ended with 119 MB more RSS). Giving back
// pages a reader still uses only costs it a page fault: a private,
// read-only mapping reads them again from the page cache.
func releaseRead(mapping []byte, off, n uint64) {
	if len(mapping) == 0 {
		return
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(mapping)))
	lo := (base + uintptr(off)) &^ (faultAround - 1)
	hi := (base + uintptr(off+n) + faultAround - 1) &^ (faultAround - 1)
	lo = max(lo, base) // the mapping starts on a page boundary
	hi = min(hi, base+uintptr(len(mapping)))
	if lo >= hi {
		return
	}
	_ = syscall.Madvise(mapping[lo-base:hi-base], syscall.MADV_DONTNEED)
}
