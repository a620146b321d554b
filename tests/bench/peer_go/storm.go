package main

// Sleep storm peer of sleep_storm.c: n goroutines, all released at one instant, each doing
// iters time.Sleep(d). Same verdict rules: no sleep may end early; wall = latest finish - start.

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func runStorm(n, iters int, d time.Duration) int {
	var wg sync.WaitGroup
	var early, late int64
	begin := make([]time.Time, n)
	end := make([]time.Time, n)
	created := time.Now()
	start := created.Add(200*time.Millisecond + time.Duration(n)*2*time.Microsecond)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if w := time.Until(start); w > 0 {
				time.Sleep(w)
			} else {
				atomic.AddInt64(&late, 1)
			}
			begin[i] = time.Now()
			for k := 0; k < iters; k++ {
				a := time.Now()
				time.Sleep(d)
				if time.Since(a) < d {
					atomic.AddInt64(&early, 1)
				}
			}
			end[i] = time.Now()
		}(i)
	}
	wg.Wait()
	last := start
	per := make([]float64, n)
	for i := range end {
		if end[i].After(last) {
			last = end[i]
		}
		per[i] = end[i].Sub(begin[i]).Seconds()
	}
	sort.Float64s(per)
	wall := last.Sub(start).Seconds()
	ideal := float64(iters) * d.Seconds()
	ok := 0
	if early == 0 && ideal > 0 {
		ok = 1
	}
	ratio := 0.0
	if ideal > 0 {
		ratio = wall / ideal
	}
	fmt.Printf("bench=peer_go ok=%d metric=wall_over_ideal value=%.6g mode=storm threads=%d iters=%d "+
		"sleep_ns=%d wall_s=%.6f ideal_s=%.6f thread_median_s=%.6f thread_max_s=%.6f late_starts=%d early_wakeups=%d\n",
		ok, ratio, n, iters, d.Nanoseconds(), wall, ideal, per[n/2], per[n-1], late, early)
	return 1 - ok
}
