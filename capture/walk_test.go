//go:build unix

package capture

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestRecordMatchesNext: mmapPcap.record (the Splitter's walk) takes
// exactly the records next takes, with the same bytes, lengths and time
// (next's Timestamp.UnixNano()), and refuses, without moving, every record
// next refuses: both byte orders, microsecond and nanosecond files,
// fractions of a second at and over a second (wrapping at 32 bits as next
// does), times up to 2^32-1 s, capture lengths over the snap length or
// the original length, and files cut in a record header or packet.
func TestRecordMatchesNext(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fracs := []uint32{0, 1, 999_999, 1_000_000, 999_999_999, 1_000_000_000, 4_294_967, 4_294_968, 1 << 31, 1<<32 - 1}
	secs := []uint32{0, 1, 1_700_000_000, 1<<31 - 1, 1 << 31, 1<<32 - 1}
	for _, magic := range []uint32{0xA1B2C3D4, 0xA1B23C4D} {
		for _, big := range []bool{false, true} {
			var bo binary.ByteOrder = binary.LittleEndian
			if big {
				bo = binary.BigEndian
			}
			for trial := range 40 {
				const snap = 1500
				file := make([]byte, 24)
				bo.PutUint32(file[0:], magic)
				bo.PutUint16(file[4:], 2)
				bo.PutUint16(file[6:], 4)
				bo.PutUint32(file[16:], snap)
				bo.PutUint32(file[20:], 1)
				for i := range 30 {
					cl := uint32(rng.IntN(snap + 1))
					ol := cl + uint32(rng.IntN(3))*uint32(rng.IntN(100))
					if i == 29 && trial%4 == 1 {
						cl = snap + 1 // over the snap length
						ol = cl
					}
					if i == 29 && trial%4 == 2 && cl > 0 {
						ol = cl - 1 // over the original length
					}
					var h [16]byte
					bo.PutUint32(h[0:], secs[rng.IntN(len(secs))])
					bo.PutUint32(h[4:], fracs[rng.IntN(len(fracs))])
					bo.PutUint32(h[8:], cl)
					bo.PutUint32(h[12:], ol)
					file = append(file, h[:]...)
					for range cl {
						file = append(file, byte(rng.Uint32()))
					}
				}
				if trial%4 == 3 {
					file = file[:24+rng.IntN(len(file)-24)] // cut anywhere
				}
				t.Run(fmt.Sprintf("%x/big=%v/%d", magic, big, trial), func(t *testing.T) {
					compareRecordNext(t, file)
				})
			}
		}
	}
}

func compareRecordNext(t *testing.T, file []byte) {
	r, err := newMmapPcap(file)
	if err != nil {
		t.Fatal(err)
	}
	n, err := newMmapPcap(file)
	if err != nil {
		t.Fatal(err)
	}
	r.manualRelease, n.manualRelease = true, true
	for i := 0; ; i++ {
		at := r.off
		off, cl, ol, ts, ok := r.record()
		data, ci, err := n.next()
		if !ok {
			if r.off != at {
				t.Fatalf("record %d: refused but moved %d → %d", i, at, r.off)
			}
			if err == nil {
				t.Fatalf("record %d: refused, next took it (%d bytes at %d)", i, len(data), at)
			}
			// the Splitter then asks next: the same record, the same error
			if _, _, err2 := r.next(); fmt.Sprint(err2) != fmt.Sprint(err) {
				t.Fatalf("record %d: next after record: %v, want %v", i, err2, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("record %d: taken, next refused: %v", i, err)
		}
		if cl > 0 && &file[off] != &data[0] || cl != len(data) || ol != ci.Length || r.off != n.off {
			t.Fatalf("record %d: record (%d, %d, %d, end %d), next (%d bytes, length %d, end %d)", i, off, cl, ol, r.off, len(data), ci.Length, n.off)
		}
		if want := ci.Timestamp.UnixNano(); ts != want {
			t.Fatalf("record %d: time %d, next %d (%v)", i, ts, want, ci.Timestamp)
		}
	}
}

// TestOwnerHash: decoder.ownerKey gives key() and key().hash() for IPv4 and IPv6
// segments in both directions, addresses equal, equal in their first or
// last 8 bytes or differing in one byte only, and ports equal or not.
func TestOwnerHash(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	d := newDecoder(0)
	seen := map[uint64]bool{}
	for i := range 20000 {
		d.v6 = i%2 == 0
		n := 4
		if d.v6 {
			n = 16
		}
		d.src, d.dst = [16]byte{}, [16]byte{}
		for j := range n {
			d.src[j] = byte(rng.Uint32())
		}
		switch i % 5 {
		case 0:
			d.dst = d.src
		case 1:
			d.dst = d.src
			d.dst[rng.IntN(n)] ^= 1 << rng.IntN(8)
		case 2:
			d.dst = d.src
			for j := 8; j < 16; j++ {
				d.dst[j] = byte(rng.Uint32())
			}
		default:
			for j := range n {
				d.dst[j] = byte(rng.Uint32())
			}
		}
		d.tcp.SrcPort, d.tcp.DstPort = uint16(rng.IntN(4)), uint16(rng.IntN(4))
		if i%3 == 0 {
			d.tcp.SrcPort, d.tcp.DstPort = uint16(rng.Uint32()), uint16(rng.Uint32())
		}
		k, lo := d.key()
		var ok connKey
		ok.lo[3] = 0xee // ownerKey writes every byte
		gotLo, got := d.ownerKey(&ok)
		if want := k.hash(); got != want || ok != k || gotLo != lo {
			t.Fatalf("%v %x:%d > %x:%d: ownerKey %+v %v %x, key() %+v %v %x", d.v6, d.src, d.tcp.SrcPort, d.dst, d.tcp.DstPort, ok, gotLo, got, k, lo, want)
		}
		seen[k.hash()] = true
	}
	if len(seen) < 10000 {
		t.Fatalf("only %d distinct hashes: the cases are not varied", len(seen))
	}
}

// TestKeyHashWrittenOut: connKey.hash, its rounds written out, is the loop
// over the four address words it was (so a shard owns the connections it
// owned, and flow slots are where they were), for IPv4 and IPv6 keys.
func TestKeyHashWrittenOut(t *testing.T) {
	before := func(k *connKey) uint64 {
		h := uint64(k.loPort)<<16 | uint64(k.hiPort)
		for _, w := range [4]uint64{
			binary.LittleEndian.Uint64(k.lo[:8]), binary.LittleEndian.Uint64(k.lo[8:]),
			binary.LittleEndian.Uint64(k.hi[:8]), binary.LittleEndian.Uint64(k.hi[8:]),
		} {
			h = (h ^ w) * 0x9e3779b97f4a7c15
			h ^= h >> 29
		}
		if k.v6 {
			h ^= 1
		}
		return h
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 10000 {
		var k connKey
		for j := range k.lo {
			k.lo[j], k.hi[j] = byte(rng.Uint32()), byte(rng.Uint32())
		}
		k.loPort, k.hiPort, k.v6 = uint16(rng.Uint32()), uint16(rng.Uint32()), i%2 == 0
		if got, want := k.hash(), before(&k); got != want {
			t.Fatalf("%+v: hash %x, before %x", k, got, want)
		}
	}
}
