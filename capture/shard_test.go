package capture

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"sort"
	"testing"

	"github.com/cookiewatch/cookiewatch/internal/gen"
)

// TestShards splits a generated capture (with loss, reordering,
// retransmission and mid-stream starts) among 1, 2 and 3 shards: every
// connection lands in exactly one shard, with the same bytes, spans (frame
// numbers of the file), gaps and close as without sharding, and the merged
// Stats equal the unsharded ones.
func TestShards(t *testing.T) {
	var pcap bytes.Buffer
	if _, err := gen.Generate(gen.Config{Seed: 7, Bytes: 4 << 20, Conns: 200, Faults: true}, &pcap, io.Discard); err != nil {
		t.Fatal(err)
	}
	run := func(shards int) (map[string]string, Stats) {
		got := map[string]string{}
		var stats []Stats
		for i := 0; i < max(1, shards); i++ {
			f, err := NewReader("gen", bytes.NewReader(pcap.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			rec := &recorder{}
			a, err := NewAnalyzer(Config{Shard: i, Shards: shards}, rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.Run(f); err != nil {
				t.Fatal(err)
			}
			rec.check(t)
			for _, c := range rec.conns {
				k := fmt.Sprintf("%v>%v#%d", c.key.A, c.key.B, len(got))
				for n := 0; ; n++ { // a 4-tuple may be reused: number the copies
					k = fmt.Sprintf("%v>%v#%d", c.key.A, c.key.B, n)
					if _, dup := got[k]; !dup {
						break
					}
				}
				got[k] = fmt.Sprintf("%q %q %v %v %v", c.bytes[0].String(), c.bytes[1].String(), c.spans, c.gaps, c.closes)
			}
			stats = append(stats, a.Stats())
		}
		return got, MergeShards(stats)
	}
	want, wantStats := run(0)
	if len(want) < 100 {
		t.Fatalf("only %d connections generated", len(want))
	}
	for _, n := range []int{2, 3} {
		got, gotStats := run(n)
		if !reflect.DeepEqual(got, want) {
			var missing []string
			for k := range want {
				if got[k] != want[k] {
					missing = append(missing, k)
				}
			}
			sort.Strings(missing)
			t.Errorf("%d shards: %d of %d connections differ, e.g. %v", n, len(missing), len(want), missing[:min(3, len(missing))])
		}
		if !reflect.DeepEqual(gotStats, wantStats) {
			t.Errorf("%d shards: merged stats\n got %+v\nwant %+v", n, gotStats, wantStats)
		}
	}
}

func TestNewAnalyzerBadShard(t *testing.T) {
	if _, err := NewAnalyzer(Config{Shard: 2, Shards: 2}, &recorder{}); err == nil {
		t.Error("shard 2 of 2 accepted")
	}
}
