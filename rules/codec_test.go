package rules

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
	"unsafe"
)

// fullFinding sets every field of Finding, unexported ones too.
func fullFinding() Finding {
	age := -5
	f := Finding{
		Rule: "missing-secure", Title: "Session cookie without Secure", CWE: 614, Fingerprint: "0123456789abcdef",
		Subject: "set-cookie", Cookie: "SID", Value: &Value{Length: 32, Fingerprint: "sha256:0123456789ab", Raw: "sekrit"},
		Scheme: "Bearer", Session: Session{true, "firm", "name pattern: word sid"},
		Framework: FrameworkInfo{"php", "PHP", "cookie name (PHP)"}, Fix: "session.cookie_secure = 1",
		Direction: "response", Deletion: true, Severity: High, Confidence: Firm, pos: 3,
		Attrs: &Attributes{Secure: true, HttpOnly: true, SameSite: "invalid:x", Domain: ".shop.example", Path: "/a",
			MaxAge: &age, Expires: "2026-11-01T12:00:00Z", Partitioned: true, Unknown: []string{"Foo=1", ""}, Malformed: "bad"},
		Line: "SID=sekrit; Secure", LineIndex: 2, Message: 1 << 40, Host: "Shop.Example",
		Client: netip.MustParseAddrPort("10.0.0.1:51000"), Server: netip.MustParseAddrPort("[fe80::1%eth0]:443"),
		File: "a.pcap", Frame: 1<<63 + 5, Time: testNow.Add(123456789), Method: "POST", Path: "/login?x=REDACTED",
		Status: 302, TLS: true, Truncated: true, order: 41,
		Chain: []Link{{Kind: "login", File: "a.pcap", Frame: 3, Time: testNow.In(time.Local), Detail: "POST /login"},
			{Kind: "request", Frame: 9, Time: testNow.In(time.FixedZone("X", 3600))}},
		Count: 1234567, LastTime: testNow.Add(time.Hour),
	}
	return f
}

// roundTrip adds f to a store and decodes it, fresh and into a reused
// decoder: every field comes back.
func roundTrip(t *testing.T, f Finding) {
	t.Helper()
	var s findingStore
	i := s.add(&f)
	for _, fresh := range []bool{true, false} {
		d := decoder{fresh: fresh}
		var got Finding
		s.decode(&d, i, &got)
		if !reflect.DeepEqual(got, f) {
			t.Errorf("fresh %v: round trip\n got %+v\nwant %+v", fresh, got, f)
		}
	}
}

// TestRecordRoundTrip: every field of a Finding survives the store, with
// values set, zero and empty.
func TestRecordRoundTrip(t *testing.T) {
	roundTrip(t, fullFinding())
	roundTrip(t, Finding{})
	empty := Finding{Value: &Value{}, Attrs: &Attributes{Unknown: []string{}}, Chain: []Link{}, Time: time.Time{}.In(time.Local)}
	roundTrip(t, empty)
	neg := fullFinding()
	neg.CWE, neg.Status, neg.LineIndex, neg.Count, neg.pos, neg.order = -1, -2, -3, -4, -5, -6
	neg.Client, neg.Server = netip.AddrPort{}, netip.MustParseAddrPort("[::ffff:1.2.3.4]:0")
	neg.Time = time.Unix(-1e10, 999999999).UTC()
	roundTrip(t, neg)
}

