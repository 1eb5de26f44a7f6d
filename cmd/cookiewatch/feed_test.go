package main

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/cookiewatch/cookiewatch/httpparse"
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

// TestFeedMergeArena sends transient requests and responses (their text in
// a buffer overwritten as soon as feed returns, as httpparse reuses its
// own) through feeds of two workers, one of which ends thousands of
// messages in one frame: more than its batches hold, so merge must give
// batches back before that frame's group is applied (merger.detach), or
// the worker waits for a batch forever. Every message must arrive intact.
func TestFeedMergeArena(t *testing.T) {
	const workers, frames, burstFrame, burst = 2, 3000, 1500, 3 * feedBatch * feedBatches
	chs := make([]chan corrEvent, workers)
	feeds := make([]*feed, workers)
	for i := range chs {
		chs[i] = make(chan corrEvent, 256)
		feeds[i] = &feed{ch: chs[i]}
	}
	type seen struct{ path, host, cookie, loc string }
	var got []seen
	done := make(chan struct{})
	go func() {
		mergeEvents(chs, func(e corrEvent) {
			switch {
			case e.req != nil:
				got = append(got, seen{strings.Clone(e.req.Path), strings.Clone(e.req.Host), strings.Clone(e.req.Cookies[0].Value), ""})
			case e.resp != nil:
				got = append(got, seen{strings.Clone(e.resp.Request.Path), strings.Clone(e.resp.Request.Host),
					strings.Clone(e.resp.SetCookies[0].Value), strings.Clone(e.resp.Headers[0].Value)})
			}
		})
		close(done)
	}()
	var want []seen
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, f := range feeds {
		wg.Go(func() {
			defer close(f.ch)
			var cur uint64
			f.frame = func() uint64 { return cur }
			buf := make([]byte, 0, 256)
			text := func(s string) string { // a string in buf, as a transient message's
				off := len(buf)
				buf = append(buf, s...)
				return unsafe.String(&buf[off], len(s))
			}
			var mine []seen
			n := 0
			for fr := uint64(1); fr <= frames; fr++ {
				cur = fr
				if fr%256 == 0 {
					f.mark(fr)
				}
				k := 1
				if i == 0 && fr == burstFrame {
					k = burst
				}
				for range k {
					n++
					buf = buf[:0]
					w := seen{fmt.Sprintf("/w%d/%d", i, n), fmt.Sprintf("h%d.example", n%7), fmt.Sprintf("v%d", n), ""}
					req := &httpparse.Request{Message: httpparse.Message{Frame: fr}, Method: text("GET"), Path: text(w.path), Host: text(w.host),
						Cookies: []httpparse.Cookie{{Name: text("sid"), Value: text(w.cookie)}}}
					if n%2 == 0 {
						f.request("f.pcap", req)
					} else {
						w.loc = "https://x/" + w.cookie
						resp := &httpparse.Response{Message: httpparse.Message{Frame: fr, Headers: []httpparse.Header{{Name: "Location", Value: text(w.loc)}}},
							Status: 302, Request: req, SetCookies: []httpparse.SetCookie{{Name: text("sid"), Value: text(w.cookie)}}}
						f.response("f.pcap", resp)
					}
					for j := range buf {
						buf[j] = '#' // reused by the parser
					}
					mine = append(mine, w)
				}
			}
			mu.Lock()
			want = append(want, mine...)
			mu.Unlock()
		})
	}
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("merge did not finish: a worker waits for a batch merge holds")
	}
	wg.Wait()
	if len(got) != len(want) {
		t.Fatalf("%d messages merged, want %d", len(got), len(want))
	}
	sortSeen := func(s []seen) {
		slices.SortFunc(s, func(a, b seen) int { return cmp.Compare(a.path, b.path) })
	}
	sortSeen(got)
	sortSeen(want)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d arrived as %+v, sent %+v", i, got[i], want[i])
		}
	}
}
