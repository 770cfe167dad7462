package resilience

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

const peer = "spiffe://example.org/agent/search"

var errDown = errors.New("peer down")

// transitions records OnStateChange calls.
type transitions struct {
	mu  sync.Mutex
	got []string
}

func (tr *transitions) record(target string, from, to State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.got = append(tr.got, fmt.Sprintf("%s: %s->%s", target, from, to))
}

func (tr *transitions) check(t *testing.T, want ...string) {
	t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if diff := cmp.Diff(want, tr.got); diff != "" {
		t.Errorf("state changes (-want +got):\n%s", diff)
	}
}

// waitHalfOpen polls b.State(peer) until the recovery timeout has passed,
// for the test against a real server (which cannot run in a synctest
// bubble); the others wait in fake time.
func waitHalfOpen(t *testing.T, b *Breakers) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for b.State(peer) != HalfOpen {
		if time.Now().After(deadline) {
			t.Fatalf("State() = %v after 5s, want half-open", b.State(peer))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pastRecovery sleeps, in a synctest bubble, until just after the recovery
// timeout: a breaker turns half-open strictly after it.
func pastRecovery(recovery time.Duration) { time.Sleep(recovery + time.Nanosecond) }

// loopback is an HTTP server on 127.0.0.1 that can go down (listener and
// connections closed) and come back on the same address.
type loopback struct {
	t    *testing.T
	addr string
	srv  *http.Server
}

// newLoopback starts the server on a port below Linux's ephemeral range
// (32768-60999), so that while it is down no listener on port 0 can take it.
func newLoopback(t *testing.T) *loopback {
	t.Helper()
	s := &loopback{t: t}
	for range 100 {
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(10000)))
		if err == nil {
			s.serve(ln)
			t.Cleanup(s.down)
			return s
		}
	}
	t.Fatal("no free port in 20000-29999")
	return nil
}

// up restarts the server on the same address.
func (s *loopback) up() {
	s.t.Helper()
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatalf("listen %s: %v", s.addr, err)
	}
	s.serve(ln)
}

func (s *loopback) serve(ln net.Listener) {
	s.addr = ln.Addr().String()
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = s.srv.Serve(ln) }()
}

func (s *loopback) down() { _ = s.srv.Close() }

// caller calls a loopback server without keep-alives, counting calls and dials.
type caller struct {
	client       *http.Client
	url          string
	calls, dials atomic.Int32
}

func newCaller(t *testing.T, s *loopback) *caller {
	c := &caller{url: "http://" + s.addr + "/"}
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c.dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	c.client = &http.Client{Transport: tr}
	return c
}

