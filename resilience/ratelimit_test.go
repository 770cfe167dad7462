package resilience

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	alice = "spiffe://example.org/agent/alice"
	bob   = "spiffe://example.org/agent/bob"
)

// allowN calls Allow n times and fails on the first refusal.
func allowN(t *testing.T, l *RateLimiter, key string, n int) {
	t.Helper()
	for i := range n {
		if err := l.Allow(key); err != nil {
			t.Fatalf("Allow(%q) #%d = %v, want nil", key, i+1, err)
		}
	}
}

// refused checks that Allow(key) refuses with the given RetryAfter.
func refused(t *testing.T, l *RateLimiter, key string, retryAfter time.Duration) {
	t.Helper()
	err := l.Allow(key)
	var rl *RateLimitError
	if !errors.As(err, &rl) || !errors.Is(err, ErrRateLimited) {
		t.Fatalf("Allow(%q) = %v, want *RateLimitError matching ErrRateLimited", key, err)
	}
	if diff := cmp.Diff(&RateLimitError{Key: key, RetryAfter: retryAfter}, rl); diff != "" {
		t.Errorf("RateLimitError (-want +got):\n%s", diff)
	}
}

func TestRateLimiterBurstThenRefusal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(RateOptions{PerSecond: 10, Burst: 3})
		allowN(t, l, alice, 3)
		refused(t, l, alice, 100*time.Millisecond)
		refused(t, l, alice, 100*time.Millisecond) // a refusal takes no token

		time.Sleep(40 * time.Millisecond)
		refused(t, l, alice, 60*time.Millisecond)
		time.Sleep(60 * time.Millisecond)
		allowN(t, l, alice, 1)
		refused(t, l, alice, 100*time.Millisecond)

		time.Sleep(time.Second) // refills up to Burst, not beyond
		allowN(t, l, alice, 3)
		refused(t, l, alice, 100*time.Millisecond)
	})
}

func TestRateLimitErrorMessage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(RateOptions{PerSecond: 1000.0 / 120, Burst: 1})
		allowN(t, l, alice, 1)
		err := l.Allow(alice)
		want := "resilience: rate limit for spiffe://example.org/agent/alice exceeded; retry after 120ms"
		if err == nil || err.Error() != want {
			t.Errorf("Allow() = %v, want %q", err, want)
		}
	})
}

func TestRateLimiterPerKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(RateOptions{PerSecond: 1, Burst: 2})
		allowN(t, l, alice, 2)
		refused(t, l, alice, time.Second)
		allowN(t, l, bob, 2)
		refused(t, l, bob, time.Second)
	})
}

func TestRateLimiterUnlimited(t *testing.T) {
	t.Parallel()
	for _, l := range []*RateLimiter{nil, NewRateLimiter(RateOptions{}), NewRateLimiter(RateOptions{PerSecond: -1, Burst: 1})} {
		for range 1000 {
			if err := l.Allow(alice); err != nil {
				t.Fatalf("unlimited Allow() = %v, want nil", err)
			}
		}
		if l != nil && l.size() != 0 {
			t.Errorf("unlimited limiter tracks %d keys, want 0", l.size())
		}
	}
}

func TestRateLimiterDefaultBurst(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(RateOptions{PerSecond: 2.5})
		allowN(t, l, alice, 3)
		refused(t, l, alice, 400*time.Millisecond)
	})
}

func TestRateLimiterMaxKeys(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(RateOptions{PerSecond: 1, Burst: 1, MaxKeys: 5})
		for i := range 100 {
			allowN(t, l, fmt.Sprintf("spiffe://example.org/agent/%d", i), 1)
			if n := l.size(); n > 5 {
				t.Fatalf("%d keys tracked after %d distinct keys, want at most MaxKeys = 5", n, i+1)
			}
		}
		// The most recent keys are still tracked (and still limited).
		refused(t, l, "spiffe://example.org/agent/99", time.Second)
	})
}

func TestRateLimiterForgetsIdleKeys(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(RateOptions{PerSecond: 1, Burst: 1, IdleTTL: time.Minute})
		allowN(t, l, alice, 1)
		time.Sleep(2 * time.Minute)
		allowN(t, l, bob, 1)
		if n := l.size(); n != 1 {
			t.Errorf("%d keys tracked, want 1 (alice idle past IdleTTL)", n)
		}
	})
}

// A key is kept until its bucket has refilled, even past IdleTTL, so that
// forgetting it grants nothing.
func TestRateLimiterKeepsKeysUntilRefilled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := NewRateLimiter(RateOptions{PerSecond: 0.01, Burst: 1, IdleTTL: 10 * time.Second})
		allowN(t, l, alice, 1)
		time.Sleep(20 * time.Second)
		allowN(t, l, bob, 1)
		refused(t, l, alice, 80*time.Second)
	})
}

func TestRateLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l := NewRateLimiter(RateOptions{PerSecond: 100, Burst: 10, MaxKeys: 10})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				err := l.Allow(fmt.Sprintf("spiffe://example.org/agent/%d", (g*7+i)%50))
				if err != nil && !errors.Is(err, ErrRateLimited) {
					t.Errorf("Allow() = %v", err)
				}
			}
		})
	}
	wg.Wait()
	if n := l.size(); n > 10 {
		t.Errorf("%d keys tracked, want at most 10", n)
	}
}
