package main

import (
	"fmt"
	"os"
	"time"
)

// Temporary, uncommitted: COOKIEWATCH_TIMING=1 prints phase times.
var timingOn = os.Getenv("COOKIEWATCH_TIMING") != ""
var timingLast = time.Now()

func phase(name string) {
	if !timingOn {
		return
	}
	now := time.Now()
	fmt.Fprintf(os.Stderr, "T %-12s %7.1f ms\n", name, float64(now.Sub(timingLast).Microseconds())/1000)
	timingLast = now
}
