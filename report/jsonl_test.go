package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cookiewatch/cookiewatch/rules"
)

// TestAppendFindingAsJSON: appendFinding writes the bytes encoding/json
// writes for a finding's record, for findings with every field set or
// left out and text that needs escaping; a field added to Finding and not
// to appendFinding fails it (the all-fields finding sets every field).
func TestAppendFindingAsJSON(t *testing.T) {
	fs := append(append(sampleFindings(), benchFindings(100)...), randomFindings(2000)...)
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	for i := range fs {
		want.Reset()
		if err := enc.Encode(newFindingRecord(fs[i])); err != nil {
			t.Fatal(err)
		}
		got, ok := appendFinding(nil, fs[i])
		if !ok {
			t.Fatalf("finding %d left to encoding/json", i)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("finding %d:\ngot:  %s\nwant: %s", i, got, want.Bytes())
		}
	}
}

// TestAppendFindingFields: appendFinding writes every JSON field of
// Finding (a new one must be added to it, in its place).
func TestAppendFindingFields(t *testing.T) {
	known := "rule title cwe fingerprint subject cookie value scheme session framework fix direction deletion " +
		"attributes header host client server file frame method path status tls truncated_header chain count"
	var got []string
	ft := reflect.TypeFor[rules.Finding]()
	for i := range ft.NumField() {
		f := ft.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		got = append(got, name)
	}
	if s := strings.Join(got, " "); s != known {
		t.Errorf("Finding's JSON fields are\n%s\nappendFinding writes\n%s", s, known)
	}
}

// randomFindings returns n findings with every field set, or some left
// out, and text that needs escaping (or quoting) in every string field.
func randomFindings(n int) []*rules.Finding {
	strs := []string{"", "a", "PHPSESSID", `"q"`, `back\slash`, "tab\t", "nl\n", "\x00\x01\x1f\x7f", "<&>", "é→…",
		"\u2028\u2029", "\xff\xfe", "bidi\u202e", "\u0085c1", "日本", "🍪"}
	rng := rand.New(rand.NewPCG(5, 6))
	str := func() string {
		s := ""
		for range rng.IntN(3) {
			s += strs[rng.IntN(len(strs))]
		}
		return s
	}
	addrs := []netip.AddrPort{{}, netip.MustParseAddrPort("10.0.0.1:5000"), netip.MustParseAddrPort("[2001:db8::1]:80"),
		netip.AddrPortFrom(netip.MustParseAddr("fe80::1%eth\"0"), 8080), netip.MustParseAddrPort("[::ffff:1.2.3.4]:1")}
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 123456789, time.FixedZone("x", 3600))
	maxAge := -5
	all := func() rules.Finding {
		return rules.Finding{Rule: str(), Title: str(), Severity: rules.Severity(rng.IntN(5)), Confidence: rules.Confidence(rng.IntN(3)),
			CWE: rng.IntN(1000) - 1, Fingerprint: str(), Subject: str(), Cookie: str(),
			Value:   &rules.Value{Length: rng.IntN(100), Fingerprint: str(), Raw: str()},
			Scheme:  str(),
			Session: rules.Session{Session: rng.IntN(2) == 0, Confidence: str(), Reason: str()}, Framework: rules.FrameworkInfo{ID: str(), Name: str(), Reason: str()},
			Fix: str(), Direction: str(), Deletion: rng.IntN(2) == 0,
			Attrs: &rules.Attributes{Secure: rng.IntN(2) == 0, HttpOnly: rng.IntN(2) == 0, SameSite: str(), Domain: str(), Path: str(),
				MaxAge: &maxAge, Expires: str(), Partitioned: rng.IntN(2) == 0, Unknown: []string{str(), str()}, Malformed: str()},
			Line: str(), LineIndex: 3, Message: 9, Host: str(), Client: addrs[rng.IntN(len(addrs))], Server: addrs[rng.IntN(len(addrs))],
			File: str(), Frame: rng.Uint64(), Time: t0.Add(time.Duration(rng.IntN(1e9))), Method: str(), Path: str(),
			Status: rng.IntN(3) * 200, TLS: rng.IntN(2) == 0, Truncated: rng.IntN(2) == 0, Count: rng.IntN(3),
			LastTime: t0.Add(time.Duration(rng.IntN(2)) * time.Second)}
	}
	var fs []*rules.Finding
	for range n {
		f := all()
		switch rng.IntN(4) { // leave pointers and slices out too
		case 0:
			f.Value, f.Attrs = nil, nil
		case 1:
			f.Attrs.MaxAge, f.Attrs.Unknown = nil, nil
		case 2:
			f.Attrs.Unknown, f.Chain = []string{}, []rules.Link{}
		case 3:
			for range 1 + rng.IntN(3) {
				f.Chain = append(f.Chain, rules.Link{Kind: str(), File: str(), Frame: rng.Uint64(), Time: t0.Add(time.Duration(rng.IntN(1e9))), Detail: str()})
			}
		}
		fs = append(fs, &f)
	}
	return fs
}

