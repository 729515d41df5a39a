package throttle

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/presenced/presenced/clock"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

var (
	here  = SourceOf("192.0.2.1:50000")
	there = SourceOf("198.51.100.7:443")
)

func TestSourceOf(t *testing.T) {
	tests := []struct {
		name, addr, want string
	}{
		{"IPv4 counts by address", "192.0.2.1:1234", "192.0.2.1/32"},
		{"the port does not matter", "192.0.2.1:9999", "192.0.2.1/32"},
		{"IPv6 counts by its /64", "[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6 is IPv4", "[::ffff:192.0.2.1]:80", "192.0.2.1/32"},
		{"a zone is ignored", "[fe80::1%eth0]:80", "fe80::/64"},
		{"no port", "192.0.2.9", "192.0.2.9/32"},
		{"not an address is the shared zero source", "@", "invalid Prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SourceOf(tt.addr).String(); got != tt.want {
				t.Errorf("SourceOf(%q) = %s, want %s", tt.addr, got, tt.want)
			}
		})
	}
}

func newLockout(clk clock.Clock) *Lockout {
	return NewLockout(LockoutOptions{Clock: clk})
}

// fail counts n failures with distinct passwords and reports the last
// answer.
func fail(l *Lockout, user string, src Source, n int) (locked bool, until time.Time) {
	for i := range n {
		locked, until = l.Failed("contoso", user, src, fmt.Sprintf("guess-%d", i))
	}
	return locked, until
}

func TestLockoutLocksAfterTenFailuresFromOneSource(t *testing.T) {
	clk := clock.NewFake(t0)
	l := newLockout(clk)
	if locked, _ := fail(l, "adele", here, 9); locked {
		t.Fatal("locked after 9 failures")
	}
	if locked, _ := l.Locked("contoso", "adele", here); locked {
		t.Fatal("Locked after 9 failures")
	}
	locked, until := l.Failed("contoso", "adele", here, "tenth")
	if !locked || !until.Equal(t0.Add(time.Minute)) {
		t.Fatalf("10th failure: locked %v until %v, want a minute", locked, until)
	}
	if locked, _ := l.Locked("contoso", "ADELE", here); !locked {
		t.Error("the user name is not case-insensitive")
	}
	if locked, _ := l.Locked("contoso", "adele", there); locked {
		t.Error("another source is locked too: an attacker could lock the user out everywhere")
	}
	if locked, _ := l.Locked("contoso", "alex", here); locked {
		t.Error("another user is locked too")
	}
	if locked, _ := l.Locked("fabrikam", "adele", here); locked {
		t.Error("the same name in another tenant is locked too")
	}
}

func TestLockoutEndsAndRepeatsLonger(t *testing.T) {
	clk := clock.NewFake(t0)
	l := newLockout(clk)
	fail(l, "adele", here, 10)
	clk.Add(59 * time.Second)
	if locked, _ := l.Locked("contoso", "adele", here); !locked {
		t.Fatal("unlocked before the minute is over")
	}
	clk.Add(time.Second)
	if locked, _ := l.Locked("contoso", "adele", here); locked {
		t.Fatal("still locked after the minute")
	}
	// Each failure after a lock locks again, twice as long each time, up
	// to an hour.
	want := []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	for i, d := range want {
		locked, until := l.Failed("contoso", "adele", here, fmt.Sprintf("again-%d", i))
		if !locked || !until.Equal(clk.Now().Add(d)) {
			t.Fatalf("lock %d: locked %v for %v, want %v", i+2, locked, until.Sub(clk.Now()), d)
		}
		clk.Set(until)
	}
}

