package resilience

import (
	"context"
	"errors"
	"net/http/httptrace"
	"sync/atomic"
)

// Sent records, through net/http/httptrace, whether net/http started writing
// an HTTP request to a connection and whether the server started answering.
// Both flags are sticky: a Sent shared by all the attempts of one logical
// request stays sent once any attempt was sent. It is safe for concurrent
// use.
//
// A request counts as sent from the moment net/http starts writing it to a
// connection it obtained, with HTTP/1.1 and HTTP/2 alike:
//
//   - Not sent: no connection (refused, unreachable, DNS failure, dial
//     timeout), a failed TLS handshake (the peer accepted the TCP connection
//     and closed it, or its certificate failed verification), a canceled
//     wait for a pooled connection or an HTTP/2 stream slot. With TLS 1.3, a
//     server that rejects the client's certificate says so only after the
//     client has finished its handshake and written the request: sent.
//   - Sent: the first request header was written (WroteHeaderField), the
//     headers were written (WroteHeaders; for HTTP/2, the HEADERS frame write
//     was attempted) or the request write ended, successfully or not
//     (WroteRequest).
//
// The rule errs on the side of "sent": HTTP/1.1 header fields go to a
// buffer first, and HTTP/2 header fields are reported while being encoded,
// so a request that failed before its buffer reached the socket counts as
// sent too. Such a false "sent" only forgoes a retry; it never causes a
// duplicate. When an HTTP/1.1 server accepts a plaintext connection and
// closes it at once, the outcome depends on timing (did net/http notice the
// close before writing?); both outcomes are safe. net/http reports these
// events before RoundTrip returns its error, so Sent is accurate by the time
// the caller sees the error.
type Sent struct {
	sent     atomic.Bool
	answered atomic.Bool
}

// TrackSent returns a context whose HTTP requests (made with
// http.NewRequestWithContext) report to the returned [*Sent]. It composes
// with client traces already in ctx. Call it once per logical request,
// outside [Retry], so that the record covers every attempt.
func TrackSent(ctx context.Context) (context.Context, *Sent) {
	s := &Sent{}
	mark := func() {
		if !s.sent.Load() {
			s.sent.Store(true)
		}
	}
	trace := &httptrace.ClientTrace{
		WroteHeaderField:     func(string, []string) { mark() },
		WroteHeaders:         mark,
		WroteRequest:         func(httptrace.WroteRequestInfo) { mark() },
		GotFirstResponseByte: func() { s.answered.Store(true) },
	}
	return httptrace.WithClientTrace(ctx, trace), s
}

// Sent reports whether any request traced by s was (or may have been)
// written to a connection. A nil *Sent reports true: unknown means sent.
func (s *Sent) Sent() bool { return s == nil || s.sent.Load() }

// Answered reports whether the server started answering any request traced
// by s (the first byte of a response arrived). A nil *Sent reports false.
func (s *Sent) Answered() bool { return s != nil && s.answered.Load() }

// SafeToRetry returns a retryable function for [Retry] that encodes when an
// HTTP request may be sent again. It never retries:
//   - nil, or errors matching context.Canceled or context.DeadlineExceeded;
//   - an [*OpenError]: the breaker refused the call, waiting is the answer;
//   - errors marked with [NotPeerFault];
//   - after the server started answering ([Sent.Answered]): its answer,
//     even a 5xx, is final.
//
// Otherwise, an idempotent request (a read such as GetTask) is retried, and
// a non-idempotent one (SendMessage) only if it was never sent
// ([Sent.Sent]). With a nil s, non-idempotent requests are never retried.
func SafeToRetry(s *Sent, idempotent bool) func(error) bool {
	return func(err error) bool {
		switch {
		case err == nil,
			errors.Is(err, context.Canceled),
			errors.Is(err, context.DeadlineExceeded),
			errors.Is(err, ErrOpen),
			isNotPeerFault(err),
			s.Answered():
			return false
		case idempotent:
			return true
		default:
			return !s.Sent()
		}
	}
}
