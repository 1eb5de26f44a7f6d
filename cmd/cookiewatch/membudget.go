package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// defaultMemBudget is the memory the Go runtime may map before the
// collector runs (--mem-budget; a soft memory limit, which counts the
// heap and the runtime's own memory: its metadata, stacks and spans not
// yet given back). Go's default (GOGC=100) collects when the heap has
// grown to twice what was live after the last collection, so the peak
// follows the state a run holds: small captures collect very often, and
// the peak of a long run is twice its largest state. A budget makes memory
// a fixed, stated amount instead, as operators size a sensor. When the
// live heap, the runtime's other memory and a headroom no longer fit in
// the budget, the limit is raised to hold them (adjust), so the collector
// never runs back to back.
//
// docs/performance.md has the peak RSS and collections of the benchmark
// captures for budgets from 16 to 48 MiB: at 48 the 1 GB capture collects
// twice and the 2 GB capture three times.
const defaultMemBudget = 48 << 20

// memBudget is the process's memory budget, set once by main (tests run
// the CLI in-process and keep Go's defaults).
type memBudget struct {
	mu     sync.Mutex
	budget int64 // bytes: the floor of the limit
	limit  int64 // the soft memory limit now in force
	sample []metrics.Sample
	stop   bool
}

// The runtime/metrics a memBudget reads after each collection.
const (
	sampleLive     = iota // /gc/heap/live:bytes
	sampleTotal           // /memory/classes/total:bytes: all the runtime maps
	sampleReleased        // /memory/classes/heap/released:bytes: given back to the system
	sampleFree            // /memory/classes/heap/free:bytes: free pages, reusable
	sampleObjects         // /memory/classes/heap/objects:bytes: live and dead objects
	samples
)

var budgetMetrics = [samples]string{
	sampleLive:     "/gc/heap/live:bytes",
	sampleTotal:    "/memory/classes/total:bytes",
	sampleReleased: "/memory/classes/heap/released:bytes",
	sampleFree:     "/memory/classes/heap/free:bytes",
	sampleObjects:  "/memory/classes/heap/objects:bytes",
}

// applyMemBudget turns the collector from GOGC=100 into the budget policy.
// It does nothing when budget <= 0 or when the user set GOGC or GOMEMLIMIT
// (their setting wins). The returned function restores Go's defaults.
func applyMemBudget(budget int64) (restore func()) {
	if budget <= 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	m := &memBudget{budget: budget, sample: make([]metrics.Sample, samples)}
	for i, name := range budgetMetrics {
		m.sample[i].Name = name
	}
	oldPercent := debug.SetGCPercent(-1)
	oldLimit := debug.SetMemoryLimit(budget)
	m.limit = budget
	m.arm()
	return func() {
		m.mu.Lock()
		m.stop = true
		m.mu.Unlock()
		debug.SetMemoryLimit(oldLimit)
		debug.SetGCPercent(oldPercent)
	}
}

// arm runs m.adjust after the next collection: a finalizer runs once the
// collector has found its object unreachable, and re-arms itself. The
// object is larger than 16 bytes: smaller pointer-free objects share
// blocks in the tiny allocator, where a finalizer waits for its whole block.
func (m *memBudget) arm() {
	sentinel := new([64]byte)
	runtime.SetFinalizer(sentinel, func(*[64]byte) {
		if m.adjust() {
			m.arm()
		}
	})
}

// adjust sets the limit after a collection and reports whether to keep
// watching.
func (m *memBudget) adjust() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop {
		return false
	}
	metrics.Read(m.sample)
	var v [samples]int64
	for i, s := range m.sample {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = int64(min(s.Value.Uint64(), math.MaxInt64/8))
		}
	}
	limit := budgetLimit(m.budget, v[sampleLive], v[sampleTotal]-v[sampleReleased]-v[sampleFree]-v[sampleObjects])
	if limit != m.limit {
		debug.SetMemoryLimit(limit)
		m.limit = limit
	}
	return true
}

// budgetLimit is the soft memory limit for a budget, the live heap after a
// collection and the runtime's other memory (its metadata, stacks, profile
// buckets and the unused parts of heap spans: what the limit counts besides
// the heap's pages, which the heap cannot grow into): the budget, or, when
// that does not hold them all with a headroom of a quarter of the budget
// or an eighth of the live heap, whichever is more, all of them.
//
// The headroom is what the heap may grow by before the next collection.
// The rule before counted the live heap only (the live heap plus half the
// budget, or a quarter of the live heap): the runtime's other memory, some
// 11 MB on the benchmark captures, came out of that, so a budget under
// about twice that left the heap nothing to grow into and the collector ran
// back to back. On the 1 GB capture (gctrace, session 6): --mem-budget 16
// collected 170 times (2.5-2.9 s of CPU) with the old rule, 26 times
// (1.2-1.7 s) with this one; --mem-budget 24: 20 and 11; the default: 2 and 2.
func budgetLimit(budget, live, other int64) int64 {
	return max(budget, live+max(other, 0)+max(budget/4, live/8))
}
