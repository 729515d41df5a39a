package loadgen

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	uniform := func(n int, unit time.Duration) []time.Duration {
		v := make([]time.Duration, n)
		for i := range v {
			v[i] = time.Duration(i+1) * unit
		}
		return v
	}
	// 990 fast requests and 10 slow ones: p99 is still fast, max is not.
	tail := append(make([]time.Duration, 0, 1000), uniform(10, 5*time.Second)...)
	for range 990 {
		tail = append(tail, 2*time.Millisecond)
	}
	for _, c := range []struct {
		name                string
		values              []time.Duration
		p50, p90, p99, max  time.Duration
		min, mean           time.Duration
		exactQuantileWanted bool
	}{
		{"one value", []time.Duration{3 * time.Millisecond}, 3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond, 3 * time.Millisecond, true},
		{"small exact values", uniform(100, 1), 50, 90, 99, 100, 1, 51, true}, // mean 50.5 rounds to 51
		{"1..10000 µs", uniform(10000, time.Microsecond), 5 * time.Millisecond, 9 * time.Millisecond, 9900 * time.Microsecond, 10 * time.Millisecond, time.Microsecond, 5000500 * time.Nanosecond, false},
		{"1..1000 s", uniform(1000, time.Second), 500 * time.Second, 900 * time.Second, 990 * time.Second, 1000 * time.Second, time.Second, 500500 * time.Millisecond, false},
		{"slow tail", tail, 2 * time.Millisecond, 2 * time.Millisecond, 2 * time.Millisecond, 50 * time.Second, 2 * time.Millisecond, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			var h Histogram
			for _, v := range c.values {
				h.Record(v)
			}
			if h.Count() != uint64(len(c.values)) {
				t.Fatalf("count %d, want %d", h.Count(), len(c.values))
			}
			for _, q := range []struct {
				name      string
				got, want time.Duration
			}{{"p50", h.Quantile(0.5), c.p50}, {"p90", h.Quantile(0.9), c.p90}, {"p99", h.Quantile(0.99), c.p99}} {
				if c.exactQuantileWanted && q.got != q.want {
					t.Errorf("%s = %v, want exactly %v", q.name, q.got, q.want)
				}
				if rel := math.Abs(float64(q.got-q.want)) / float64(q.want); rel > 0.01 {
					t.Errorf("%s = %v, want %v within 1%% (off by %.2f%%)", q.name, q.got, q.want, 100*rel)
				}
			}
			if h.Max() != c.max || h.Quantile(1) != c.max || h.Min() != c.min || h.Quantile(0) != c.min {
				t.Errorf("min %v max %v q0 %v q1 %v, want min %v max %v exactly", h.Min(), h.Max(), h.Quantile(0), h.Quantile(1), c.min, c.max)
			}
			if c.mean != 0 && h.Mean() != c.mean {
				t.Errorf("mean %v, want %v", h.Mean(), c.mean)
			}
		})
	}
}

func TestHistogramMergeAndEmpty(t *testing.T) {
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Max() != 0 || empty.Mean() != 0 {
		t.Fatal("an empty histogram reports non-zero values")
	}
	var a, b, all Histogram
	for i := 1; i <= 2000; i++ {
		d := time.Duration(i*i) * time.Microsecond
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	a.Merge(&empty)
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%v: merged %v, recorded together %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Min() != all.Min() || a.Max() != all.Max() || a.Mean() != all.Mean() {
		t.Errorf("merged count/min/max/mean %d %v %v %v, want %d %v %v %v", a.Count(), a.Min(), a.Max(), a.Mean(), all.Count(), all.Min(), all.Max(), all.Mean())
	}
}

// Every value lands in a bucket that holds it, buckets tile the line
// without gaps, and none is wider than 1/128 of its values.
func TestHistogramBuckets(t *testing.T) {
	prevHi := int64(-1)
	for i := range bucketOf(math.MaxInt64) + 1 {
		lo, hi := bucketRange(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d is [%d, %d] after one ending at %d", i, lo, hi, prevHi)
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d", i, lo, hi, subCount)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d, %d]: values map to %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = hi
	}
	if prevHi != math.MaxInt64 {
		t.Fatalf("the last bucket ends at %d", prevHi)
	}
}

func TestParseMix(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Mix
		err  string
	}{
		{"set=20,get=70,many=10", Mix{20, 70, 10}, ""},
		{" get = 1 ", Mix{Get: 1}, ""},
		{"many=5,set=5", Mix{Set: 5, Many: 5}, ""},
		{"set=20,get", Mix{}, "not op=weight"},
		{"set=-1,get=2", Mix{}, "non-negative integer"},
		{"set=x", Mix{}, "non-negative integer"},
		{"put=3", Mix{}, `unknown operation "put"`},
		{"get=1,get=2", Mix{}, "given twice"},
		{"set=0,get=0", Mix{}, "no operation with a weight"},
		{"", Mix{}, "no operation with a weight"},
	} {
		m, err := ParseMix(c.in)
		if c.err == "" && (err != nil || m != c.want) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("ParseMix(%q) = %+v, %v; want %+v, %q", c.in, m, err, c.want, c.err)
		}
	}
}