func (c *caller) call(ctx context.Context) error {
	c.calls.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func TestBreakersLifecycleAgainstLoopback(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := newLoopback(t)
	c := newCaller(t, srv)
	var tr transitions
	const recovery = 100 * time.Millisecond
	b := NewBreakers(BreakerOptions{
		FailureThreshold: 3, RecoveryTimeout: recovery, SuccessThreshold: 2, OnStateChange: tr.record,
	})

	for range 2 {
		if err := b.Do(ctx, peer, c.call); err != nil {
			t.Fatalf("Do() with the server up = %v, want nil", err)
		}
	}

	srv.down()
	for i := range 3 {
		if got := b.State(peer); got != Closed {
			t.Fatalf("State() after %d failures = %v, want closed", i, got)
		}
		err := b.Do(ctx, peer, c.call)
		if err == nil || errors.Is(err, ErrOpen) {
			t.Fatalf("Do() with the server down = %v, want a dial error", err)
		}
	}
	if got := b.State(peer); got != Open {
		t.Fatalf("State() after 3 failures = %v, want open", got)
	}

	calls, dials := c.calls.Load(), c.dials.Load()
	for range 3 {
		err := b.Do(ctx, peer, c.call)
		var open *OpenError
		if !errors.As(err, &open) || !errors.Is(err, ErrOpen) {
			t.Fatalf("Do() while open = %v, want *OpenError matching ErrOpen", err)
		}
		if open.Target != peer || open.RetryAfter <= 0 || open.RetryAfter > recovery {
			t.Errorf("OpenError = %+v, want Target %q and RetryAfter in (0, %v]", open, peer, recovery)
		}
	}
	if c.calls.Load() != calls || c.dials.Load() != dials {
		t.Errorf("while open: calls %d->%d, dials %d->%d, want no change", calls, c.calls.Load(), dials, c.dials.Load())
	}

	srv.up()
	waitHalfOpen(t, b)
	if err := b.Do(ctx, peer, c.call); err != nil {
		t.Fatalf("first trial call = %v, want nil", err)
	}
	if got := b.State(peer); got != HalfOpen {
		t.Errorf("State() after 1 of 2 successes = %v, want half-open", got)
	}
	if err := b.Do(ctx, peer, c.call); err != nil {
		t.Fatalf("second trial call = %v, want nil", err)
	}
	if got := b.State(peer); got != Closed {
		t.Errorf("State() after 2 successes = %v, want closed", got)
	}
	tr.check(t, peer+": closed->open", peer+": open->half-open", peer+": half-open->closed")
}

// TestBreakersOpenUntilRecoveryTimeout follows one breaker in fake time:
// closed through FailureThreshold-1 failures, open at the threshold, then
// every call refused without running, with the time left as RetryAfter,
// until exactly RecoveryTimeout has passed.
func TestBreakersOpenUntilRecoveryTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var tr transitions
		const recovery = 30 * time.Second
		b := NewBreakers(BreakerOptions{FailureThreshold: 3, RecoveryTimeout: recovery, SuccessThreshold: 1, OnStateChange: tr.record})
		fail := func(context.Context) error { return errDown }
		for i := range 3 {
			if got := b.State(peer); got != Closed {
				t.Fatalf("State() after %d failures = %v, want closed", i, got)
			}
			if err := b.Do(t.Context(), peer, fail); !errors.Is(err, errDown) {
				t.Fatalf("Do() #%d = %v, want %v", i+1, err, errDown)
			}
		}
		if got := b.State(peer); got != Open {
			t.Fatalf("State() after 3 failures = %v, want open", got)
		}
		start := time.Now() // fake time: the instant it opened
		// At the timeout itself it is still open: trials start strictly
		// after it, with a nanosecond to go.
		for _, at := range []time.Duration{0, time.Second, recovery - time.Nanosecond, recovery} {
			time.Sleep(time.Until(start.Add(at)))
			called := false
			err := b.Do(t.Context(), peer, func(context.Context) error { called = true; return nil })
			var open *OpenError
			if !errors.As(err, &open) || !errors.Is(err, ErrOpen) || called {
				t.Fatalf("Do() %v after opening = %v (fn called: %v), want *OpenError matching ErrOpen", at, err, called)
			}
			if diff := cmp.Diff(&OpenError{Target: peer, RetryAfter: max(recovery-at, time.Nanosecond)}, open); diff != "" {
				t.Errorf("Do() %v after opening: OpenError (-want +got):\n%s", at, diff)
			}
			if got := b.State(peer); got != Open {
				t.Errorf("State() %v after opening = %v, want open", at, got)
			}
		}
		time.Sleep(time.Nanosecond)
		if got := b.State(peer); got != HalfOpen {
			t.Fatalf("State() just after the recovery timeout = %v, want half-open", got)
		}
		if err := b.Do(t.Context(), peer, func(context.Context) error { return nil }); err != nil {
			t.Fatalf("trial Do() = %v, want nil", err)
		}
		if got := b.State(peer); got != Closed {
			t.Errorf("State() after a successful trial = %v, want closed", got)
		}
		tr.check(t, peer+": closed->open", peer+": open->half-open", peer+": half-open->closed")
	})
}

