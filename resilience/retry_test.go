package resilience

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/google/go-cmp/cmp"
)

var errTransient = errors.New("connection reset")

// maxRand is a random source that always picks the largest delay.
func maxRand(n int64) int64 { return n - 1 }

// failing returns an op that fails with err and counts its calls.
func failing(err error, calls *int) func(context.Context) error {
	return func(context.Context) error { *calls++; return err }
}

func TestRetryAttempts(t *testing.T) {
	t.Parallel()
	fast := RetryOptions{MaxAttempts: 4, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}
	always := func(error) bool { return true }
	never := func(error) bool { return false }
	tests := []struct {
		name      string
		opts      RetryOptions
		err       error
		retryable func(error) bool
		want      int
	}{
		{name: "retryable", opts: fast, err: errTransient, retryable: always, want: 4},
		{name: "nil retryable retries", opts: fast, err: errTransient, want: 4},
		{name: "not retryable", opts: fast, err: errTransient, retryable: never, want: 1},
		{name: "canceled never retried", opts: fast, err: fmt.Errorf("post: %w", context.Canceled), retryable: always, want: 1},
		{name: "deadline never retried", opts: fast, err: context.DeadlineExceeded, retryable: always, want: 1},
		{name: "MaxAttempts 1", opts: RetryOptions{MaxAttempts: 1}, err: errTransient, retryable: always, want: 1},
		{name: "default MaxAttempts", opts: RetryOptions{BaseDelay: time.Millisecond}, err: errTransient, retryable: always, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			err := Retry(t.Context(), tt.opts, failing(tt.err, &calls), tt.retryable)
			var re *RetryError
			if !errors.As(err, &re) || !errors.Is(err, tt.err) {
				t.Fatalf("Retry() = %v, want a *RetryError wrapping %v", err, tt.err)
			}
			if re.Attempts != tt.want || calls != tt.want {
				t.Errorf("Retry() made %d attempts (reported %d), want %d", calls, re.Attempts, tt.want)
			}
		})
	}
}

func TestRetrySucceeds(t *testing.T) {
	t.Parallel()
	calls := 0
	err := Retry(t.Context(), RetryOptions{MaxAttempts: 5, BaseDelay: time.Millisecond}, func(context.Context) error {
		calls++
		if calls < 3 {
			return errTransient
		}
		return nil
	}, nil)
	if err != nil || calls != 3 {
		t.Errorf("Retry() = %v after %d calls, want nil after 3", err, calls)
	}
}

type statusError struct{ code int }

func (e *statusError) Error() string { return fmt.Sprintf("status %d", e.code) }

func TestRetryErrorUnwraps(t *testing.T) {
	t.Parallel()
	err := Retry(t.Context(), RetryOptions{MaxAttempts: 1}, func(context.Context) error {
		return fmt.Errorf("call: %w", &statusError{code: 503})
	}, nil)
	var se *statusError
	if !errors.As(err, &se) || se.code != 503 {
		t.Errorf("errors.As(Retry(), *statusError) failed on %v", err)
	}
	if got, want := err.Error(), "resilience: after 1 attempt: call: status 503"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestJitterBackOffBounds(t *testing.T) {
	t.Parallel()
	var caps []time.Duration
	j := newJitterBackOff(t.Context(), RetryOptions{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second, Factor: 2}.withDefaults(),
		func(n int64) int64 { caps = append(caps, time.Duration(n-1)); return n - 1 })
	var got []time.Duration
	for range 6 {
		got = append(got, j.NextBackOff())
	}
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, time.Second, time.Second}
	if diff := cmp.Diff(want, caps); diff != "" {
		t.Errorf("delay caps (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("delays with the largest random pick (-want +got):\n%s", diff)
	}
	j.Reset()
	if d := j.NextBackOff(); d != 100*ms {
		t.Errorf("NextBackOff() after Reset = %v, want %v", d, 100*ms)
	}

	// With the real random source every delay stays within its cap.
	for range 1000 {
		j = newJitterBackOff(t.Context(), RetryOptions{BaseDelay: 10 * ms, MaxDelay: 50 * ms, Factor: 3}, rand.N[int64])
		for i, c := range []time.Duration{10 * ms, 30 * ms, 50 * ms, 50 * ms} {
			if d := j.NextBackOff(); d < 0 || d > c {
				t.Fatalf("delay %d = %v, want in [0, %v]", i, d, c)
			}
		}
	}
}

func TestRetrySleepsBetweenAttempts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var at []time.Duration // when each attempt ran
		start := time.Now()
		op := func(context.Context) error { at = append(at, time.Since(start)); return errTransient }
		opts := RetryOptions{MaxAttempts: 3, BaseDelay: 20 * time.Millisecond, Factor: 2}
		_ = retry(t.Context(), opts, op, nil, maxRand)
		// Sleeps of 20ms then 40ms (the largest jitter), nothing after the
		// last attempt.
		if diff := cmp.Diff([]time.Duration{0, 20 * time.Millisecond, 60 * time.Millisecond}, at); diff != "" {
			t.Errorf("attempt times (-want +got):\n%s", diff)
		}
		if elapsed := time.Since(start); elapsed != 60*time.Millisecond {
			t.Errorf("Retry() took %v, want 60ms", elapsed)
		}
	})
}

func TestRetryStopsBeforeDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		calls := 0
		start := time.Now()
		err := retry(ctx, RetryOptions{MaxAttempts: 5, BaseDelay: time.Second}, failing(errTransient, &calls), nil, maxRand)
		if elapsed := time.Since(start); elapsed != 0 {
			t.Errorf("Retry() returned after %v, want at once (the 1s delay would cross the deadline)", elapsed)
		}
		var re *RetryError
		if !errors.As(err, &re) || re.Attempts != 1 || !errors.Is(err, errTransient) {
			t.Errorf("Retry() = %v, want a *RetryError of 1 attempt wrapping %v", err, errTransient)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Retry() = %v, want the last error, not the deadline", err)
		}
	})
}

func TestRetryCanceledWhileWaiting(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		calls := 0
		op := func(context.Context) error {
			calls++
			time.AfterFunc(20*time.Millisecond, cancel)
			return errTransient
		}
		start := time.Now()
		err := retry(ctx, RetryOptions{MaxAttempts: 3, BaseDelay: time.Hour}, op, nil, maxRand)
		var re *RetryError
		if !errors.As(err, &re) || re.Attempts != 1 || !errors.Is(err, errTransient) || !errors.Is(err, context.Canceled) {
			t.Errorf("Retry() = %v, want a *RetryError of 1 attempt matching %v and context.Canceled", err, errTransient)
		}
		if elapsed := time.Since(start); elapsed != 20*time.Millisecond {
			t.Errorf("Retry() returned %v after the attempt, want 20ms, at the cancellation", elapsed)
		}
	})
}

func TestRetryDoneBeforeFirstAttempt(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	calls := 0
	err := Retry(ctx, RetryOptions{}, failing(errTransient, &calls), nil)
	var re *RetryError
	if !errors.As(err, &re) || re.Attempts != 0 || calls != 0 || !errors.Is(err, context.Canceled) {
		t.Errorf("Retry(canceled) = %v after %d calls, want a *RetryError of 0 attempts matching context.Canceled", err, calls)
	}
}

// backoff acts on a *backoff.RetryAfterError it finds in an error; Retry
// must not let it sleep an hour.
func TestRetryIgnoresBackoffSignals(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		calls := 0
		op := failing(fmt.Errorf("wrapped: %w", &backoff.RetryAfterError{Duration: time.Hour}), &calls)
		start := time.Now()
		err := Retry(t.Context(), RetryOptions{MaxAttempts: 2, BaseDelay: time.Millisecond}, op, nil)
		var re *RetryError
		if !errors.As(err, &re) || re.Attempts != 2 {
			t.Errorf("Retry() = %v, want a *RetryError of 2 attempts", err)
		}
		if elapsed := time.Since(start); elapsed > time.Millisecond {
			t.Errorf("Retry() slept %v, want at most BaseDelay (1ms), not the error's hour", elapsed)
		}
	})
}

func TestRetryOptionsDefaults(t *testing.T) {
	t.Parallel()
	got := RetryOptions{Factor: 0.5}.withDefaults()
	want := RetryOptions{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: 30 * time.Second, Factor: 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}