// TestRecordShared: findings that share their observation's part refer
// back to the first one's, and each decodes to itself; a finding that
// differs in any shared field, or that opens a new chunk, writes its own.
func TestRecordShared(t *testing.T) {
	var s findingStore
	base := fullFinding()
	var want []Finding
	add := func(f Finding) int32 {
		want = append(want, f)
		return s.add(&f)
	}
	first := add(base)
	for _, rule := range []string{"missing-httponly", "missing-samesite", "broad-domain"} {
		f := base
		f.Rule, f.Title, f.CWE, f.Fix, f.Fingerprint, f.Confidence, f.order = rule, "title of "+rule, 1004, "fix "+rule, "fedcba9876543210", Certain, 7
		f.Frame, f.File, f.Host, f.Cookie, f.Count, f.Severity = 99, "b.pcap", "other.example", "other", 3, Low
		add(f)
	}
	shared := s.at(first).size
	for i := first + 1; i < int32(s.n); i++ {
		if e := s.at(i); e.size >= shared/2 {
			t.Errorf("finding %d: record of %d bytes; the first, with its shared part, has %d", i, e.size, shared)
		}
	}
	other := base
	other.Time = other.Time.Add(time.Microsecond)
	if e := s.at(add(other)); e.size < shared-2 {
		t.Errorf("a finding with another time has a record of %d bytes (%d with the shared part)", e.size, shared)
	}
	for i := range want {
		var got Finding
		s.decode(&decoder{fresh: true}, int32(i), &got)
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("finding %d:\n got %+v\nwant %+v", i, got, want[i])
		}
	}
	// Fill the chunk: the next record cannot refer back across chunks.
	big := base
	big.Path = string(make([]byte, chunkSize-len(s.chunks[0])-len(s.head)-64))
	add(big)
	add(big)
	f := big
	f.Rule, f.Fix = "missing-httponly", "another fix"
	i := add(f)
	if len(s.chunks) != 2 || s.at(i).chunk != 1 {
		t.Fatalf("%d chunks, last record in chunk %d", len(s.chunks), s.at(i).chunk)
	}
	for i := range want {
		var got Finding
		s.decode(&decoder{}, int32(i), &got)
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("finding %d differs after the chunk filled", i)
		}
	}
}

// TestRecordCorrupt: a record cut anywhere, with an index past the table,
// or referring back past its chunk's start, is an error, not a panic.
func TestRecordCorrupt(t *testing.T) {
	var s findingStore
	f := fullFinding()
	s.add(&f)
	g := f
	g.Rule = "missing-httponly"
	s.add(&g)
	c, e := s.chunks[0], s.at(0)
	d := decoder{t: &s.t}
	var got Finding
	for n := range int(e.size) {
		if err := d.decodeRecord(c, int(e.off), n, &got); err == nil {
			t.Fatalf("record cut at %d of %d decoded", n, e.size)
		}
	}
	if err := d.decodeRecord(c, int(e.off), int(e.size), &got); err != nil {
		t.Fatalf("the whole record: %v", err)
	}
	if err := d.decodeRecord(c, len(c)-1, 2, &got); err == nil {
		t.Error("a record past its chunk decoded")
	}
	// The second record refers back; at offset 0 of a copy it refers
	// before the chunk.
	r := s.at(1)
	moved := append([]byte(nil), c[r.off:r.off+r.size]...)
	if err := d.decodeRecord(moved, 0, len(moved), &got); err == nil {
		t.Error("a record referring back past its chunk's start decoded")
	}
	short := strTable{strs: s.t.strs[:2], locs: s.t.locs}
	d.t = &short
	if err := d.decodeRecord(c, int(e.off), int(e.size), &got); err == nil {
		t.Error("a record with string indexes past the table decoded")
	}
}

// TestStoreMaterialise: an Aggregator's Sorted gives Findings' findings,
// through At (reused) and Clone, over several blocks and arena chunks,
// with records larger than a chunk.
func TestStoreMaterialise(t *testing.T) {
	for _, each := range []bool{false, true} {
		a := Aggregator{Each: each}
		base := fullFinding()
		for i := range 3*blockSize + 11 {
			f := base
			f.Host = "h" + strconv.Itoa(i%(blockSize+3))
			f.Frame = uint64((i * 7919) % 5000)
			f.Path = "/p/" + strconv.Itoa(i)
			if i%500 == 0 {
				f.Line = string(make([]byte, chunkSize+i)) // a record of its own chunk
			}
			a.Add(f)
		}
		want := a.Findings()
		x := a.Release()
		if x.Len() != len(want) || a.Len() != 0 {
			t.Fatalf("each=%v: Sorted has %d, Findings %d; aggregator left with %d", each, x.Len(), len(want), a.Len())
		}
		for i := range want {
			if got := x.At(i); !reflect.DeepEqual(*got, want[i]) {
				t.Fatalf("each=%v: At(%d) = %+v, want %+v", each, i, *got, want[i])
			}
		}
		ms := x.Materialise()
		for i := range want {
			if !reflect.DeepEqual(*ms[i], want[i]) {
				t.Fatalf("each=%v: Materialise()[%d] differs", each, i)
			}
		}
		if ms[0].Value == ms[1].Value || ms[0].Attrs == ms[1].Attrs {
			t.Error("materialised findings share a Value or Attributes")
		}
	}
}

