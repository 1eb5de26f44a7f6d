package main

import (
	"math"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestMemBudget checks the budget policy: the collector is off until the
// heap reaches the budget (a soft memory limit), the limit grows past the
// live heap, the runtime's other memory and a headroom once they exceed
// the budget, and restore gives Go's settings back.
func TestMemBudget(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	const budget = 8 << 20
	restore := applyMemBudget(budget)
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Errorf("GC percent under a budget = %d, want -1 (off)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != budget {
		t.Errorf("memory limit = %d, want the budget %d", got, budget)
	}
	// 12 MiB of live data: more than the budget, so the limit must rise
	// to the live heap, the runtime's other memory (some MiB) and a
	// quarter of the budget (14 MiB and more) after a collection.
	live := make([][]byte, 12)
	for i := range live {
		live[i] = make([]byte, 1<<20)
		live[i][0] = byte(i)
	}
	deadline := time.Now().Add(5 * time.Second)
	limit := debug.SetMemoryLimit(-1)
	for limit < 14<<20 && time.Now().Before(deadline) {
		runtime.GC() // the finalizer runs after a cycle, on its own goroutine
		time.Sleep(10 * time.Millisecond)
		limit = debug.SetMemoryLimit(-1)
	}
	if limit < 14<<20 || limit > 32<<20 {
		t.Errorf("memory limit with 12 MiB live = %.1f MiB, want the live heap, the runtime's other memory and a quarter of the budget (14 to 32)", float64(limit)/(1<<20))
	}
	runtime.KeepAlive(live)
	restore()
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("memory limit after restore = %d, want none", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GC percent after restore = %d, want 100", got)
	}
}

// TestMemBudgetEnvironmentWins: GOGC or GOMEMLIMIT set by the user, or a
// budget of 0, leave the collector as Go configured it.
func TestMemBudgetEnvironmentWins(t *testing.T) {
	for _, env := range []struct{ gogc, limit string }{{"200", ""}, {"", "1GiB"}, {"", ""}} {
		t.Setenv("GOGC", env.gogc)
		t.Setenv("GOMEMLIMIT", env.limit)
		budget := int64(8 << 20)
		if env.gogc == "" && env.limit == "" {
			budget = 0
		}
		restore := applyMemBudget(budget)
		if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
			t.Errorf("GOGC=%q GOMEMLIMIT=%q budget %d: memory limit = %d, want untouched", env.gogc, env.limit, budget, got)
		}
		restore()
	}
}

// TestBudgetLimit: the limit is the budget while the live heap, the
// runtime's other memory and the headroom fit in it, and else leaves the
// heap a headroom of a quarter of the budget or an eighth of the live heap
// beyond the other memory (the rule before did not count it: with a 16 MiB
// budget, 12 MiB live and 11 MiB other memory it set 20 MiB, less than
// the heap already held).
func TestBudgetLimit(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct{ budget, live, other, want int64 }{
		{48 * mib, 23 * mib, 11 * mib, 48 * mib},        // the budget holds 23 + 11 + 12
		{48 * mib, 28 * mib, 11 * mib, 51 * mib},        // the 2 GB capture at its largest: 28 + 11 + 12
		{44 * mib, 23 * mib, 11 * mib, 45 * mib},        // with a 44 MiB budget: 23 + 11 + 11
		{44 * mib, 20 * mib, 11 * mib, 44 * mib},        // the budget holds
		{32 * mib, 20 * mib, 11 * mib, 39 * mib},        // 20 + 11 + 8
		{8 * mib, 100 * mib, 12 * mib, 124*mib + mib/2}, // 100 + 12 + 12.5 (an eighth of the live heap)
		{44 * mib, 0, 0, 44 * mib},                      // nothing live
		{44 * mib, 40 * mib, -mib, 51 * mib},            // other memory cannot be negative: 40 + 11
		{44 * mib, 60 * mib, 15 * mib, 86 * mib},        // 60 + 15 + 11
	} {
		if got := budgetLimit(c.budget, c.live, c.other); got != c.want {
			t.Errorf("budgetLimit(%d, %d, %d MiB) = %.2f MiB, want %.2f", c.budget/mib, c.live/mib, c.other/mib, float64(got)/mib, float64(c.want)/mib)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		budget, live, other := rng.Int64N(256*mib)+1, rng.Int64N(1<<34), rng.Int64N(64*mib)
		l := budgetLimit(budget, live, other)
		if l < budget || l-other-live < max(budget/4, live/8) {
			t.Fatalf("budgetLimit(%d, %d, %d) = %d: under the budget or a heap headroom of %d, want %d or more",
				budget, live, other, l, l-other-live, max(budget/4, live/8))
		}
	}
}
