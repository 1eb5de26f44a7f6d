package main

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// defaultMemBudget is the heap the collector may use before it runs
// (--mem-budget). Go's default (GOGC=100) collects when the heap has grown
// to twice what was live after the last collection, so the peak follows
// the state a run holds: small captures collect very often, and the peak
// of a long run is twice its largest state. A budget makes memory a fixed,
// stated amount instead, as operators size a sensor: the collector runs
// when the heap reaches the budget. Once the live state exceeds half the
// budget, the limit becomes the live heap plus half the budget (plus a
// quarter of the live heap for very large states, as GOGC=25 would), so
// the collector never runs back to back. Measured on the 2 GB capture
// (docs/performance.md): a headroom of a quarter of the budget instead
// saved 6 MB of RSS for 15-20% more CPU (31 collections instead of 14).
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

// applyMemBudget turns the collector from GOGC=100 into the budget policy.
// It does nothing when budget <= 0 or when the user set GOGC or GOMEMLIMIT
// (their setting wins). The returned function restores Go's defaults.
func applyMemBudget(budget int64) (restore func()) {
	if budget <= 0 || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	m := &memBudget{budget: budget, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
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

// adjust sets the limit to max(budget, live + max(budget/2, live/4)) after
// a collection and reports whether to keep watching.
func (m *memBudget) adjust() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stop {
		return false
	}
	metrics.Read(m.sample)
	live := int64(0)
	if m.sample[0].Value.Kind() == metrics.KindUint64 {
		live = int64(min(m.sample[0].Value.Uint64(), math.MaxInt64/4))
	}
	limit := max(m.budget, live+max(m.budget/2, live/4))
	if limit != m.limit {
		debug.SetMemoryLimit(limit)
		m.limit = limit
	}
	return true
}