func TestLockoutForgets(t *testing.T) {
	t.Run("a success forgets the failures", func(t *testing.T) {
		l := newLockout(clock.NewFake(t0))
		fail(l, "adele", here, 9)
		l.Succeeded("contoso", "adele", here)
		if locked, _ := fail(l, "adele", here, 9); locked {
			t.Error("locked after 9 failures following a success")
		}
	})
	t.Run("an hour without failures starts over", func(t *testing.T) {
		clk := clock.NewFake(t0)
		l := newLockout(clk)
		fail(l, "adele", here, 10)
		clk.Add(time.Hour + time.Minute)
		if locked, _ := l.Failed("contoso", "adele", here, "later"); locked {
			t.Error("one failure an hour after the lock locked again")
		}
	})
	t.Run("the same wrong password counts once", func(t *testing.T) {
		l := newLockout(clock.NewFake(t0))
		for range 50 {
			if locked, _ := l.Failed("contoso", "adele", here, "stale-password"); locked {
				t.Fatal("a client retrying one stale password locked its user out")
			}
		}
	})
	t.Run("only the last three wrong passwords are remembered", func(t *testing.T) {
		l := newLockout(clock.NewFake(t0))
		var locked bool
		for i := range 10 {
			locked, _ = l.Failed("contoso", "adele", here, []string{"a", "b", "c", "d"}[i%4])
		}
		if !locked {
			t.Error("cycling through four passwords never locked")
		}
	})
}

func TestLockoutMemoryIsBounded(t *testing.T) {
	l := NewLockout(LockoutOptions{Clock: clock.NewFake(t0), MaxEntries: 100})
	for i := range 1000 {
		l.Failed("contoso", fmt.Sprintf("user%d", i), here, "x")
	}
	if n := l.t.len(); n > 100 {
		t.Fatalf("%d entries kept, the bound is 100", n)
	}
	// The most recent ones are kept.
	fail(l, "user999", here, 9)
	if locked, _ := l.Locked("contoso", "user999", here); !locked {
		t.Error("the most recently used entry was forgotten")
	}
}

func TestLockoutOff(t *testing.T) {
	l := NewLockout(LockoutOptions{Threshold: -1})
	if l != nil {
		t.Fatal("a negative threshold did not turn lockout off")
	}
	if locked, _ := fail(l, "adele", here, 100); locked {
		t.Error("a nil Lockout locked")
	}
}

func TestRate(t *testing.T) {
	clk := clock.NewFake(t0)
	r := NewRate(RateOptions{PerSecond: 10, Burst: 5, Clock: clk})
	for i := range 5 {
		if ok, _ := r.Allow(here); !ok {
			t.Fatalf("request %d of the burst refused", i+1)
		}
	}
	ok, wait := r.Allow(here)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("after the burst: ok %v, wait %v; want refused for 100ms", ok, wait)
	}
	if ok, _ := r.Allow(there); !ok {
		t.Error("another source was refused")
	}
	clk.Add(100 * time.Millisecond)
	if ok, _ := r.Allow(here); !ok {
		t.Error("refused after the wait it was told")
	}
	if ok, _ := r.Allow(here); ok {
		t.Error("two requests allowed after one token's time")
	}
	clk.Add(time.Hour)
	for i := range 5 {
		if ok, _ := r.Allow(here); !ok {
			t.Fatalf("after an hour, request %d refused: the bucket refills only to the burst", i+1)
		}
	}
	if ok, _ := r.Allow(here); ok {
		t.Error("the bucket filled beyond the burst")
	}
}

func TestRateOffAndBounded(t *testing.T) {
	if r := NewRate(RateOptions{PerSecond: -1}); r != nil {
		t.Fatal("a negative rate did not turn the limit off")
	}
	var off *Rate
	if ok, _ := off.Allow(here); !ok {
		t.Error("a nil Rate refused")
	}
	r := NewRate(RateOptions{Clock: clock.NewFake(t0), MaxEntries: 64})
	for i := range 1000 {
		r.Allow(netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32))
	}
	if n := r.t.len(); n > 64 {
		t.Fatalf("%d sources kept, the bound is 64", n)
	}
}
