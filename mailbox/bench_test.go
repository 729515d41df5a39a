package mailbox_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/presenced/presenced/core"
	"github.com/presenced/presenced/mailbox"
)

func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkScheduleHeap is the refresher's memory per user with a
// calendar: one map entry and one heap entry, the user named by the
// calendar index's key as the start-up walk reads it. Run with
//
//	go test -run '^$' -bench ScheduleHeap -benchtime 1x ./mailbox/
func BenchmarkScheduleHeap(b *testing.B) {
	const n = 100_000
	for b.Loop() {
		keys := make([]string, n)
		for i := range keys {
			keys[i] = fmt.Sprintf("c.a5036a1a-166f-4ed5-bf5a-e0ccc1602604.%08x-5ca1-4000-8000-%012x", i, i)
		}
		h0 := heapAfterGC()
		m := mailbox.New(mailbox.Options{})
		at := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
		for i, k := range keys {
			tenant, user, _ := strings.Cut(strings.TrimPrefix(k, "c."), ".")
			m.ScheduleForTest(core.UserRef{TenantID: tenant, UserID: user}, at.Add(time.Duration(i)*time.Second))
		}
		keys = nil
		h1 := heapAfterGC()
		runtime.KeepAlive(m)
		b.ReportMetric(float64(h1-h0)/n, "B/user")
	}
}
