package throttle

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
)

var (
	appA          = BudgetKey{TenantID: "contoso", AppID: "app-a"}
	appB          = BudgetKey{TenantID: "contoso", AppID: "app-b"}
	appAElsewhere = BudgetKey{TenantID: "fabrikam", AppID: "app-a"}
)

// spend takes n requests from k and returns how many were allowed and the
// wait of the last refusal.
func spend(b *Budget, k BudgetKey, n int) (allowed int, wait time.Duration) {
	for range n {
		ok, w := b.Allow(k)
		if ok {
			allowed++
		} else {
			wait = w
		}
	}
	return allowed, wait
}

func TestBudgetAllowsGraphsFigureAtOnceThenRefuses(t *testing.T) {
	clk := clock.NewFake(t0)
	b := NewBudget(BudgetOptions{Clock: clk})
	if n, _ := spend(b, appA, DefaultBudgetRequests); n != DefaultBudgetRequests {
		t.Fatalf("allowed %d of the first %d", n, DefaultBudgetRequests)
	}
	ok, wait := b.Allow(appA)
	if ok {
		t.Fatal("request 1,501 within the same instant was allowed")
	}
	// One request every 30 s / 1,500 = 20 ms.
	if wait != 20*time.Millisecond {
		t.Errorf("wait %v, want 20ms", wait)
	}
	if got := RetryAfterSeconds(wait); got != 1 {
		t.Errorf("Retry-After %d, want 1", got)
	}
}

func TestBudgetIsPerApplicationPerTenant(t *testing.T) {
	clk := clock.NewFake(t0)
	b := NewBudget(BudgetOptions{Requests: 10, Window: 10 * time.Second, Clock: clk})
	if n, _ := spend(b, appA, 11); n != 10 {
		t.Fatalf("app A allowed %d of 11", n)
	}
	for _, k := range []BudgetKey{appB, appAElsewhere} {
		if n, _ := spend(b, k, 10); n != 10 {
			t.Errorf("%+v allowed %d of 10 while app A is throttled", k, n)
		}
	}
}

func TestBudgetRefillsContinuously(t *testing.T) {
	clk := clock.NewFake(t0)
	b := NewBudget(BudgetOptions{Requests: 10, Window: 10 * time.Second, Clock: clk})
	spend(b, appA, 10)
	tests := []struct {
		name    string
		advance time.Duration
		allowed int
	}{
		{"nothing before one interval", 999 * time.Millisecond, 0},
		{"one request per interval", time.Millisecond, 1},
		{"three intervals give three", 3 * time.Second, 3},
		{"a whole window refills the whole budget, no more", time.Hour, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk.Add(tt.advance)
			if n, _ := spend(b, appA, 20); n != tt.allowed {
				t.Errorf("allowed %d, want %d", n, tt.allowed)
			}
		})
	}
}

func TestBudgetRetryAfterIsWhenTheNextRequestFits(t *testing.T) {
	clk := clock.NewFake(t0)
	b := NewBudget(BudgetOptions{Requests: 2, Window: 10 * time.Second, Clock: clk})
	spend(b, appA, 2)
	_, wait := b.Allow(appA)
	if wait != 5*time.Second || RetryAfterSeconds(wait) != 5 {
		t.Fatalf("wait %v (Retry-After %d), want 5s", wait, RetryAfterSeconds(wait))
	}
	clk.Add(wait - time.Nanosecond)
	if ok, _ := b.Allow(appA); ok {
		t.Error("allowed before Retry-After")
	}
	clk.Add(time.Nanosecond)
	if ok, _ := b.Allow(appA); !ok {
		t.Error("refused at Retry-After")
	}
}

func TestBudgetOff(t *testing.T) {
	b := NewBudget(BudgetOptions{Requests: -1})
	if b != nil {
		t.Fatal("a negative budget is not off")
	}
	if ok, _ := b.Allow(appA); !ok {
		t.Error("a nil budget refused")
	}
}

func TestRetryAfterSecondsRoundsUp(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {29*time.Second + 980*time.Millisecond, 30}} {
		if got := RetryAfterSeconds(tt.d); got != tt.want {
			t.Errorf("RetryAfterSeconds(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// Concurrent requests of one application are counted exactly: the budget
// is never overspent by a race.
func TestBudgetConcurrentRequestsNeverOverspend(t *testing.T) {
	clk := clock.NewFake(t0)
	b := NewBudget(BudgetOptions{Requests: 1000, Window: time.Minute, Clock: clk})
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				if ok, _ := b.Allow(appA); ok {
					allowed.Add(1)
				}
				b.Allow(BudgetKey{TenantID: "t", AppID: fmt.Sprint(g)})
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 1000 {
		t.Errorf("allowed %d of 4,000 against a budget of 1,000", allowed.Load())
	}
}

// Idle applications are forgotten when a shard grows, so memory follows
// the applications in use.
func TestBudgetForgetsIdleApplications(t *testing.T) {
	clk := clock.NewFake(t0)
	b := NewBudget(BudgetOptions{Requests: 10, Window: time.Second, Clock: clk})
	for i := range budgetShards * sweepAt * 2 {
		b.Allow(BudgetKey{TenantID: "t", AppID: fmt.Sprint(i)})
		if i%1000 == 0 {
			clk.Add(2 * time.Second)
		}
	}
	n := 0
	for i := range b.shards {
		n += len(*b.shards[i].m.Load())
	}
	if n > budgetShards*sweepAt+budgetShards {
		t.Errorf("%d entries kept for %d applications that went idle", n, budgetShards*sweepAt*2)
	}
}

func BenchmarkBudgetAllow(b *testing.B) {
	bud := NewBudget(BudgetOptions{Requests: 1 << 30, Clock: clock.Real{}})
	k := BudgetKey{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", AppID: "6dcddc99-5a7f-430c-a555-551d652a37b1"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			bud.Allow(k)
		}
	})
}

// BenchmarkBudgetAllowAt is what the request path pays: the clock is read
// once per request for the token and the budget.
func BenchmarkBudgetAllowAt(b *testing.B) {
	bud := NewBudget(BudgetOptions{Requests: 1 << 30, Clock: clock.Real{}})
	k := BudgetKey{TenantID: "a5036a1a-166f-4ed5-bf5a-e0ccc1602604", AppID: "6dcddc99-5a7f-430c-a555-551d652a37b1"}
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Microsecond)
		bud.AllowAt(k, now)
	}
}
