package rules

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// findingStore keeps an Aggregator's findings without pointers: each as a
// record (codec.go) in a byte arena, plus a fixed-size entry with what
// folding and report order read on every occurrence or comparison (the
// evidence's file and frame, the key, count, last time, severity). The
// garbage collector does not scan either, and a finding costs its record
// (about 60 bytes on the benchmark captures: repeating strings are table
// indexes, and the findings of an observation share one copy of what they
// have in common) and its 64-byte entry instead of a 512-byte Finding and
// the values, attributes and strings it points to.
//
// An arena rather than a spill file, by measurement (1 GB capture, 54,780
// findings, about 6 MB of records then, 120 bytes each): a spill file that took every full
// 256 KiB chunk out of the heap cut the findings' live heap from about 10
// to 4 MB, but report order is not the order records are written in
// (evidence moves to earlier occurrences, cross-connection findings come
// last, messages complete out of frame order), so reading the findings
// back chunk by chunk reloaded a chunk every few findings (3 GB read per
// run, CPU 2.3 s → 7 s), and reading record by record is a system call
// per finding and pass. Reports read every finding several times (counts,
// host groups, rows), which from memory is a slice.
type findingStore struct {
	t       strTable
	chunks  [][]byte
	entries [][]entry
	n       int
	head    []byte // a record's head being written
	shared  []byte // a record's shared part being written

	// lastShared is where the last shared part written is, in the last
	// chunk: a record whose shared part has the same bytes refers to it.
	lastShared struct{ off, size int }

	bigLast map[int32]time.Time // LastTimes that entries do not hold (locBig), by finding
}

// entry is what the store keeps of a finding outside its record: 64
// bytes (dir and subj as 16-bit indexes took it from 80 to 72, LastTime
// as nanoseconds to 64).
type entry struct {
	chunk, off, size uint32 // where its record is
	file, rule       uint32 // strTable indexes
	host, cookie     uint32
	order            int32
	frame            uint64
	count            int64
	lastNano         int64  // LastTime in Unix nanoseconds, as lastLoc says
	dir, subj        uint16 // strTable indexes, or bigIndex
	lastLoc          int16  // LastTime's location: locZero, locUTC, locLocal, a strTable.locs index, or locBig
	sev              Severity
}

// An entry's lastLoc: the zero time, UTC, Local, or (locBig) a time that
// nanoseconds since 1970 in an int64 do not hold (before 1678, after
// 2262) or whose location's index does not fit: then the time is in the
// store's bigLast.
const (
	locBig   = -4
	locZero  = -3
	locUTC   = -2
	locLocal = -1

	// Unix seconds strictly between these hold as nanoseconds.
	minNanoSec = math.MinInt64/1_000_000_000 + 1
	maxNanoSec = math.MaxInt64/1_000_000_000 - 1
)

// setLast sets the LastTime of finding i, whose entry is e.
func (s *findingStore) setLast(i int32, e *entry, x time.Time) {
	if e.lastLoc == locBig {
		delete(s.bigLast, i)
	}
	e.lastNano, e.lastLoc = 0, locZero
	if x.IsZero() && x.Location() == time.UTC {
		return
	}
	if sec := x.Unix(); sec > minNanoSec && sec < maxNanoSec {
		e.lastNano = x.UnixNano()
		switch l := x.Location(); l {
		case time.UTC:
			e.lastLoc = locUTC
			return
		case time.Local:
			e.lastLoc = locLocal
			return
		default:
			if k := s.t.loc(l); k <= math.MaxInt16 {
				e.lastLoc = int16(k)
				return
			}
		}
	}
	if s.bigLast == nil {
		s.bigLast = map[int32]time.Time{}
	}
	e.lastNano, e.lastLoc = 0, locBig
	s.bigLast[i] = x
}

// lastTime returns the LastTime of finding i, whose entry is e.
func (s *findingStore) lastTime(i int32, e *entry) time.Time {
	switch e.lastLoc {
	case locZero:
		return time.Time{}
	case locBig:
		return s.bigLast[i]
	case locUTC:
		return time.Unix(0, e.lastNano).UTC()
	case locLocal:
		return time.Unix(0, e.lastNano).In(time.Local)
	}
	return time.Unix(0, e.lastNano).In(s.t.locs[e.lastLoc])
}

