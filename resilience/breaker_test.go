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

// waitHalfOpen polls b.State(peer) until the recovery timeout has passed.
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

func TestBreakersHalfOpenFailureReopens(t *testing.T) {
	t.Parallel()
	var tr transitions
	b := NewBreakers(BreakerOptions{FailureThreshold: 1, RecoveryTimeout: 50 * time.Millisecond, OnStateChange: tr.record})
	fail := func(context.Context) error { return errDown }

	if err := b.Do(t.Context(), peer, fail); !errors.Is(err, errDown) {
		t.Fatalf("Do() = %v, want %v", err, errDown)
	}
	waitHalfOpen(t, b)
	if err := b.Do(t.Context(), peer, fail); !errors.Is(err, errDown) {
		t.Fatalf("trial Do() = %v, want %v", err, errDown)
	}
	if got := b.State(peer); got != Open {
		t.Errorf("State() after a failed trial = %v, want open", got)
	}
	tr.check(t, peer+": closed->open", peer+": open->half-open", peer+": half-open->open")
}

func TestBreakersHalfOpenAdmitsSuccessThresholdCalls(t *testing.T) {
	t.Parallel()
	b := NewBreakers(BreakerOptions{FailureThreshold: 1, RecoveryTimeout: 50 * time.Millisecond, SuccessThreshold: 2})
	_ = b.Do(t.Context(), peer, func(context.Context) error { return errDown })
	waitHalfOpen(t, b)

	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			err := b.Do(t.Context(), peer, func(context.Context) error {
				entered <- struct{}{}
				<-release
				return nil
			})
			if err != nil {
				t.Errorf("trial Do() = %v, want nil", err)
			}
		})
	}
	<-entered
	<-entered

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
	b := NewBreakers(BreakerOptions{FailureThreshold: 1, RecoveryTimeout: 50 * time.Millisecond, SuccessThreshold: 1})
	_ = b.Do(t.Context(), peer, func(context.Context) error { return errDown })
	waitHalfOpen(t, b)
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

func TestBreakersConcurrent(t *testing.T) {
	t.Parallel()
	b := NewBreakers(BreakerOptions{FailureThreshold: 3, RecoveryTimeout: time.Millisecond, MaxTargets: 4})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				target := fmt.Sprintf("spiffe://example.org/agent/%d", (g+i)%6)
				_ = b.Do(t.Context(), target, func(context.Context) error {
					if i%3 == 0 {
						return errDown
					}
					return nil
				})
				_ = b.State(target)
			}
		})
	}
	wg.Wait()
}
