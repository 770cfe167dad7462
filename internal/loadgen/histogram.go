package loadgen

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^(subBits-1) buckets, so a recorded value is within 1/64 (1.6 %) of
// the truth.
const subBits = 7

const (
	subCount = 1 << subBits          // values below this are exact
	halfSub  = subCount / 2          // buckets per power of two above it
	nBuckets = subCount + 57*halfSub // enough for any int64 (2^63 ns)
)

// Histogram records durations in log-linear buckets of fixed memory (about
// 30 KiB), like an HDR histogram with two significant digits. The zero
// value is empty and ready. It is not safe for concurrent use: give each
// goroutine its own and [Histogram.Merge] them.
type Histogram struct {
	counts [nBuckets]uint64
	n      uint64
	sum    time.Duration
	min    time.Duration
	max    time.Duration
}

func bucketOf(v uint64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	top := int(v >> uint(shift)) //nolint:gosec // in [halfSub, subCount)
	return subCount + (shift-1)*halfSub + top - halfSub
}

// bucketHigh is the highest value bucket i holds.
func bucketHigh(i int) uint64 {
	if i < subCount {
		return uint64(i) //nolint:gosec // i ≥ 0
	}
	shift := uint((i-subCount)/halfSub + 1)
	top := uint64((i-subCount)%halfSub + halfSub)
	return (top+1)<<shift - 1
}

// Record adds one duration; negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += d
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Min is the smallest value recorded, exactly.
func (h *Histogram) Min() time.Duration { return h.min }

// Mean is the average of the values recorded.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n) //nolint:gosec // a count of requests fits int64
}

// Quantile returns the value below which a fraction q (0..1) of the
// recorded values fall: the upper edge of the bucket holding it, capped
// at the exact maximum. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if hi := bucketHigh(i); hi < uint64(h.max) { //nolint:gosec // h.max ≥ 0
				return time.Duration(hi) //nolint:gosec // below h.max, so it fits
			}
			return h.max
		}
	}
	return h.max
}
