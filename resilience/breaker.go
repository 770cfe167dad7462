package resilience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/agentweave/agentweave-go/internal/lru"
)

// State is the state of a circuit breaker.
type State int

// States of a circuit breaker.
const (
	// Closed lets every call through and counts consecutive failures.
	Closed State = iota
	// HalfOpen lets a few trial calls through to probe the target.
	HalfOpen
	// Open fails every call fast until the recovery timeout has passed.
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	default:
		return fmt.Sprintf("State(%d)", int(s))
	}
}

// ErrOpen is matched (errors.Is) by every [*OpenError].
var ErrOpen = errors.New("resilience: circuit breaker open")

// OpenError is returned by [Breakers.Do], without running the call, when the
// target's breaker is open, or half-open with all its trial calls in flight.
type OpenError struct {
	// Target is the target whose breaker refused the call.
	Target string
	// RetryAfter is how long until the breaker lets a trial call through.
	// It is zero when the breaker is half-open: the outcome of the trial
	// calls in flight decides.
	RetryAfter time.Duration
}

func (e *OpenError) Error() string {
	if e.RetryAfter <= 0 {
		return fmt.Sprintf("resilience: circuit breaker for %s half-open, trial calls in flight", e.Target)
	}
	return fmt.Sprintf("resilience: circuit breaker for %s open; retry after %s", e.Target, e.RetryAfter)
}

// Is reports whether target is [ErrOpen].
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// NotPeerFault marks err as an answer that says nothing about the target's
// health (a policy denial, a 4xx answer, a task that failed in business
// code): [Breakers.Do] returns it to the caller unchanged but never counts it
// as a failure, and [SafeToRetry] never retries it. The result's message is
// err's, and errors.Is and errors.As see through it. NotPeerFault(nil) is nil.
func NotPeerFault(err error) error {
	if err == nil {
		return nil
	}
	return &notPeerFaultError{err: err}
}

type notPeerFaultError struct{ err error }

func (e *notPeerFaultError) Error() string { return e.err.Error() }
func (e *notPeerFaultError) Unwrap() error { return e.err }

func isNotPeerFault(err error) bool {
	var n *notPeerFaultError
	return errors.As(err, &n)
}

// BreakerOptions configures [NewBreakers]. The zero value uses the defaults.
type BreakerOptions struct {
	// FailureThreshold is the number of consecutive failures that opens a
	// breaker. Default 5.
	FailureThreshold int
	// RecoveryTimeout is how long a breaker stays open before it turns
	// half-open and lets trial calls through (the first call after it has
	// passed is a trial). Default 30s.
	RecoveryTimeout time.Duration
	// SuccessThreshold is the number of successful trial calls that closes a
	// half-open breaker. A half-open breaker lets exactly that many calls
	// through (concurrently or not), closes when all of them succeed and
	// reopens at the first failure; other calls get an [*OpenError]
	// meanwhile. Default 2.
	SuccessThreshold int
	// MaxTargets caps the number of breakers kept. Targets are meant to be
	// the peers' SPIFFE IDs from configuration, not identities taken from
	// the network; past the cap, the least recently used closed breaker is
	// forgotten (or, if none is closed, the least recently used one).
	// Default 10000.
	MaxTargets int
	// IsFailure reports whether an error counts as a failure of the target.
	// Default: every non-nil error except context.Canceled (an exceeded
	// deadline counts: the peer was too slow). Errors marked
	// with [NotPeerFault] never count, whatever IsFailure says. Errors that
	// are not failures are neutral: they neither open nor close a breaker.
	IsFailure func(error) bool
	// OnStateChange, if set, is called on every state change, in order,
	// while the target's breaker is locked: it must be fast and must not call
	// [Breakers.Do] for the same target. The change from open to half-open is
	// noticed, and reported, on the first call after RecoveryTimeout.
	OnStateChange func(target string, from, to State)
}

const (
	defaultFailureThreshold = 5
	defaultRecoveryTimeout  = 30 * time.Second
	defaultSuccessThreshold = 2
	defaultMaxTargets       = 10000
)

// Breakers holds one circuit breaker per target. Use [NewBreakers]; a nil
// *Breakers runs every call without a breaker. It is safe for concurrent use.
type Breakers struct {
	opts BreakerOptions

	mu      sync.Mutex
	targets *lru.Cache[string, *breaker]
}

// breaker is one target's gobreaker, with its state mirrored in atomics so
// that State and eviction never take gobreaker's lock (OnStateChange runs
// under it).
type breaker struct {
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	state    atomic.Int64 // State
	openedAt atomic.Int64 // UnixNano of the last change to Open
}

// errPanicked is recorded as the outcome of a call that panicked.
var errPanicked = errors.New("resilience: call panicked")