// FuzzRecord: decoding any bytes as a record (the second half of the
// input, the first being the chunk before it) fails or gives a finding
// that a store keeps and gives back the same; it never panics.
func FuzzRecord(f *testing.F) {
	var s findingStore
	for _, x := range []Finding{fullFinding(), {}, {Value: &Value{}, Attrs: &Attributes{}, Chain: []Link{}}} {
		s.add(&x)
		y := x
		y.Title = "another title"
		s.add(&y) // refers back to x's shared part
	}
	for i := range int32(s.n) {
		e := s.at(i)
		c := s.chunks[e.chunk][:e.off+e.size]
		// Make the record the second half: pad the front.
		pad := max(0, int(e.size)-int(e.off))
		f.Add(append(make([]byte, pad), c...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tb := strTable{strs: append([]string(nil), s.t.strs...), locs: s.t.locs, ids: map[string]uint32{}}
		for i, x := range tb.strs[1:] {
			tb.ids[x] = uint32(i + 1)
		}
		d := decoder{t: &tb, fresh: true}
		var got Finding
		off := len(b) / 2
		// A reader that omits every part skips them over any bytes
		// without panicking, and reads what a whole decode reads.
		lean := decoder{t: &tb, omit: OmitHead | OmitAttrs | OmitLine | OmitAddrs | OmitTimes}
		var part Finding
		leanErr := lean.decodeRecord(b, off, len(b)-off, &part)
		if err := d.decodeRecord(b, off, len(b)-off, &got); err != nil {
			return
		}
		if leanErr != nil {
			t.Fatalf("decodes whole, but not omitting parts: %v", leanErr)
		}
		chain := slices.Clone(got.Chain) // without its links' times, which it omits
		for i := range chain {
			chain[i].Time = time.Time{}
		}
		if part.Path != got.Path || part.Method != got.Method || part.Status != got.Status || part.Message != got.Message ||
			!reflect.DeepEqual(part.Value, got.Value) || !reflect.DeepEqual(part.Chain, chain) || part.Framework != got.Framework {
			t.Fatalf("omitting parts, the finding decodes to %+v, want %+v", part, got)
		}
		var again findingStore
		again.t = tb
		i := again.add(&got)
		var back Finding
		again.decode(&decoder{fresh: true}, i, &back)
		if !reflect.DeepEqual(back, got) {
			t.Fatalf("stored again, the finding decodes to %+v, want %+v", back, got)
		}
	})
}

// TestStoreOrderBigIndexes: findings whose direction and subject have
// table indexes past an entry's 16 bits (a table filled with 70,000
// strings first) come out in Compare's order, as do those with small ones.
func TestStoreOrderBigIndexes(t *testing.T) {
	for _, fill := range []int{0, 70000} {
		a := Aggregator{Each: true}
		for i := range fill {
			a.store.t.id("filler" + strconv.Itoa(i))
		}
		var want []Finding
		for i := range 300 {
			f := Finding{Rule: "missing-secure", Host: "h.example", Cookie: "c" + strconv.Itoa(i%7),
				Direction: []string{"response", "request", "zz"}[i%3], Subject: []string{"set-cookie", "cookie"}[i/3%2],
				File: "a.pcap", Frame: uint64(i % 4), order: int32(i % 2), Count: 1, Time: testNow, LastTime: testNow}
			a.Add(f)
			want = append(want, f)
		}
		if big := a.store.at(0).dir == bigIndex; big != (fill > 0) {
			t.Fatalf("fill %d: dir index %d", fill, a.store.at(0).dir)
		}
		slices.SortStableFunc(want, Compare)
		got := a.Findings()
		for i := range want {
			if Compare(got[i], want[i]) != 0 {
				t.Fatalf("fill %d: finding %d is %s/%s/%s frame %d, want %s/%s/%s frame %d", fill, i,
					got[i].Direction, got[i].Subject, got[i].Cookie, got[i].Frame, want[i].Direction, want[i].Subject, want[i].Cookie, want[i].Frame)
			}
		}
	}
}

// TestDecoderVarints: the decoder's inlined varint reading agrees with
// encoding/binary on values of every length, on cut and over-long
// encodings (errors), and leaves the bytes after the varint.
func TestDecoderVarints(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	var cases [][]byte
	for _, v := range []uint64{0, 1, 127, 128, 300, 1<<32 - 1, 1 << 63, 1<<64 - 1} {
		cases = append(cases, binary.AppendUvarint(nil, v))
	}
	for range 5000 {
		b := make([]byte, rng.IntN(13))
		for i := range b {
			b[i] = byte(rng.Uint32())
			if rng.IntN(3) == 0 {
				b[i] |= 0x80
			}
		}
		cases = append(cases, b)
	}
	cases = append(cases, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // 1<<64-1
		[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02},       // overflows
		[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00}) // over-long
	for _, b := range cases {
		want, n := binary.Uvarint(b)
		d := decoder{b: append(b, 0xAA)}
		got := d.uint()
		if n <= 0 {
			if !d.err {
				t.Errorf("uint(% x) = %d, no error; binary.Uvarint: %d", b, got, n)
			}
			continue
		}
		if d.err || got != want || len(d.b) != len(b)-n+1 {
			t.Errorf("uint(% x) = %d (err %v, %d bytes left), want %d (%d read)", b, got, d.err, len(d.b), want, n)
		}
		wantI, _ := binary.Varint(b)
		d = decoder{b: b}
		if gotI := d.int(); gotI != wantI {
			t.Errorf("int(% x) = %d, want %d", b, gotI, wantI)
		}
	}
}

// TestStoreOrderFiles: findings of several files, added in no particular
// order, come out in Compare's order (file names first, by their text,
// not by the order the store met them).
func TestStoreOrderFiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	files := []string{"z.pcap", "a.pcap", "", "m/n.pcap", "a.pcapng"}
	a := Aggregator{Each: true}
	var want []Finding
	for i := range 2000 {
		f := Finding{Rule: "missing-secure", Host: "h.example", Cookie: "c" + strconv.Itoa(rng.IntN(5)),
			Direction: "response", Subject: "set-cookie", File: files[rng.IntN(len(files))], Frame: uint64(rng.IntN(50)),
			order: int32(rng.IntN(3)), Count: 1, Time: testNow, LastTime: testNow, Message: uint64(i)}
		a.Add(f)
		want = append(want, f)
	}
	slices.SortStableFunc(want, Compare)
	got := a.Findings()
	for i := range want {
		if Compare(got[i], want[i]) != 0 {
			t.Fatalf("finding %d is %s frame %d, want %s frame %d", i, got[i].File, got[i].Frame, want[i].File, want[i].Frame)
		}
	}
}

