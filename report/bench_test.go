package report

import (
	"io"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/rules"
)

// benchFindings are n findings shaped like those of the 1 GB benchmark
// capture: 300 hosts, 20 cookie names, every per-message rule, in report
// order (rules.Compare).
func benchFindings(n int) []*rules.Finding {
	cat := rules.Catalogue()
	t0 := time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	fs := make([]*rules.Finding, n)
	for i := range fs {
		r := cat[i%len(cat)]
		host := "api" + strconv.Itoa(i%300) + ".shop" + strconv.Itoa(i%300%37) + ".net"
		cookie := "SESS" + strconv.Itoa(i%20)
		f := &rules.Finding{Rule: r.ID, Title: r.Title, Severity: r.Severity, Confidence: r.Confidence, CWE: r.CWE,
			Fingerprint: rules.Fingerprint(r.ID, host, cookie), Subject: "set-cookie", Cookie: cookie,
			Value:     &rules.Value{Length: 32, Fingerprint: "sha256:0123456789ab"},
			Session:   rules.Session{Session: true, Confidence: "certain", Reason: "known session cookie name (PHP)"},
			Framework: rules.FrameworkInfo{ID: "php", Name: "PHP", Reason: "cookie name (PHP)"}, Fix: r.Fix,
			Direction: "response", Host: host, Client: netip.MustParseAddrPort("10.0.0.1:5000"),
			Server: netip.MustParseAddrPort("192.0.2.7:80"), File: "bench.pcap", Frame: uint64(i + 1),
			Time: t0.Add(time.Duration(i) * time.Millisecond), LastTime: t0.Add(time.Duration(i) * time.Second),
			Count: 1 + i%5, Method: "GET", Path: "/account/login?next=/cart&id=" + strconv.Itoa(i), Status: 200,
			Attrs: &rules.Attributes{HttpOnly: true, SameSite: "Lax", Path: "/"}}
		if i%7 == 0 {
			f.Subject, f.Direction, f.Status, f.Attrs = "cookie", "request", 0, nil
		}
		fs[i] = f
	}
	return fs
}

// benchRender measures writing n findings and the summary in one format,
// as run does (Write for each finding, then Close).
func benchRender(b *testing.B, n int, mk func(io.Writer) interface {
	Write(*rules.Finding) error
	Close(Summary, Findings) error
}) {
	fs := benchFindings(n)
	sum := Summary{Files: []string{"bench.pcap"}, Packets: 1204071}
	sum.Tally(List(fs))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w := mk(io.Discard)
		for _, f := range fs {
			if err := w.Write(f); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(sum, List(fs)); err != nil {
			b.Fatal(err)
		}
	}
}

type findingWriter = interface {
	Write(*rules.Finding) error
	Close(Summary, Findings) error
}

const benchN = 54780 // findings of the 1 GB benchmark capture

func BenchmarkRenderTable(b *testing.B) {
	benchRender(b, benchN, func(w io.Writer) findingWriter { return NewTable(w, false) })
}

func BenchmarkRenderJSON(b *testing.B) {
	benchRender(b, benchN, func(w io.Writer) findingWriter { return NewJSONLines(w) })
}

func BenchmarkRenderCSV(b *testing.B) {
	benchRender(b, benchN, func(w io.Writer) findingWriter { return NewCSV(w) })
}

func BenchmarkRenderSARIF(b *testing.B) {
	benchRender(b, benchN, func(w io.Writer) findingWriter { return NewSARIF(w) })
}
