package report

import (
	"bytes"
	"strconv"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/rules"
)

// TestStreamedEqualsMaterialised: every format writes the same bytes from
// a rules.Sorted, which decodes each finding into one reused value, as from
// the same findings materialised one by one (as reports read them before
// the findings left the heap). The findings vary in what writers cache or
// share between findings: values (equal, different, absent), attributes,
// chains, files and hosts.
func TestStreamedEqualsMaterialised(t *testing.T) {
	agg := rules.Aggregator{Each: true}
	for i, f := range append(benchFindings(3000), sampleFindings()...) {
		g := *f
		switch i % 4 {
		case 0:
			g.Value = nil
		case 1:
			g.Value = &rules.Value{Length: i % 7, Fingerprint: "sha256:" + strconv.Itoa(i/3), Raw: []string{"", "v" + strconv.Itoa(i%5)}[i%2]}
		}
		if i%11 == 0 {
			g.File = "second.pcap"
			g.Chain = []rules.Link{{Kind: "login", File: g.File, Frame: g.Frame, Time: g.Time, Detail: "POST /login"},
				{Kind: "request", Frame: g.Frame + 1, Time: g.Time.Add(time.Second)}}
		}
		agg.Add(g)
	}
	sorted := agg.Release()
	all := sorted.Materialise()
	sum := Summary{Files: []string{"bench.pcap", "second.pcap"}, Packets: 10}
	sum.Tally(sorted)
	var want Summary
	want.Files, want.Packets = sum.Files, sum.Packets
	want.Tally(List(all))
	if sum.Findings != want.Findings || sum.FindingHosts != want.FindingHosts || sum.Cookies != want.Cookies || len(all) != 3003 {
		t.Fatalf("Tally: streamed %+v, materialised %+v (%d findings)", sum, want, len(all))
	}
	lookup := func(id string) (rules.Rule, bool) { return rules.ByID(id) }
	for _, w := range []struct {
		name string
		new  func(*bytes.Buffer) interface {
			Write(*rules.Finding) error
			Close(Summary, Findings) error
		}
	}{
		{"table", func(b *bytes.Buffer) interface {
			Write(*rules.Finding) error
			Close(Summary, Findings) error
		} {
			return NewTable(b, true)
		}},
		{"table-explain", func(b *bytes.Buffer) interface {
			Write(*rules.Finding) error
			Close(Summary, Findings) error
		} {
			t := NewTable(b, false)
			t.Explain(lookup)
			return t
		}},
		{"json", func(b *bytes.Buffer) interface {
			Write(*rules.Finding) error
			Close(Summary, Findings) error
		} {
			return NewJSONLines(b)
		}},
		{"csv", func(b *bytes.Buffer) interface {
			Write(*rules.Finding) error
			Close(Summary, Findings) error
		} {
			return NewCSV(b)
		}},
		{"sarif", func(b *bytes.Buffer) interface {
			Write(*rules.Finding) error
			Close(Summary, Findings) error
		} {
			return NewSARIF(b)
		}},
		{"html", func(b *bytes.Buffer) interface {
			Write(*rules.Finding) error
			Close(Summary, Findings) error
		} {
			return NewHTML(b, HTMLOptions{Lookup: lookup})
		}},
	} {
		write := func(fs Findings) []byte {
			var b bytes.Buffer
			wr := w.new(&b)
			for i := range fs.Len() {
				if err := wr.Write(fs.At(i)); err != nil {
					t.Fatalf("%s: %v", w.name, err)
				}
			}
			if err := wr.Close(sum, fs); err != nil {
				t.Fatalf("%s: %v", w.name, err)
			}
			return b.Bytes()
		}
		got, exp := write(sorted), write(List(all))
		if len(exp) < 1000 || !bytes.Equal(got, exp) {
			t.Errorf("%s: streamed report (%d bytes) differs from the materialised one (%d bytes)", w.name, len(got), len(exp))
		}
	}
}