// TestJSONLinesWriteAll: JSON Lines given every finding at once (WriteAll,
// two goroutines rendering parts in turn from parallelFrom findings) are
// the lines Write gives one finding at a time, terminal escaping
// included, from a rules.Sorted and from a List, with a part cut short;
// a failed write is the same error.
func TestJSONLinesWriteAll(t *testing.T) {
	var fs List
	for i, f := range append(append(sampleFindings(), benchFindings(1000)...), randomFindings(2000)...) {
		g := *f
		if i%50 == 0 {
			g.Path = "/\u009b31m\u202e" + g.Path // escaped for terminals
		}
		fs = append(fs, &g)
	}
	agg := rules.Aggregator{Each: true}
	for _, f := range fs {
		agg.Add(*f)
	}
	sorted := agg.Release()
	if sorted.Len()%partFindings == 0 {
		t.Fatalf("%d findings: the test needs a last part cut short", sorted.Len())
	}
	defer func(n int) { parallelFrom = n }(parallelFrom)
	for _, src := range []Findings{sorted, List(sorted.Materialise())} {
		var want bytes.Buffer
		w := NewJSONLines(&want)
		for i := range src.Len() {
			if err := w.Write(src.At(i)); err != nil {
				t.Fatal(err)
			}
		}
		if !strings.Contains(want.String(), `\u009b`) || !strings.Contains(want.String(), `\u202e`) {
			t.Fatal("the lines lack the escapes the test needs")
		}
		for _, from := range []int{1 << 30, 0} {
			parallelFrom = from
			var got bytes.Buffer
			if err := NewJSONLines(&got).WriteAll(src); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Fatalf("%T, parallelFrom %d: WriteAll wrote %d bytes unlike Write's %d", src, from, got.Len(), want.Len())
			}
			one := NewJSONLines(failingWriter{}).Write(src.At(0))
			all := NewJSONLines(failingWriter{}).WriteAll(src)
			if one == nil || all == nil || one.Error() != all.Error() {
				t.Fatalf("parallelFrom %d: a failed write: Write %v, WriteAll %v", from, one, all)
			}
		}
	}
}

// failingWriter is a writer whose writes fail.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWriteFailed }

var errWriteFailed = errors.New("write failed")

// TestTerminalSafeJSONLong: terminalSafeJSON escapes the C1 and
// bidirectional controls of long writes of mixed text (ASCII runs of every
// length between non-ASCII runes, as a write of many lines has) as a
// rune-by-rune escaping does, and leaves other text alone.
func TestTerminalSafeJSONLong(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pieces := []string{"\u009b", "\u202e", "é", "→", "\u0085", "\u2066", "\"", "\n", "x"}
	for range 200 {
		var in strings.Builder
		for range rng.IntN(200) {
			in.WriteString(strings.Repeat("a", rng.IntN(20)))
			in.WriteString(pieces[rng.IntN(len(pieces))])
		}
		var want strings.Builder
		for _, r := range in.String() {
			if r >= utf8.RuneSelf && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r)) {
				fmt.Fprintf(&want, `\u%04x`, r)
				continue
			}
			want.WriteRune(r)
		}
		var got bytes.Buffer
		if _, err := (terminalSafeJSON{&got}).Write([]byte(in.String())); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("escaped %q\nas %q\nwant %q", in.String(), got.String(), want.String())
		}
	}
}
