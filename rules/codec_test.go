package rules

import (
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"
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

// roundTrip encodes f and decodes it, fresh and into a reused decoder:
// every field but those the store's entry keeps (Count, LastTime,
// Severity), which decode zeroes.
func roundTrip(t *testing.T, f Finding) {
	t.Helper()
	var tab strTable
	rec := appendRecord(nil, &f, &tab)
	f.Count, f.LastTime, f.Severity = 0, time.Time{}, SeverityInvalid
	for _, fresh := range []bool{true, false} {
		d := decoder{t: &tab, fresh: fresh}
		var got Finding
		if err := d.decode(rec, &got); err != nil {
			t.Fatalf("decode (fresh %v): %v", fresh, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("fresh %v: round trip\n got %+v\nwant %+v", fresh, got, f)
		}
	}
}

// TestRecordRoundTrip: every field of a Finding survives the codec, with
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

// TestRecordCorrupt: a record cut anywhere, or with an index past the
// table, is an error, not a panic.
func TestRecordCorrupt(t *testing.T) {
	var tab strTable
	f := fullFinding()
	rec := appendRecord(nil, &f, &tab)
	d := decoder{t: &tab}
	var got Finding
	for n := range len(rec) {
		if err := d.decode(rec[:n], &got); err == nil {
			t.Fatalf("record cut at %d of %d decoded", n, len(rec))
		}
	}
	short := strTable{strs: tab.strs[:2], locs: tab.locs}
	d.t = &short
	if err := d.decode(rec, &got); err == nil {
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

// FuzzRecord: decoding any bytes fails or gives a finding whose record
// decodes to the same finding again; it never panics.
func FuzzRecord(f *testing.F) {
	var tab strTable
	for _, x := range []Finding{fullFinding(), {}, {Value: &Value{}, Attrs: &Attributes{}, Chain: []Link{}}} {
		f.Add(appendRecord(nil, &x, &tab))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tb := strTable{strs: append([]string(nil), tab.strs...), locs: tab.locs}
		d := decoder{t: &tb, fresh: true}
		var got Finding
		if err := d.decode(b, &got); err != nil {
			return
		}
		rec := appendRecord(nil, &got, &tb)
		var again Finding
		if err := d.decode(rec, &again); err != nil {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if !reflect.DeepEqual(again, got) {
			t.Fatalf("re-encoded record decodes to %+v, want %+v", again, got)
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
