package rules

import (
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
