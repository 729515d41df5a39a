package notify

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// BenchmarkFeedWake is one change handed to 1,000 and 10,000 readers waiting on
// their feeds (a stream's or a worker's loop, without the writing): the
// wait on the tap's signal alone ("signal", Feed.Next now) beside the
// select on the context, the signal and an idle timer reset at every change
// ("select", Feed.Next before). ns/op is per change and reader.
//
//	go test -run '^$' -bench FeedWake -count 6 ./notify
func BenchmarkFeedWake(b *testing.B) {
	for _, readers := range []int{1000, 10000} {
		for _, mode := range []string{"select", "signal"} {
			b.Run(fmt.Sprintf("%s-%d", mode, readers), func(b *testing.B) {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				taps := make([]*Tap, readers)
				var got atomic.Int64
				var all sync.WaitGroup
				done := make(chan struct{}, 1)
				for i := range taps {
					fd, tap := feedOfTap()
					taps[i] = tap
					all.Add(1)
					go func() {
						defer all.Done()
						defer fd.Close()
						var timer *time.Timer
						for {
							var err error
							if mode == "signal" {
								_, err = fd.Next(ctx, time.Minute)
							} else {
								if timer == nil {
									timer = time.NewTimer(time.Minute)
								} else {
									timer.Reset(time.Minute)
								}
								_, err = tap.next(ctx, timer.C)
							}
							if err != nil {
								return
							}
							if got.Add(1)%int64(readers) == 0 {
								done <- struct{}{}
							}
						}
					}()
				}
				b.ResetTimer()
				cpu := processCPU()
				for n := range b.N {
					for _, t := range taps {
						t.push(Entry{Seq: uint64(n + 1)}, 100)
					}
					<-done
				}
				b.StopTimer()
				cpu = processCPU() - cpu
				cancel()
				all.Wait()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*readers), "ns/reader")
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*readers), "cpu-ns/reader")
			})
		}
	}
}

// processCPU is the CPU time this process used so far (user and system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
