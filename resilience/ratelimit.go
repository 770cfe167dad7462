package resilience

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/agentweave/agentweave-go/internal/lru"
)

// ErrRateLimited is matched (errors.Is) by every [*RateLimitError].
var ErrRateLimited = errors.New("resilience: rate limited")

// RateLimitError is returned by [RateLimiter.Allow] when key has no token
// left.
type RateLimitError struct {
	// Key is the rate-limited key, e.g. the caller's SPIFFE ID.
	Key string
	// RetryAfter is how long until key has a token again, rounded up to the
	// millisecond.
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("resilience: rate limit for %s exceeded; retry after %s", e.Key, e.RetryAfter)
}

// Is reports whether target is [ErrRateLimited].
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RateOptions configures [NewRateLimiter]. The zero value means unlimited.
type RateOptions struct {
	// PerSecond is the sustained rate allowed per key; 0 (or less) means
	// unlimited.
	PerSecond float64
	// Burst is the number of calls a key may make at once. Default:
	// PerSecond rounded up, at least 1.
	Burst int
	// MaxKeys caps the number of keys tracked; past it the least recently
	// used key is forgotten (and starts again with a full bucket). Default
	// 10000.
	MaxKeys int
	// IdleTTL forgets keys not seen for that long, or for as long as their
	// bucket takes to refill if that is longer, so that forgetting a key
	// never grants it extra calls. Default 10m.
	IdleTTL time.Duration
}

const (
	defaultMaxKeys = 10000
	defaultIdleTTL = 10 * time.Minute
)

// RateLimiter is a token bucket per key, with a bounded number of keys. Use
// [NewRateLimiter]; a nil *RateLimiter allows everything. It is safe for
// concurrent use.
type RateLimiter struct {
	limit   rate.Limit
	burst   int
	maxKeys int
	idleTTL time.Duration

	mu   sync.Mutex
	keys *lru.Cache[string, *bucket] // nil when unlimited
}

type bucket struct {
	lim      *rate.Limiter
	lastSeen time.Time
}

// NewRateLimiter returns a rate limiter configured by opts.
func NewRateLimiter(opts RateOptions) *RateLimiter {
	l := &RateLimiter{}
	if opts.PerSecond <= 0 || math.IsNaN(opts.PerSecond) {
		return l // unlimited: limit 0 is never consulted
	}
	l.limit = rate.Limit(opts.PerSecond)
	l.burst = opts.Burst
	if l.burst <= 0 {
		l.burst = int(min(math.Ceil(opts.PerSecond), math.MaxInt32))
	}
	l.maxKeys = opts.MaxKeys
	if l.maxKeys <= 0 {
		l.maxKeys = defaultMaxKeys
	}
	ttl := opts.IdleTTL
	if ttl <= 0 {
		ttl = defaultIdleTTL
	}
	refill := time.Duration(math.MaxInt64)
	if r := float64(l.burst) / opts.PerSecond * float64(time.Second); r < float64(math.MaxInt64) {
		refill = time.Duration(r)
	}
	l.idleTTL = max(ttl, refill)
	l.keys = lru.New[string, *bucket](l.maxKeys)
	return l
}

// Allow takes a token from key's bucket. It returns nil, or a
// [*RateLimitError] saying when to retry if the bucket is empty. A refused
// call takes no token.
func (l *RateLimiter) Allow(key string) error {
	if l == nil || l.limit <= 0 {
		return nil
	}
	now := time.Now()
	lim := l.limiter(key, now)
	if lim.AllowN(now, 1) {
		return nil
	}
	missing := 1 - lim.TokensAt(now)
	wait := time.Duration(missing / float64(l.limit) * float64(time.Second))
	return &RateLimitError{Key: key, RetryAfter: ceilMillisecond(wait)}
}

// limiter returns key's limiter, forgetting idle keys and, past MaxKeys, the
// least recently seen one.
func (l *RateLimiter) limiter(key string, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, b := range l.keys.Backward() { // least recently seen first
		if now.Sub(b.lastSeen) < l.idleTTL {
			break
		}
		l.keys.Remove(k)
	}
	if b, ok := l.keys.Get(key); ok {
		b.lastSeen = now
		return b.lim
	}
	b := &bucket{lim: rate.NewLimiter(l.limit, l.burst), lastSeen: now}
	l.keys.Add(key, b) // past MaxKeys, forgets the least recently seen
	return b.lim
}

// size returns the number of keys tracked.
func (l *RateLimiter) size() int {
	if l.keys == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.keys.Len()
}

func ceilMillisecond(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r != 0 {
		d += time.Millisecond - r
	}
	return max(d, time.Millisecond)
}