func TestBreakersHalfOpenFailureReopens(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var tr transitions
		const recovery = 50 * time.Millisecond
		b := NewBreakers(BreakerOptions{FailureThreshold: 1, RecoveryTimeout: recovery, OnStateChange: tr.record})
		fail := func(context.Context) error { return errDown }

		if err := b.Do(t.Context(), peer, fail); !errors.Is(err, errDown) {
			t.Fatalf("Do() = %v, want %v", err, errDown)
		}
		pastRecovery(recovery)
		if got := b.State(peer); got != HalfOpen {
			t.Fatalf("State() after the recovery timeout = %v, want half-open", got)
		}
		if err := b.Do(t.Context(), peer, fail); !errors.Is(err, errDown) {
			t.Fatalf("trial Do() = %v, want %v", err, errDown)
		}
		if got := b.State(peer); got != Open {
			t.Errorf("State() after a failed trial = %v, want open", got)
		}
		// Open again for a whole recovery timeout.
		var open *OpenError
		if err := b.Do(t.Context(), peer, fail); !errors.As(err, &open) || open.RetryAfter != recovery {
			t.Errorf("Do() after a failed trial = %v, want *OpenError with RetryAfter %v", err, recovery)
		}
		tr.check(t, peer+": closed->open", peer+": open->half-open", peer+": half-open->open")
	})
}

func TestBreakersHalfOpenAdmitsSuccessThresholdCalls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const recovery = 50 * time.Millisecond
		b := NewBreakers(BreakerOptions{FailureThreshold: 1, RecoveryTimeout: recovery, SuccessThreshold: 2})
		_ = b.Do(t.Context(), peer, func(context.Context) error { return errDown })
		pastRecovery(recovery)

		var entered atomic.Int32
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				err := b.Do(t.Context(), peer, func(context.Context) error {
					entered.Add(1)
					<-release
					return nil
				})
				if err != nil {
					t.Errorf("trial Do() = %v, want nil", err)
				}
			})
		}
		synctest.Wait() // both trials blocked in fn
		if n := entered.Load(); n != 2 {
			t.Fatalf("%d trial calls running, want 2", n)
		}

		called := false
		err := b.Do(t.Context(), peer, func(context.Context) error { called = true; return nil })
		var open *OpenError
		if !errors.As(err, &open) || called {
			t.Fatalf("third Do() while 2 trials are in flight = %v (fn called: %v), want *OpenError", err, called)
		}
		if diff := cmp.Diff(&OpenError{Target: peer}, open); diff != "" {
			t.Errorf("OpenError (-want +got):\n%s", diff)
		}
		close(release)
		wg.Wait()
		if got := b.State(peer); got != Closed {
			t.Errorf("State() after 2 successful trials = %v, want closed", got)
		}
	})
}

func TestBreakersNeutralErrors(t *testing.T) {
	t.Parallel()
	errDenied := errors.New("policy denied")
	errBusiness := errors.New("task failed")
	tests := []struct {
		name      string
		isFailure func(error) bool
		err       error
	}{
		{name: "NotPeerFault", err: NotPeerFault(errDenied)},
		{name: "NotPeerFault wrapped", err: fmt.Errorf("call: %w", NotPeerFault(errDenied))},
		{name: "NotPeerFault beats IsFailure", isFailure: func(error) bool { return true }, err: NotPeerFault(errDenied)},
		{name: "context.Canceled", err: fmt.Errorf("post: %w", context.Canceled)},
		{name: "IsFailure false", isFailure: func(err error) bool { return !errors.Is(err, errBusiness) }, err: errBusiness},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := NewBreakers(BreakerOptions{FailureThreshold: 2, IsFailure: tt.isFailure})
			for range 10 {
				if err := b.Do(t.Context(), peer, func(context.Context) error { return tt.err }); err != tt.err { //nolint:errorlint // returned unchanged
					t.Fatalf("Do() = %v, want %v unchanged", err, tt.err)
				}
			}
			if got := b.State(peer); got != Closed {
				t.Errorf("State() after 10 neutral errors = %v, want closed", got)
			}
		})
	}
}