// raiseLast makes x the LastTime of finding i (entry e) if it is later.
func (s *findingStore) raiseLast(i int32, e *entry, x time.Time) {
	if e.lastLoc >= locUTC { // an instant in lastNano: compared without building a time.Time
		if sec := x.Unix(); sec > minNanoSec && sec < maxNanoSec {
			if x.UnixNano() > e.lastNano {
				s.setLast(i, e, x)
			}
			return
		}
	}
	if x.After(s.lastTime(i, e)) {
		s.setLast(i, e, x)
	}
}

// bigIndex stands for a strTable index of 0xffff or more in an entry's
// 16-bit fields: direction and subject are a handful of strings, which
// the table gets among its first, but a capture's findings may come with
// more than 65,535 other strings before them; compareEntries then reads
// the records.
const bigIndex = 0xffff

func index16(i uint32) uint16 { return uint16(min(i, bigIndex)) }

const (
	blockSize = 1024      // entries per block
	chunkSize = 256 << 10 // bytes per arena chunk; a larger record gets a chunk of its own
)

func (s *findingStore) at(i int32) *entry { return &s.entries[i/blockSize][i%blockSize] }

// write appends the record of f to the arena and points e at it, with f's
// evidence fields. The record's shared part is written only when it is
// not the last one written (in the same chunk): the findings of an
// observation are added one after another, and evidence moves to an
// occurrence of the same message as often as not.
func (s *findingStore) write(e *entry, f *Finding) {
	s.head = appendHead(s.head[:0], f, &s.t)
	s.shared = appendShared(s.shared[:0], f, &s.t)
	last := len(s.chunks) - 1
	if last >= 0 {
		c := s.chunks[last]
		ls := s.lastShared
		if ls.size == len(s.shared) && string(c[ls.off:ls.off+ls.size]) == string(s.shared) {
			back := len(c) - ls.off
			if n := len(s.head) + uvarintLen(uint64(back)); cap(c)-len(c) >= n {
				e.chunk, e.off, e.size = uint32(last), uint32(len(c)), uint32(n)
				c = append(c, s.head...)
				s.chunks[last] = binary.AppendUvarint(c, uint64(back))
				s.setEvidence(e, f)
				return
			}
		}
	}
	n := len(s.head) + 1 + len(s.shared)
	if last < 0 || cap(s.chunks[last])-len(s.chunks[last]) < n {
		s.chunks = append(s.chunks, make([]byte, 0, max(chunkSize, n)))
		last++
	}
	c := s.chunks[last]
	e.chunk, e.off, e.size = uint32(last), uint32(len(c)), uint32(n)
	c = append(c, s.head...)
	c = append(c, 0) // the shared part follows
	s.lastShared.off, s.lastShared.size = len(c), len(s.shared)
	s.chunks[last] = append(c, s.shared...)
	s.setEvidence(e, f)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func (s *findingStore) setEvidence(e *entry, f *Finding) {
	t := &s.t
	e.file, e.rule, e.host, e.cookie = t.cached(slotFile, f.File), t.cached(slotRule, f.Rule), t.cached(slotHost, f.Host), t.cached(slotCookie, f.Cookie)
	e.dir, e.subj = index16(t.cached(slotDirection, f.Direction)), index16(t.cached(slotSubject, f.Subject))
	e.order, e.frame = f.order, f.Frame
}

// add stores f and returns its index.
func (s *findingStore) add(f *Finding) int32 {
	if s.n%blockSize == 0 {
		s.entries = append(s.entries, make([]entry, blockSize))
		if s.t.strs == nil {
			s.t.strs = []string{""} // an entry's index 0 is "" before any string is added
		}
	}
	i := int32(s.n)
	s.n++
	e := s.at(i)
	s.write(e, f)
	e.count, e.sev = int64(f.Count), f.Severity
	s.setLast(i, e, f.LastTime)
	return i
}

// decode reads finding i into f with d (the key, File, Frame, Count,
// LastTime and Severity are the entry's: folding changes the last three
// there).
func (s *findingStore) decode(d *decoder, i int32, f *Finding) {
	e := s.at(i)
	d.t = &s.t
	if err := d.decodeRecord(s.chunks[e.chunk], int(e.off), int(e.size), f); err != nil {
		panic(fmt.Sprintf("rules: finding %d of the store does not decode: %v", i, err)) // the store wrote it: a bug
	}
	str := s.t.strs
	f.Rule, f.Host, f.Cookie, f.File = str[e.rule], str[e.host], str[e.cookie], str[e.file]
	f.Frame, f.order = e.frame, e.order
	f.Count, f.Severity = int(e.count), e.sev
	if d.omit&OmitTimes == 0 {
		f.LastTime = s.lastTime(i, e)
	}
}

// fileRanks returns, for each table index that is a finding's file, the
// rank of that file name among them (others 0): comparing ranks is
// comparing the names, which are few, without reading their strings.
func (s *findingStore) fileRanks() []uint32 {
	var files []uint32
	seen := make([]bool, len(s.t.strs))
	for _, blk := range s.entries {
		for k := range blk {
			if f := blk[k].file; !seen[f] {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	slices.SortFunc(files, func(a, b uint32) int { return strings.Compare(s.t.strs[a], s.t.strs[b]) })
	rank := make([]uint32, len(s.t.strs))
	for r, f := range files {
		rank[f] = uint32(r)
	}
	return rank
}

// compareEntries is compare on findings i and j, reading their records
// only when the entries tie; rank is fileRanks'.
func (s *findingStore) compareEntries(rank []uint32, i, j int32, x, y *Finding, dx, dy *decoder) int {
	a, b := s.at(i), s.at(j)
	str := s.t.strs
	if c := cmp.Or(
		cmp.Compare(rank[a.file], rank[b.file]),
		cmp.Compare(a.frame, b.frame),
		cmp.Compare(a.order, b.order),
	); c != 0 {
		return c
	}
	if max(a.dir, b.dir, a.subj, b.subj) < bigIndex {
		if c := cmp.Or(
			strings.Compare(str[a.dir], str[b.dir]),
			strings.Compare(str[a.subj], str[b.subj]),
			strings.Compare(str[a.cookie], str[b.cookie]),
		); c != 0 {
			return c
		}
	}
	s.decode(dx, i, x)
	s.decode(dy, j, y)
	return compare(x, y)
}

// Sorted is an Aggregator's findings in report order (Compare), decoded
// one at a time: a report reads them without the whole list of findings
// being built.
type Sorted struct {
	s    *findingStore
	perm []int32
	f    Finding
	dec  decoder
}

// Len is the number of findings.
func (x *Sorted) Len() int {
	if x == nil {
		return 0
	}
	return len(x.perm)
}

// At returns finding i in report order, decoded into a Finding that the
// next call to At reuses (copy what must outlive it; Clone copies it all).
func (x *Sorted) At(i int) *Finding {
	x.s.decode(&x.dec, x.perm[i], &x.f)
	return &x.f
}

// Key returns the Severity, Host and Cookie of finding i in report order,
// as At would, from the store's entry: the record is not decoded (the
// report's tally reads only these).
func (x *Sorted) Key(i int) (sev Severity, host, cookie string) {
	e := x.s.at(x.perm[i])
	return e.sev, x.s.t.strs[e.host], x.s.t.strs[e.cookie]
}

// StoreOrder returns the report positions (At's i) of x's findings in
// the order the store holds them. A reader that needs every finding but
// not in report order (a tally, a table's column widths) reads the store
// one record after another so, not here and there: decoding the 1 GB
// benchmark capture's 54,780 findings (Omitting the table's parts) took
// 6.9-8.8 ms in this order against 13.3-14.7 ms in report order (the
// fastest of 8 runs each, alternating, on a loaded machine).
func (x *Sorted) StoreOrder() []int32 {
	if x == nil {
		return nil
	}
	pos := make([]int32, x.s.n)
	if len(x.perm) == x.s.n { // every finding: the inverse of perm
		for k, i := range x.perm {
			pos[i] = int32(k)
		}
		return pos
	}
	for i := range pos {
		pos[i] = -1
	}
	for k, i := range x.perm {
		pos[i] = int32(k)
	}
	out := pos[:0]
	for _, k := range pos {
		if k >= 0 {
			out = append(out, k)
		}
	}
	return out
}

// Clone returns finding i in report order as a Finding of its own.
func (x *Sorted) Clone(i int) *Finding {
	d := decoder{fresh: true}
	f := new(Finding)
	x.s.decode(&d, x.perm[i], f)
	return f
}

// Materialise returns every finding as a Finding of its own, for the
// readers that need them all at once (HTML, --explain).
func (x *Sorted) Materialise() []*Finding {
	out := make([]*Finding, x.Len())
	for i := range out {
		out[i] = x.Clone(i)
	}
	return out
}

// Filter returns the findings of x that keep accepts, in the same order
// (x itself is not changed; they share the store).
func (x *Sorted) Filter(keep func(*Finding) bool) *Sorted {
	y := &Sorted{s: x.s}
	for i, j := range x.perm {
		if keep(x.At(i)) {
			y.perm = append(y.perm, j)
		}
	}
	return y
}
