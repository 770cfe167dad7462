package loadgen

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	t.Parallel()
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 12345, 1 << 40, 1<<63 - 1} {
		i := bucketOf(v)
		if i < 0 || i >= nBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, nBuckets)
		}
		if hi := bucketHigh(i); hi < v || (i > 0 && bucketHigh(i-1) >= v) {
			t.Errorf("value %d in bucket %d: [%d, %d]", v, i, bucketHigh(i-1)+1, hi)
		}
	}
}

func TestHistogramQuantiles(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var a, b Histogram
	vals := make([]time.Duration, 0, 20000)
	for i := range 20000 {
		d := time.Duration(r.ExpFloat64() * float64(2*time.Millisecond))
		vals = append(vals, d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	slices.Sort(vals)
	if a.Count() != 20000 || a.Max() != vals[len(vals)-1] || a.Min() != vals[0] {
		t.Fatalf("count %d, min %v, max %v; want 20000, %v, %v", a.Count(), a.Min(), a.Max(), vals[0], vals[len(vals)-1])
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := vals[int(q*float64(len(vals)))-1]
		got := a.Quantile(q)
		if rel := float64(got-want) / float64(want); rel < -0.02 || rel > 0.02 {
			t.Errorf("Quantile(%v) = %v, want %v ± 2%%", q, got, want)
		}
	}
	if got := a.Quantile(1); got != a.Max() {
		t.Errorf("Quantile(1) = %v, want the max %v", got, a.Max())
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Errorf("empty histogram: Quantile %v, Mean %v; want 0", empty.Quantile(0.5), empty.Mean())
	}
}