// TestStrTableCached: the recent-index cache gives the table's index for
// every string, among many more strings than entries (collisions), and
// for a string whose bytes are a buffer written over between calls.
func TestStrTableCached(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	var tab strTable
	buf := []byte("session-0")
	for range 20000 {
		var s string
		if rng.IntN(4) == 0 {
			copy(buf[len("session-"):], strconv.Itoa(rng.IntN(10))) // same bytes, another string
			s = unsafe.String(&buf[0], len(buf))
		} else {
			s = "value-" + strconv.Itoa(rng.IntN(500))
		}
		slot := rng.IntN(numSlots)
		got := tab.cached(slot, s)
		if want := tab.id(s); got != want || tab.strs[got] != s {
			t.Fatalf("cached(%d, %q) = %d (%q), id %d", slot, s, got, tab.strs[got], want)
		}
	}
	if tab.cached(0, "") != 0 {
		t.Error(`cached("") is not 0`)
	}
}

// TestDecoderReusesShared: a decoder that reads findings one after
// another, in any order and with repeats, gives what a fresh decoder
// gives, whether a finding shares the part it read last (copied, not
// read again) or not.
func TestDecoderReusesShared(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	var s findingStore
	base := fullFinding()
	for i := range 300 {
		f := base
		f.Rule, f.Title, f.order = "rule-"+strconv.Itoa(i%5), "title "+strconv.Itoa(i%5), int32(i%5)
		if i%5 == 0 { // a new observation every five findings
			base.Path, base.Message = "/p/"+strconv.Itoa(i), uint64(i)
			base.Attrs = &Attributes{Unknown: []string{"u" + strconv.Itoa(i)}, MaxAge: new(int)}
			*base.Attrs.MaxAge = i
			if i%15 == 0 {
				base.Chain = []Link{{Kind: "login", Frame: uint64(i)}}
			} else {
				base.Chain = nil
			}
			f = base
		}
		s.add(&f)
	}
	var d decoder
	reused := 0
	var i int32
	for range 3000 {
		if rng.IntN(3) == 0 {
			i = int32(rng.IntN(s.n))
		} else {
			i = min(i+1, int32(s.n-1)) // mostly the next, as report order reads them
		}
		before := d.last.at
		var got, want Finding
		s.decode(&d, i, &got)
		if d.last.at == before && before != nil {
			reused++
		}
		s.decode(&decoder{fresh: true}, i, &want)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("finding %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
	if reused < 1000 {
		t.Errorf("the shared part was reused %d times of 3000", reused)
	}
}

// TestEntryLastTime: an entry is 64 bytes, and a finding's LastTime comes
// back as it was added and raised by later occurrences, as time.Time's
// After decides, for times an entry holds (UTC, Local, other locations)
// and those it does not (before 1678, after 2262, more locations than its
// 16 bits count), which the store keeps aside.
func TestEntryLastTime(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) == 8 && unsafe.Sizeof(entry{}) != 64 {
		t.Errorf("entry is %d bytes, want 64", unsafe.Sizeof(entry{}))
	}
	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("A", 3600), time.FixedZone("B", -7200)}
	times := []time.Time{{}, testNow, testNow.Add(-time.Hour), time.Date(1600, 1, 1, 0, 0, 0, 5, time.UTC),
		time.Date(2300, 1, 1, 0, 0, 0, 7, time.UTC), time.Unix(minNanoSec+1, 999999999), time.Unix(maxNanoSec-1, 0),
		time.Unix(minNanoSec, 0), time.Unix(maxNanoSec, 1)}
	rng := rand.New(rand.NewPCG(15, 16))
	pick := func() time.Time {
		x := times[rng.IntN(len(times))]
		if x.IsZero() {
			return x
		}
		return x.In(zones[rng.IntN(len(zones))])
	}
	var s findingStore
	var want []time.Time
	for i := range 2000 {
		f := Finding{Rule: "r", Cookie: strconv.Itoa(i), LastTime: pick()}
		s.add(&f)
		want = append(want, f.LastTime)
	}
	for range 6000 {
		i := int32(rng.IntN(s.n))
		x := pick()
		s.raiseLast(i, s.at(i), x)
		if x.After(want[i]) {
			want[i] = x
		}
	}
	for i := range want {
		var f Finding
		s.decode(&decoder{}, int32(i), &f)
		if !reflect.DeepEqual(f.LastTime, want[i]) {
			t.Fatalf("finding %d: LastTime %v (%v), want %v (%v)", i, f.LastTime, f.LastTime.Location(), want[i], want[i].Location())
		}
	}
	if len(s.bigLast) == 0 || len(s.bigLast) == s.n {
		t.Errorf("%d of %d LastTimes kept aside", len(s.bigLast), s.n)
	}
	// More locations than 16 bits count: the last ones are kept aside too.
	var many findingStore
	for k := range math.MaxInt16 + 10 {
		f := Finding{LastTime: testNow.In(time.FixedZone("Z", k))}
		many.add(&f)
	}
	for _, i := range []int32{0, math.MaxInt16, math.MaxInt16 + 9} {
		var f Finding
		many.decode(&decoder{}, i, &f)
		if _, off := f.LastTime.Zone(); off != int(i) || !f.LastTime.Equal(testNow) {
			t.Errorf("finding %d: LastTime %v", i, f.LastTime)
		}
	}
	if len(many.bigLast) != 9 {
		t.Errorf("%d LastTimes kept aside, want 9", len(many.bigLast))
	}
}