// NewBreakers returns an empty set of breakers configured by opts.
func NewBreakers(opts BreakerOptions) *Breakers {
	if opts.FailureThreshold <= 0 {
		opts.FailureThreshold = defaultFailureThreshold
	}
	if opts.RecoveryTimeout <= 0 {
		opts.RecoveryTimeout = defaultRecoveryTimeout
	}
	if opts.SuccessThreshold <= 0 {
		opts.SuccessThreshold = defaultSuccessThreshold
	}
	if opts.MaxTargets <= 0 {
		opts.MaxTargets = defaultMaxTargets
	}
	if opts.IsFailure == nil {
		opts.IsFailure = func(err error) bool { return !errors.Is(err, context.Canceled) }
	}
	return &Breakers{opts: opts, targets: lru.New[string, *breaker](opts.MaxTargets)}
}

// Do runs fn through target's breaker and returns fn's error unchanged. If
// the breaker is open, or half-open with all its trial calls in flight, Do
// returns an [*OpenError] without running fn; if ctx is already done, it
// returns ctx's error. A panic in fn counts as a failure and is propagated.
func (b *Breakers) Do(ctx context.Context, target string, fn func(context.Context) error) error {
	if b == nil {
		return fn(ctx)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	br := b.get(target)
	done, err := br.cb.Allow()
	if err != nil {
		return &OpenError{Target: target, RetryAfter: br.retryAfter(b.opts.RecoveryTimeout, time.Now())}
	}
	finished := false
	defer func() {
		if !finished { // fn panicked or called runtime.Goexit
			done(errPanicked)
		}
	}()
	err = fn(ctx)
	finished = true
	done(err)
	return err
}

// State returns target's breaker state; Closed for a target never called.
// An open breaker whose RecoveryTimeout has passed reports HalfOpen.
func (b *Breakers) State(target string) State {
	if b == nil {
		return Closed
	}
	b.mu.Lock()
	br, ok := b.targets.Peek(target)
	b.mu.Unlock()
	if !ok {
		return Closed
	}
	s := State(br.state.Load())
	if s == Open && br.retryAfter(b.opts.RecoveryTimeout, time.Now()) <= 0 {
		return HalfOpen
	}
	return s
}

// retryAfter returns how long br stays open, or 0 if it is not open or its
// timeout has passed. gobreaker lets a trial through only strictly after
// the timeout, so at the very instant it ends the breaker is still open,
// with a nanosecond to go: State and OpenError agree with what Do does
// (found in fake time, where the instant is hit exactly).
func (br *breaker) retryAfter(timeout time.Duration, now time.Time) time.Duration {
	if State(br.state.Load()) != Open {
		return 0
	}
	left := time.Unix(0, br.openedAt.Load()).Add(timeout).Sub(now)
	if left < 0 {
		return 0
	}
	return max(left, time.Nanosecond)
}

// get returns target's breaker, creating it (and evicting one past
// MaxTargets) if needed.
func (b *Breakers) get(target string) *breaker {
	b.mu.Lock()
	defer b.mu.Unlock()
	if br, ok := b.targets.Get(target); ok {
		return br
	}
	if b.targets.Len() >= b.opts.MaxTargets {
		b.evictLocked()
	}
	br := b.newBreaker(target)
	b.targets.Add(target, br)
	return br
}

// evictLocked forgets the least recently used closed breaker, or the least
// recently used one if none is closed. A call in flight on it finishes
// normally.
func (b *Breakers) evictLocked() {
	victim, _, ok := b.targets.Oldest()
	if !ok {
		return
	}
	for target, br := range b.targets.Backward() {
		if State(br.state.Load()) == Closed {
			victim = target
			break
		}
	}
	b.targets.Remove(victim)
}

func (b *Breakers) newBreaker(target string) *breaker {
	br := &breaker{}
	isFailure, onChange := b.opts.IsFailure, b.opts.OnStateChange
	threshold := uint32(b.opts.FailureThreshold) //nolint:gosec // positive, set by NewBreakers
	br.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name: target,
		// In half-open, gobreaker admits MaxRequests calls in total (only
		// neutral outcomes free a slot), closes after MaxRequests
		// consecutive successes and reopens at the first failure: with
		// MaxRequests = SuccessThreshold, SuccessThreshold means what it says.
		MaxRequests: uint32(b.opts.SuccessThreshold), //nolint:gosec // positive, set by NewBreakers
		// Interval 0: closed-state counts are never cleared on a timer;
		// consecutive failures are reset by any success.
		Interval: 0,
		Timeout:  b.opts.RecoveryTimeout,
		// gobreaker's default trips at "> 5"; ours at ">= FailureThreshold".
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
		IsSuccessful: func(err error) bool { return err == nil },
		IsExcluded: func(err error) bool {
			return err != nil && (isNotPeerFault(err) || !isFailure(err))
		},
		OnStateChange: func(_ string, from, to gobreaker.State) {
			// Runs under gobreaker's lock, so the atomics change in order.
			if to == gobreaker.StateOpen {
				br.openedAt.Store(time.Now().UnixNano())
			}
			br.state.Store(int64(fromGobreaker(to)))
			if onChange != nil {
				onChange(target, fromGobreaker(from), fromGobreaker(to))
			}
		},
	})
	return br
}

func fromGobreaker(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	default:
		return Closed
	}
}
