package main

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"
)

// TestFeedMerge drives several feeds from their own goroutines with random
// events and progress marks (more events than the batches in flight hold, a
// slow and a fast worker, a feed that sends nothing, one that closes with a
// batch half full) and checks that merge hands on every event exactly once,
// in the canonical order: by the worker's frame, then the message's frame,
// addresses and order within the worker.
func TestFeedMerge(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			const frames = 40000
			chs := make([]chan corrEvent, workers)
			feeds := make([]*feed, workers)
			var want []corrEvent
			for i := range chs {
				chs[i] = make(chan corrEvent, 256)
				feeds[i] = &feed{ch: chs[i]}
			}
			// Each worker's script: the frames it processes and what it sends there.
			type step struct {
				frame uint64
				ev    []corrEvent
			}
			scripts := make([][]step, workers)
			for i := range scripts {
				rng := rand.New(rand.NewPCG(uint64(workers), uint64(i)))
				var seq uint64
				for fr := uint64(1); fr <= frames; fr++ {
					st := step{frame: fr}
					n := 0
					if i != 1 || workers < 3 { // with three workers, worker 1 sends nothing
						n = rng.IntN(3) * rng.IntN(2)
					}
					for range n {
						seq++
						cli := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i), byte(rng.IntN(4))}), 1000)
						e := corrEvent{frame: fr - uint64(rng.IntN(3)), client: cli, host: fmt.Sprintf("w%d-%d", i, seq)}
						st.ev = append(st.ev, e)
						w := e
						w.at, w.seq = fr, seq
						want = append(want, w)
					}
					scripts[i] = append(scripts[i], st)
				}
			}
			slices.SortStableFunc(want, func(a, b corrEvent) int {
				return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.frame, b.frame), a.client.Compare(b.client),
					a.server.Compare(b.server), cmp.Compare(a.seq, b.seq))
			})
			var got []corrEvent
			done := make(chan struct{})
			go func() {
				mergeEvents(chs, func(e corrEvent) { got = append(got, e) })
				close(done)
			}()
			var wg sync.WaitGroup
			for i, f := range feeds {
				wg.Go(func() {
					defer close(f.ch)
					var cur uint64
					f.frame = func() uint64 { return cur }
					rng := rand.New(rand.NewPCG(7, uint64(i)))
					for _, st := range scripts[i] {
						cur = st.frame
						if cur%1024 == 0 {
							f.mark(cur)
						}
						for _, e := range st.ev {
							f.send(e)
						}
						if i == 0 && rng.IntN(64) == 0 {
							for range 200 { // a slow worker
								_ = rng.Uint64()
							}
						}
					}
				})
			}
			wg.Wait()
			<-done
			if len(got) != len(want) {
				t.Fatalf("%d events merged, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].host != want[i].host || got[i].at != want[i].at || got[i].seq != want[i].seq {
					t.Fatalf("event %d: %s at %d seq %d, want %s at %d seq %d", i, got[i].host, got[i].at, got[i].seq,
						want[i].host, want[i].at, want[i].seq)
				}
			}
		})
	}
}