// TestSortedKey: Key gives finding i's Severity, Host and Cookie as At
// does, for folded findings (whose severity the entry raises) and with
// Each.
func TestSortedKey(t *testing.T) {
	for _, each := range []bool{false, true} {
		a := Aggregator{Each: each}
		for _, f := range foldOccurrences(2000, 7) {
			a.Add(f)
		}
		x := a.Release()
		if x.Len() < 10 {
			t.Fatalf("each %v: %d findings: the test needs more", each, x.Len())
		}
		for i := range x.Len() {
			sev, host, cookie := x.Key(i)
			f := x.At(i)
			if sev != f.Severity || host != f.Host || cookie != f.Cookie {
				t.Fatalf("each %v, finding %d: Key gives %v %q %q, At %v %q %q", each, i, sev, host, cookie, f.Severity, f.Host, f.Cookie)
			}
		}
	}
}

// TestOrderRadix: report order sorted by radix (runs of equal rank,
// frame and catalogue order, decided by the records; identical findings,
// with Each, by insertion) is the order the comparison sort gives, and it
// is Compare's order; with frames too far apart for one 64-bit number
// with the rest, the comparison sort is used.
func TestOrderRadix(t *testing.T) {
	defer func(b bool) { radixSort = b }(radixSort)
	for _, each := range []bool{false, true} {
		for _, n := range []int{1, 2, 3, 500, 5000} {
			a := Aggregator{Each: each}
			for i, f := range foldOccurrences(n, uint64(n)) {
				switch {
				case n == 500 && i%2 == 0:
					f.Frame = uint64(i) << 58 // far apart: no radix
				case n == 5000:
					f.Frame = uint64((i*7919)%n/2 + 1) // many frames, some shared
				}
				f.order = int32(i%5) - 2 // catalogue orders, some below zero
				a.Add(f)
				if each && n%2 == 1 {
					a.Add(f) // identical findings: tied but for their index
				}
			}
			radixSort = false
			one := a.order()
			radixSort = true
			two := a.order()
			if !slices.Equal(one, two) {
				t.Fatalf("each %v, %d occurrences: radix gives %v, the comparison sort %v", each, n, two, one)
			}
			if len(one) != a.Len() {
				t.Fatalf("each %v: %d of %d findings ordered", each, len(one), a.Len())
			}
			fs := a.Findings()
			for i := 1; i < len(fs); i++ {
				if Compare(fs[i-1], fs[i]) > 0 {
					t.Fatalf("each %v, %d occurrences: findings %d and %d out of order", each, n, i-1, i)
				}
			}
		}
	}
}

