package rules

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/cookiewatch/cookiewatch/httpparse"
)

// BenchmarkEvaluateFolded runs every exchange of the catalogue's samples
// through the folded evaluation into an Aggregator, as a worker does: once
// the keys are kept, most occurrences fold (the steady state of a capture).
func BenchmarkEvaluateFolded(b *testing.B) {
	type exchange struct {
		req  *httpparse.Request
		resp *httpparse.Response
		tls  bool
	}
	var xs []exchange
	for _, r := range catalogue {
		for _, s := range append(append([]string(nil), r.Fires...), r.Silent...) {
			req, resp, tls := sampleExchange(s)
			xs = append(xs, exchange{req, resp, tls})
		}
	}
	var a Aggregator
	var opt Options
	var buf []Finding
	fold := func(f *Finding) bool { return a.Fold(f) }
	frame := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		for _, x := range xs {
			// Later frames, as in a capture: an occurrence in the frame of
			// its finding's evidence would be decoded to compare.
			frame += 2
			x.req.Frame, x.resp.Frame = frame, frame+1
			buf = AppendRequestFolded(buf[:0], x.req, x.tls, Hints{}, opt, fold)
			for _, f := range buf {
				a.Add(f)
			}
			buf = AppendResponseFolded(buf[:0], x.resp, x.tls, opt, fold)
			for _, f := range buf {
				a.Add(f)
			}
		}
	}
}

// BenchmarkStoreWrite encodes findings into a store (Each: every Add
// writes a record): the findings of the catalogue's samples, from
// IPv4 and IPv6 clients.
func BenchmarkStoreWrite(b *testing.B) {
	var fs []Finding
	for _, r := range catalogue {
		for _, s := range r.Fires {
			req, resp, tls := sampleExchange(s)
			if len(fs)%2 == 1 { // every other exchange over IPv6
				req.Client = netip.MustParseAddrPort("[2001:db8::c9bd:500c:ceec:7d8c]:61433")
				req.Server = netip.MustParseAddrPort("[2001:db8:0:ff::60]:9000")
				resp.Client, resp.Server = req.Client, req.Server
			}
			fs = AppendRequest(fs, req, tls, Hints{}, Options{})
			fs = AppendResponse(fs, resp, tls, Options{})
		}
	}
	for i := range fs {
		fs[i].File = "capture.pcap"
	}
	b.ReportAllocs()
	for b.Loop() {
		a := Aggregator{Each: true}
		for i := range fs {
			a.add(&fs[i])
		}
	}
}

// BenchmarkAggregatorNewKeys adds 50,000 findings of distinct keys (the
// index grows from 64 to 131,072 slots) and folds a second occurrence of
// each.
func BenchmarkAggregatorNewKeys(b *testing.B) {
	fs := make([]Finding, 50000)
	for i := range fs {
		fs[i] = Finding{Rule: "missing-secure", Host: "h" + strconv.Itoa(i%300) + ".example", Cookie: "c" + strconv.Itoa(i),
			Frame: uint64(i), Count: 1, Severity: Low}
	}
	b.ReportAllocs()
	for b.Loop() {
		var a Aggregator
		for i := range fs {
			a.add(&fs[i])
		}
		for i := range fs {
			f := fs[i]
			f.Frame += 1 << 20
			a.Fold(&f)
		}
	}
}

// BenchmarkOrder sorts 50,000 findings of 300 hosts into report order
// (Release's sort), frames mostly ascending as a capture adds them.
func BenchmarkOrder(b *testing.B) {
	var a Aggregator
	for i := range 50000 {
		a.add(&Finding{Rule: catalogue[i%len(catalogue)].ID, Host: "h" + strconv.Itoa(i%300) + ".example", Cookie: "c" + strconv.Itoa(i/300),
			Direction: "response", Subject: "set-cookie", File: "capture.pcap", Frame: uint64(i/3 + i%7), order: int32(i % len(catalogue)),
			Count: 1, Severity: Low})
	}
	b.ReportAllocs()
	for b.Loop() {
		a.order()
	}
}
