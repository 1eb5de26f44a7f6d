package main

import (
	"math"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// TestMemBudget checks the budget policy: the collector is off until the
// heap reaches the budget (a soft memory limit), the limit grows to twice
// the live heap once that exceeds half the budget, and restore gives Go's
// settings back.
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
	// 12 MiB of live data: more than half the budget, so the limit must
	// rise to the live heap plus half the budget (16 MiB) after a
	// collection.
	live := make([][]byte, 12)
	for i := range live {
		live[i] = make([]byte, 1<<20)
		live[i][0] = byte(i)
	}
	deadline := time.Now().Add(5 * time.Second)
	limit := debug.SetMemoryLimit(-1)
	for limit < 16<<20 && time.Now().Before(deadline) {
		runtime.GC() // the finalizer runs after a cycle, on its own goroutine
		time.Sleep(10 * time.Millisecond)
		limit = debug.SetMemoryLimit(-1)
	}
	if limit < 16<<20 || limit > 24<<20 {
		t.Errorf("memory limit with 12 MiB live = %d MiB, want the live heap plus half the budget (about 16)", limit>>20)
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