// TestSortedOmitting: a reader that omits parts gives every finding as At
// does with those parts' fields zero and every other field the same, for
// each set of parts, over findings with and without values, attributes,
// IPv6 zones, locations and chains, through the shared part reused or
// read again; its findings' Clone is whole.
func TestSortedOmitting(t *testing.T) {
	a := Aggregator{Each: true}
	rng := rand.New(rand.NewPCG(21, 22))
	for i, f := range foldOccurrences(600, 9) {
		switch i % 4 {
		case 0:
			f = fullFinding()
			f.Frame, f.Path = uint64(i), "/full/"+strconv.Itoa(i)
		case 1:
			f.Value, f.Attrs = nil, nil
		case 2:
			f.Time = f.Time.In(time.FixedZone("Z", 7200))
			f.Chain = []Link{{Kind: "login", File: "x.pcap", Frame: uint64(i), Time: f.Time, Detail: "d"}}
		}
		if rng.IntN(2) == 0 { // a second rule of the same observation: its shared part is referred back to
			g := f
			g.Rule, g.Title = "another-rule", "another"
			a.Add(g)
		}
		a.Add(f)
	}
	x := a.Release()
	zero := func(f Finding, omit Omit) Finding {
		if omit&OmitHead != 0 {
			f.Title, f.CWE, f.Fingerprint, f.Confidence, f.Fix = "", 0, "", 0, ""
		}
		if omit&OmitAttrs != 0 {
			f.Attrs = nil
		}
		if omit&OmitLine != 0 {
			f.Line, f.LineIndex = "", 0
		}
		if omit&OmitAddrs != 0 {
			f.Client, f.Server = netip.AddrPort{}, netip.AddrPort{}
		}
		if omit&OmitTimes != 0 {
			f.Time, f.LastTime = time.Time{}, time.Time{}
			if f.Chain != nil {
				f.Chain = slices.Clone(f.Chain)
				for i := range f.Chain {
					f.Chain[i].Time = time.Time{}
				}
			}
		}
		return f
	}
	for omit := range Omit(1 << 5) {
		y := x.Omitting(omit)
		for i := range x.Len() {
			want := zero(*x.Clone(i), omit)
			if got := y.At(i); !reflect.DeepEqual(*got, want) {
				t.Fatalf("omit %05b, finding %d:\n got %+v\nwant %+v", omit, i, *got, want)
			}
			if omit != 0 && i%50 == 0 && !reflect.DeepEqual(*y.Clone(i), *x.Clone(i)) {
				t.Fatalf("omit %05b: Clone(%d) is not whole", omit, i)
			}
		}
	}
}