func TestNotPeerFault(t *testing.T) {
	t.Parallel()
	errDenied := errors.New("policy denied")
	err := NotPeerFault(errDenied)
	if !errors.Is(err, errDenied) || err.Error() != errDenied.Error() {
		t.Errorf("NotPeerFault(%v) = %q, want the same message and errors.Is", errDenied, err)
	}
	if NotPeerFault(nil) != nil {
		t.Error("NotPeerFault(nil) != nil")
	}
}

func TestBreakersNeutralErrorFreesTrialSlot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const recovery = 50 * time.Millisecond
		b := NewBreakers(BreakerOptions{FailureThreshold: 1, RecoveryTimeout: recovery, SuccessThreshold: 1})
		_ = b.Do(t.Context(), peer, func(context.Context) error { return errDown })
		pastRecovery(recovery)
		_ = b.Do(t.Context(), peer, func(context.Context) error { return NotPeerFault(errDown) })
		if got := b.State(peer); got != HalfOpen {
			t.Fatalf("State() after a neutral trial = %v, want half-open", got)
		}
		if err := b.Do(t.Context(), peer, func(context.Context) error { return nil }); err != nil {
			t.Fatalf("trial Do() = %v, want nil", err)
		}
		if got := b.State(peer); got != Closed {
			t.Errorf("State() = %v, want closed", got)
		}
	})
}

func TestBreakersPanicCountsAsFailure(t *testing.T) {
	t.Parallel()
	b := NewBreakers(BreakerOptions{FailureThreshold: 1})
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recover() = %v, want boom", r)
			}
		}()
		_ = b.Do(t.Context(), peer, func(context.Context) error { panic("boom") })
	}()
	if got := b.State(peer); got != Open {
		t.Errorf("State() after a panic = %v, want open", got)
	}
}

func TestBreakersDoneContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	b := NewBreakers(BreakerOptions{})
	called := false
	if err := b.Do(ctx, peer, func(context.Context) error { called = true; return nil }); !errors.Is(err, context.Canceled) || called {
		t.Errorf("Do(canceled ctx) = %v (fn called: %v), want context.Canceled", err, called)
	}
}

func TestBreakersNil(t *testing.T) {
	t.Parallel()
	var b *Breakers
	if err := b.Do(t.Context(), peer, func(context.Context) error { return errDown }); !errors.Is(err, errDown) {
		t.Errorf("nil Breakers Do() = %v, want %v", err, errDown)
	}
	if got := b.State(peer); got != Closed {
		t.Errorf("nil Breakers State() = %v, want closed", got)
	}
}

func TestBreakersBoundedTargets(t *testing.T) {
	t.Parallel()
	b := NewBreakers(BreakerOptions{FailureThreshold: 1, MaxTargets: 3})
	ok := func(context.Context) error { return nil }
	_ = b.Do(t.Context(), peer, func(context.Context) error { return errDown })
	for i := range 20 {
		_ = b.Do(t.Context(), fmt.Sprintf("spiffe://example.org/agent/%d", i), ok)
		b.mu.Lock()
		n := b.targets.Len()
		b.mu.Unlock()
		if n > 3 {
			t.Fatalf("%d breakers kept, want at most MaxTargets = 3", n)
		}
	}
	if got := b.State(peer); got != Open {
		t.Errorf("State(open target) after 20 other targets = %v, want open (closed ones evicted first)", got)
	}
}

func TestStateString(t *testing.T) {
	t.Parallel()
	for s, want := range map[State]string{Closed: "closed", HalfOpen: "half-open", Open: "open", State(7): "State(7)"} {
		if got := s.String(); got != want {
			t.Errorf("State(%d).String() = %q, want %q", int(s), got, want)
		}
	}
}

