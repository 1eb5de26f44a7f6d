package correlate

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cookiewatch/cookiewatch/rules"
)

// sinkCases are the configurations of TestRandomTrafficGolden.
var sinkCases = []struct {
	name    string
	cfg     Config
	seed    uint64
	n       int
	clients int
}{
	{"tight", Config{MaxValues: 25, MaxHosts: 5, MaxNames: 4, MaxLogins: 2, Window: 2 * time.Minute}, 1, 6000, 0},
	{"defaults", Config{}, 2, 6000, 0},
	{"window", Config{Window: 30 * time.Second}, 3, 6000, 0},
	{"clients", Config{}, 4, 6000, 19},
}

// TestSinkOrder: findings handed to a Sink without a fold are those Take
// and End return, in the same order: the golden output, byte for byte.
func TestSinkOrder(t *testing.T) {
	for _, tc := range sinkCases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Key = []byte("golden key")
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var w bytes.Buffer
			c.Sink(nil, func(f rules.Finding) { writeFinding(&w, f) })
			randomTraffic(&w, c, tc.seed, tc.n, tc.clients) // Take and End return nothing now
			want, err := readGzip(filepath.Join("testdata", "random-traffic-"+tc.name+".golden.gz"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(w.Bytes(), want) {
				t.Fatalf("sink output (%d bytes) differs from the golden file (%d bytes)", w.Len(), len(want))
			}
		})
	}
}

// TestSinkFold is a differential test of folding before building: the
// findings an Aggregator holds when the correlator offers each to its Fold
// first (and builds only those it refuses) are the ones it holds when every
// finding is built and Added — every field, evidence, count and chain — and
// the occurrences counted are the same. The traffic folds thousands of
// findings (leaks at End, mixed schemes, logins), so the test can fail.
func TestSinkFold(t *testing.T) {
	for _, tc := range sinkCases {
		t.Run(tc.name, func(t *testing.T) {
			run := func(fold bool) (rules.Aggregator, string, int, int) {
				cfg := tc.cfg
				cfg.Key = []byte("golden key")
				c, err := New(cfg)
				if err != nil {
					t.Fatal(err)
				}
				var agg rules.Aggregator
				folded, added := 0, 0
				var fn rules.Folder
				if fold {
					fn = func(f *rules.Finding) bool {
						if agg.Fold(f) {
							folded++
							return true
						}
						return false
					}
				}
				c.Sink(fn, func(f rules.Finding) { added++; agg.Add(f) })
				var w bytes.Buffer // stats and hosts only: the findings went to agg
				randomTraffic(&w, c, tc.seed, tc.n, tc.clients)
				return agg, w.String(), folded, added
			}
			built, wantRest, _, n := run(false)
			aggF, gotRest, folded, added := run(true)
			if folded+added != n {
				t.Errorf("folded %d + built %d occurrences, want %d", folded, added, n)
			}
			if folded < 100 || added == 0 {
				t.Errorf("folded %d, built %d: the traffic should exercise both", folded, added)
			}
			if gotRest != wantRest {
				t.Errorf("stats and hosts differ:\n%s\nwant\n%s", gotRest, wantRest)
			}
			var got, want bytes.Buffer
			for _, f := range aggF.Findings() {
				writeFinding(&got, f)
			}
			for _, f := range built.Findings() {
				writeFinding(&want, f)
			}
			if got.String() != want.String() {
				gl, wl := strings.Split(got.String(), "\n"), strings.Split(want.String(), "\n")
				for i := 0; i < len(gl) && i < len(wl); i++ {
					if gl[i] != wl[i] {
						t.Fatalf("line %d differs:\ngot  %s\nwant %s", i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%d lines, want %d", len(gl), len(wl))
			}
			t.Logf("%d occurrences: %d folded before being built, %d findings kept", n, folded, built.Len())
		})
	}
}
