package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// Histogram records latencies in log-bucketed counters, in the manner of
// HdrHistogram: values below 128 ns are counted exactly, and each power of
// two above is split into 128 equal sub-buckets, so any recorded value is
// known to within 1/128 (under 0.8%) of itself, and a quantile reported as
// the middle of its bucket to within half of that.
//
// It does not keep every sample on purpose: a run at 50 000 req/s for ten
// minutes would hold 30 million samples (240 MB) and sort them at the end,
// and the recording goroutines would share that buffer. A histogram is a few
// kilobytes whatever the run's length (at most 7 296 counters, grown only to
// the largest value seen), recording is an index computation and an
// increment, each worker keeps its own and they are merged once at the end,
// and 1% is well below the run-to-run noise of any HTTP measurement.
//
// The zero value is an empty histogram. A Histogram is not safe for
// concurrent use.
type Histogram struct {
	counts   []uint64
	total    uint64
	sum      float64 // of the recorded values in ns, for the mean
	min, max int64
}

const (
	subBits  = 7
	subCount = 1 << subBits // sub-buckets per power of two
)

// bucketOf is the index of the bucket holding v ≥ 0.
func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - 1 - subBits
	return (shift+1)*subCount + int(v>>shift) - subCount
}

// bucketRange is the smallest and largest value held by bucket i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*subCount {
		return int64(i), int64(i)
	}
	shift := i/subCount - 1
	lo = int64(i%subCount+subCount) << shift
	return lo, lo + int64(1)<<shift - 1
}

// Record adds one latency. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	i := bucketOf(v)
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	if h.total == 0 || v < h.min {
		h.min = v
	}
	if v > h.max {
		h.max = v
	}
	h.total++
	h.sum += float64(v)
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.total += o.total
	h.sum += o.sum
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Min and Max are the exact extremes recorded (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(h.min) }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Mean is the exact mean of the recorded values (0 when empty).
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(math.Round(h.sum / float64(h.total)))
}

// Quantile is the value below or at which a fraction q (0 ≤ q ≤ 1) of the
// recorded values lie: the middle of the bucket holding the value of rank
// ⌈q·n⌉, kept within the exact minimum and maximum; the first and last ranks are
// the exact Min and Max.
// It is 0 when the histogram is empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	q = min(max(q, 0), 1)
	rank := max(uint64(math.Ceil(q*float64(h.total))), 1)
	switch {
	case rank >= h.total:
		return time.Duration(h.max)
	case rank == 1:
		return time.Duration(h.min)
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			return time.Duration(min(max(lo+(hi-lo)/2, h.min), h.max))
		}
	}
	return time.Duration(h.max)
}