// TestBreakersConcurrent drives breakers from many goroutines (with -race)
// and checks what concurrency could break: a breaker opens once however
// many failures race to open it, a half-open breaker admits exactly
// SuccessThreshold trials, every breaker's states follow one another (each
// change starts from the state the previous one reached), the breakers
// never outnumber MaxTargets, and each kept breaker's mirrored state is
// gobreaker's own.
func TestBreakersConcurrent(t *testing.T) {
	t.Parallel()
	fail := func(context.Context) error { return errDown }
	ok := func(context.Context) error { return nil }

	t.Run("racing failures open once", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var tr transitions
			const recovery = time.Hour // no trial during the test
			b := NewBreakers(BreakerOptions{FailureThreshold: 3, RecoveryTimeout: recovery, OnStateChange: tr.record})
			const goroutines, calls = 8, 50
			var ran, refused atomic.Int32
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					for range calls {
						err := b.Do(t.Context(), peer, func(ctx context.Context) error { ran.Add(1); return fail(ctx) })
						var open *OpenError
						switch {
						case errors.As(err, &open):
							refused.Add(1)
							if open.Target != peer || open.RetryAfter != recovery {
								t.Errorf("OpenError = %+v, want Target %q, RetryAfter %v (no time passes)", open, peer, recovery)
							}
						case !errors.Is(err, errDown):
							t.Errorf("Do() = %v, want %v or *OpenError", err, errDown)
						}
					}
				})
			}
			wg.Wait()
			tr.check(t, peer+": closed->open")
			// Calls that ran: the threshold's, plus those already admitted
			// when it tripped: at most 2 finished before it, and one per
			// goroutine in flight.
			if n := ran.Load(); n < 3 || n > 2+goroutines {
				t.Errorf("%d calls ran, want 3 to %d", n, 2+goroutines)
			}
			if n, r := ran.Load(), refused.Load(); n+r != goroutines*calls {
				t.Errorf("%d calls ran and %d were refused, want %d in all", n, r, goroutines*calls)
			}
			if got := b.State(peer); got != Open {
				t.Errorf("State() = %v, want open", got)
			}
		})
	})

	t.Run("racing trials", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var tr transitions
			const recovery, trials, goroutines = time.Minute, 3, 10
			b := NewBreakers(BreakerOptions{FailureThreshold: 1, RecoveryTimeout: recovery, SuccessThreshold: trials, OnStateChange: tr.record})
			_ = b.Do(t.Context(), peer, fail)
			pastRecovery(recovery)
			release := make(chan struct{})
			var ran, refused atomic.Int32
			var wg sync.WaitGroup
			for range goroutines {
				wg.Go(func() {
					err := b.Do(t.Context(), peer, func(context.Context) error { ran.Add(1); <-release; return nil })
					var open *OpenError
					switch {
					case errors.As(err, &open):
						refused.Add(1)
						if open.RetryAfter != 0 {
							t.Errorf("OpenError while half-open = %+v, want RetryAfter 0", open)
						}
					case err != nil:
						t.Errorf("Do() = %v", err)
					}
				})
			}
			synctest.Wait() // every goroutine refused, or blocked in its trial
			if n, r := ran.Load(), refused.Load(); n != trials || r != goroutines-trials {
				t.Errorf("half-open: %d trials ran, %d refused; want %d and %d", n, r, trials, goroutines-trials)
			}
			close(release)
			wg.Wait()
			if got := b.State(peer); got != Closed {
				t.Errorf("State() after %d successful trials = %v, want closed", trials, got)
			}
			tr.check(t, peer+": closed->open", peer+": open->half-open", peer+": half-open->closed")
		})
	})

	// Calls from 8 goroutines, failing for 10ms (in the bubble's time),
	// then succeeding for 10ms, and so on, so that breakers open, recover
	// and reopen. target(g, i) is goroutine g's i-th target.
	load := func(t *testing.T, b *Breakers, target func(g, i int) string, during func()) (ran, refused int32) {
		t.Helper()
		var nran, nrefused atomic.Int32
		var wg sync.WaitGroup
		start := time.Now()
		for g := range 8 {
			wg.Go(func() {
				for i := range 400 {
					target := target(g, i)
					fn := ok
					if (time.Since(start)/(10*time.Millisecond))%2 == 0 {
						fn = fail
					}
					err := b.Do(t.Context(), target, func(ctx context.Context) error { nran.Add(1); return fn(ctx) })
					var open *OpenError
					switch {
					case errors.As(err, &open):
						nrefused.Add(1)
					case err != nil && !errors.Is(err, errDown):
						t.Errorf("Do() = %v", err)
					}
					if i%10 == 0 {
						time.Sleep(time.Millisecond)
					}
					during()
				}
			})
		}
		wg.Wait()
		return nran.Load(), nrefused.Load()
	}

	t.Run("states follow one another", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			type change struct{ from, to State }
			var mu sync.Mutex
			changes := map[string][]change{}
			b := NewBreakers(BreakerOptions{
				FailureThreshold: 3, RecoveryTimeout: 5 * time.Millisecond, SuccessThreshold: 2, MaxTargets: 6,
				OnStateChange: func(target string, from, to State) {
					mu.Lock()
					defer mu.Unlock()
					changes[target] = append(changes[target], change{from, to})
				},
			})
			ran, refused := load(t, b, func(g, i int) string {
				return fmt.Sprintf("spiffe://example.org/agent/%d", (g+i)%6)
			}, func() {})
			if ran+refused != 8*400 {
				t.Errorf("%d calls ran and %d were refused, want %d in all", ran, refused, 8*400)
			}
			valid := map[change]bool{{Closed, Open}: true, {Open, HalfOpen}: true, {HalfOpen, Open}: true, {HalfOpen, Closed}: true}
			counts := map[change]int{}
			for target, cs := range changes {
				state := Closed
				for i, c := range cs {
					if c.from != state || !valid[c] {
						t.Fatalf("%s: change %d is %v->%v, after reaching %v", target, i, c.from, c.to, state)
					}
					state = c.to
					counts[c]++
				}
				got := b.State(target)
				if state == Open && got == HalfOpen { // its timeout passed since
					br, _ := b.targets.Peek(target)
					if br.retryAfter(b.opts.RecoveryTimeout, time.Now()) != 0 {
						t.Errorf("%s: State() = half-open before its timeout", target)
					}
				} else if got != state {
					t.Errorf("%s: State() = %v, want %v, the last change reported", target, got, state)
				}
			}
			// The load did exercise the breakers both ways.
			if counts[change{Closed, Open}] == 0 || counts[change{HalfOpen, Closed}] == 0 || refused == 0 {
				t.Errorf("changes %v, %d refusals: want breakers opened, closed again, and calls refused", counts, refused)
			}
		})
	})

	t.Run("bounded and consistent under eviction", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			b := NewBreakers(BreakerOptions{FailureThreshold: 3, RecoveryTimeout: 5 * time.Millisecond, MaxTargets: 4})
			var over atomic.Int32 // breakers kept past MaxTargets, once seen
			// Three busy targets and three occasional ones: cycling through
			// six targets with room for four would evict every breaker
			// before it could open.
			_, refused := load(t, b, func(g, i int) string {
				if i%10 == 0 {
					return fmt.Sprintf("spiffe://example.org/agent/occasional/%d", (g+i)%3)
				}
				return fmt.Sprintf("spiffe://example.org/agent/busy/%d", (g+i)%3)
			}, func() {
				b.mu.Lock()
				n := b.targets.Len()
				b.mu.Unlock()
				if n > 4 {
					over.Store(int32(n)) //nolint:gosec // a handful
				}
			})
			if n := over.Load(); n != 0 {
				t.Errorf("%d breakers kept at once, want at most MaxTargets = 4", n)
			}
			if refused == 0 {
				t.Error("no call refused: the load never opened a breaker")
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			for target, br := range b.targets.Backward() {
				own := fromGobreaker(br.cb.State()) // may turn open into half-open, updating the mirror
				if mirror := State(br.state.Load()); mirror != own {
					t.Errorf("%s: mirrored state %v, gobreaker's %v", target, mirror, own)
				}
			}
		})
	})
}
