package resilience_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/agentweave/agentweave-go/resilience"
)

func ExampleBreakers() {
	ctx := context.Background()
	breakers := resilience.NewBreakers(resilience.BreakerOptions{FailureThreshold: 2, RecoveryTimeout: time.Minute})
	peer := "spiffe://example.org/agent/search"
	refused := errors.New("connection refused")

	for range 2 {
		err := breakers.Do(ctx, peer, func(context.Context) error { return refused })
		fmt.Println(err)
	}
	fmt.Println(breakers.State(peer))

	err := breakers.Do(ctx, peer, func(context.Context) error {
		fmt.Println("not called while open")
		return nil
	})
	var open *resilience.OpenError
	fmt.Println(errors.Is(err, resilience.ErrOpen), errors.As(err, &open) && open.RetryAfter > 0)
	// Output:
	// connection refused
	// connection refused
	// open
	// true true
}

func ExampleNotPeerFault() {
	ctx := context.Background()
	breakers := resilience.NewBreakers(resilience.BreakerOptions{FailureThreshold: 1})
	peer := "spiffe://example.org/agent/search"

	// The peer answered, and said no: that is no reason to stop calling it.
	err := breakers.Do(ctx, peer, func(context.Context) error {
		return resilience.NotPeerFault(errors.New("permission denied"))
	})
	fmt.Println(err, breakers.State(peer))
	// Output: permission denied closed
}

func ExampleRetry() {
	attempts := 0
	err := resilience.Retry(context.Background(), resilience.RetryOptions{MaxAttempts: 5, BaseDelay: time.Millisecond},
		func(context.Context) error {
			attempts++
			if attempts < 3 {
				return errors.New("connection reset by peer")
			}
			return nil
		}, nil)
	fmt.Println(err, attempts)
	// Output: <nil> 3
}

func ExampleSafeToRetry() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()

	sendMessage := func(url string) error {
		ctx, sent := resilience.TrackSent(context.Background())
		err := resilience.Retry(ctx, resilience.RetryOptions{BaseDelay: time.Millisecond}, func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{}`))
			if err != nil {
				return err
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			return fmt.Errorf("status %d", resp.StatusCode)
		}, resilience.SafeToRetry(sent, false))
		fmt.Printf("sent=%v answered=%v: ", sent.Sent(), sent.Answered())
		return err
	}

	// The server answered: never retried.
	fmt.Println(sendMessage(srv.URL))
	// Nothing listens: never sent, so retried.
	var re *resilience.RetryError
	if errors.As(sendMessage("http://127.0.0.1:1/"), &re) {
		fmt.Println(re.Attempts, "attempts")
	}
	// Output:
	// sent=true answered=true: resilience: after 1 attempt: status 503
	// sent=false answered=false: 3 attempts
}

func ExampleRateLimiter() {
	limiter := resilience.NewRateLimiter(resilience.RateOptions{PerSecond: 1, Burst: 2})
	caller := "spiffe://example.org/agent/orchestrator"
	for range 3 {
		err := limiter.Allow(caller)
		fmt.Println(errors.Is(err, resilience.ErrRateLimited))
	}
	// Output:
	// false
	// false
	// true
}