// TestSortedStoreOrder: StoreOrder gives every report position once, in
// the order of the findings' records, for every finding and for those a
// Filter kept.
func TestSortedStoreOrder(t *testing.T) {
	a := Aggregator{Each: true}
	occ := foldOccurrences(3000, 11)
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(occ), func(i, j int) { occ[i], occ[j] = occ[j], occ[i] })
	for _, f := range occ {
		a.Add(f)
	}
	x := a.Release()
	y := x.Filter(func(f *Finding) bool { return f.Severity != Medium })
	for _, s := range []*Sorted{x, y} {
		order := s.StoreOrder()
		if len(order) != s.Len() {
			t.Fatalf("StoreOrder gives %d positions of %d", len(order), s.Len())
		}
		seen := make([]bool, s.Len())
		inOrder := 0
		for j, k := range order {
			if k < 0 || int(k) >= s.Len() || seen[k] {
				t.Fatalf("position %d given twice or out of range", k)
			}
			seen[k] = true
			if j > 0 && s.perm[k] <= s.perm[order[j-1]] {
				t.Fatalf("positions %d and %d: records %d then %d", order[j-1], k, s.perm[order[j-1]], s.perm[k])
			}
			if int(k) == j {
				inOrder++
			}
		}
		if inOrder > s.Len()/2 {
			t.Fatalf("%d of %d findings are stored in report order: the test needs them shuffled", inOrder, s.Len())
		}
	}
	if y.Len() == x.Len() || y.Len() == 0 {
		t.Fatalf("the filter kept %d of %d: the test needs some left out", y.Len(), x.Len())
	}
	if (*Sorted)(nil).StoreOrder() != nil {
		t.Error("a nil Sorted has a store order")
	}
}
