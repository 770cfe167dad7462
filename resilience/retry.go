package resilience

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// RetryOptions configures [Retry]. The zero value uses the defaults.
type RetryOptions struct {
	// MaxAttempts is the number of attempts, the first included. Default 3;
	// 1 disables retries.
	MaxAttempts int
	// BaseDelay caps the delay before the first retry. Default 1s.
	BaseDelay time.Duration
	// MaxDelay caps every delay. Default 30s.
	MaxDelay time.Duration
	// Factor multiplies the cap after each retry. Default 2; values below 1
	// mean the default.
	Factor float64
}

const (
	defaultMaxAttempts = 3
	defaultBaseDelay   = time.Second
	defaultMaxDelay    = 30 * time.Second
	defaultFactor      = 2
)

func (o RetryOptions) withDefaults() RetryOptions {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = defaultMaxAttempts
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = defaultBaseDelay
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = defaultMaxDelay
	}
	if o.Factor < 1 {
		o.Factor = defaultFactor
	}
	return o
}

// RetryError is the error [Retry] returns when the operation did not succeed:
// the last attempt's error and the number of attempts made.
type RetryError struct {
	// Attempts is the number of times the operation ran (0 if ctx was done
	// before the first attempt).
	Attempts int
	// Err is the last attempt's error, or ctx's error if there was no
	// attempt. If ctx ended during a wait, Err matches ctx's error too.
	Err error
}

func (e *RetryError) Error() string {
	unit := "attempts"
	if e.Attempts == 1 {
		unit = "attempt"
	}
	return fmt.Sprintf("resilience: after %d %s: %v", e.Attempts, unit, e.Err)
}

// Unwrap returns Err.
func (e *RetryError) Unwrap() error { return e.Err }

// Retry runs op until it succeeds, retryable(err) is false, ctx is done or
// opts.MaxAttempts attempts were made. Before retry n (0 for the first
// retry) it sleeps a random delay in [0, min(MaxDelay, BaseDelay·Factorⁿ)]
// ("full jitter"); if that delay would reach ctx's deadline, it stops at
// once instead. Errors matching context.Canceled or
// context.DeadlineExceeded are never retried; a nil retryable retries every
// other error.
//
// Retry returns nil on success and otherwise a [*RetryError] wrapping the
// last error, so errors.Is and errors.As see through it.
func Retry(ctx context.Context, opts RetryOptions, op func(context.Context) error, retryable func(error) bool) error {
	return retry(ctx, opts, op, retryable, rand.N[int64])
}

// Signals from the operation to backoff.Retry. The real error stays outside
// backoff, which would otherwise act on a *backoff.RetryAfterError or
// *backoff.PermanentError found in it.
var (
	errAgain = errors.New("resilience: retry")
	errStop  = errors.New("resilience: stop")
)

// retry is Retry with an injectable random source: randN(n) returns a
// uniform value in [0, n).
func retry(ctx context.Context, opts RetryOptions, op func(context.Context) error, retryable func(error) bool, randN func(int64) int64) error {
	opts = opts.withDefaults()
	if err := ctx.Err(); err != nil {
		return &RetryError{Err: context.Cause(ctx)}
	}
	var (
		attempts int
		last     error
	)
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempts++
		last = op(ctx)
		switch {
		case last == nil:
			return struct{}{}, nil
		case errors.Is(last, context.Canceled), errors.Is(last, context.DeadlineExceeded),
			retryable != nil && !retryable(last):
			return struct{}{}, backoff.Permanent(errStop)
		default:
			return struct{}{}, errAgain
		}
	},
		backoff.WithBackOff(newJitterBackOff(ctx, opts, randN)),
		backoff.WithMaxTries(uint(opts.MaxAttempts)), //nolint:gosec // positive, set by withDefaults
		backoff.WithMaxElapsedTime(0),                // the context bounds the time
	)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errAgain), errors.Is(err, errStop):
		return &RetryError{Attempts: attempts, Err: last}
	case errors.Is(last, err):
		return &RetryError{Attempts: attempts, Err: last}
	default: // ctx ended while waiting: err is its cause
		return &RetryError{Attempts: attempts, Err: fmt.Errorf("%w (%w)", last, err)}
	}
}

// jitterBackOff is a backoff.BackOff with full jitter that stops rather than
// sleep up to or past the context's deadline.
type jitterBackOff struct {
	base, max, factor float64 // delays in nanoseconds
	retries           int
	deadline          time.Time // zero: none
	randN             func(int64) int64
}

func newJitterBackOff(ctx context.Context, opts RetryOptions, randN func(int64) int64) *jitterBackOff {
	deadline, _ := ctx.Deadline()
	return &jitterBackOff{
		base:     float64(opts.BaseDelay),
		max:      float64(opts.MaxDelay),
		factor:   opts.Factor,
		deadline: deadline,
		randN:    randN,
	}
}

// NextBackOff returns a delay in [0, min(max, base·factorⁿ)], or
// backoff.Stop if sleeping that long would reach the deadline.
func (j *jitterBackOff) NextBackOff() time.Duration {
	capped := math.Min(j.max, j.base*math.Pow(j.factor, float64(j.retries)))
	j.retries++
	n := int64(math.MaxInt64)
	if capped < float64(math.MaxInt64) {
		n = int64(capped) + 1
	}
	d := time.Duration(j.randN(n))
	if !j.deadline.IsZero() && !time.Now().Add(d).Before(j.deadline) {
		return backoff.Stop
	}
	return d
}

// Reset starts the sequence again.
func (j *jitterBackOff) Reset() { j.retries = 0 }
