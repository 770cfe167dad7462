// Package resilience keeps an agent's outbound calls from making a bad
// situation worse: per-target circuit breakers, retries with exponential
// backoff and full jitter only where a retry cannot duplicate work, and
// per-caller rate limits for the inbound side.
//
// It is a leaf package: it knows nothing of A2A, SPIFFE or policy, and works
// on plain functions, errors and [context.Context].
//
// # Circuit breakers
//
// [Breakers] holds one breaker per target (a peer's SPIFFE ID). [Breakers.Do]
// runs a call through the target's breaker: after
// [BreakerOptions.FailureThreshold] consecutive failures the breaker opens
// and calls fail fast with an [*OpenError] (matching [ErrOpen]) without
// running; after [BreakerOptions.RecoveryTimeout] it lets
// [BreakerOptions.SuccessThreshold] trial calls through and closes when they
// all succeed. Answers that say nothing about the peer's health (a policy
// denial, a 4xx, a task that failed in business code) are wrapped with
// [NotPeerFault]: they reach the caller but never open a breaker.
//
// # Retries
//
// [Retry] runs an operation up to [RetryOptions.MaxAttempts] times, sleeping
// a random delay in [0, min(MaxDelay, BaseDelay·Factorⁿ)] between attempts,
// and never sleeps past the context's deadline. Whether an error may be
// retried is the caller's decision; [SafeToRetry] encodes the rule for HTTP
// requests: an idempotent read (GetTask) may be retried after a transport
// error, a non-idempotent request (SendMessage) only when no byte of it was
// written to the connection, which [TrackSent] observes through
// net/http/httptrace. Context cancellation and answers the server gave are
// never retried.
//
// A SendMessage call through all three looks like this. Retry is outside,
// so every attempt counts with the breaker, and TrackSent is called once
// per logical request, so that once any attempt was sent no attempt follows:
//
//	ctx, sent := resilience.TrackSent(ctx)
//	err := resilience.Retry(ctx, resilience.RetryOptions{}, func(ctx context.Context) error {
//		return breakers.Do(ctx, peer.String(), func(ctx context.Context) error {
//			_, err := client.SendMessage(ctx, req) // builds its request with ctx
//			return classify(err)                  // NotPeerFault for 4xx, denials, ...
//		})
//	}, resilience.SafeToRetry(sent, false))
//
// # Rate limits
//
// [RateLimiter] is a token bucket per key (the caller's SPIFFE ID) with a
// bounded number of keys; [RateLimiter.Allow] returns nil or a
// [*RateLimitError] (matching [ErrRateLimited]) that says when to retry.
//
// All types are safe for concurrent use.
package resilience
