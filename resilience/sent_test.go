package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// mode is a way to carry HTTP: every test of this file runs in each.
type mode struct {
	name       string
	tls, http2 bool
}

var modes = []mode{
	{name: "HTTP1"},
	{name: "H2C", http2: true},
	{name: "HTTP1-TLS", tls: true},
	{name: "HTTP2-TLS", tls: true, http2: true},
}

func run(t *testing.T, f func(t *testing.T, m mode)) {
	t.Helper()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			f(t, m)
		})
	}
}

// serve starts h on loopback in mode m, with configure applied to the
// unstarted server, and returns its URL and a client for it.
func (m mode) serve(t *testing.T, h http.Handler, configure ...func(*httptest.Server)) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	for _, c := range configure {
		c(srv)
	}
	var client *http.Client
	switch {
	case m.tls:
		srv.EnableHTTP2 = m.http2
		srv.StartTLS()
		client = srv.Client()
	default:
		tr := &http.Transport{}
		if m.http2 { // h2c with prior knowledge on both sides
			srv.Config.Protocols = new(http.Protocols)
			srv.Config.Protocols.SetHTTP1(true)
			srv.Config.Protocols.SetUnencryptedHTTP2(true)
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetUnencryptedHTTP2(true)
		}
		srv.Start()
		t.Cleanup(tr.CloseIdleConnections)
		client = &http.Client{Transport: tr}
	}
	t.Cleanup(srv.Close)
	return srv.URL, client
}

// url returns addr as a URL in m's scheme.
func (m mode) url(addr string) string {
	if m.tls {
		return "https://" + addr + "/"
	}
	return "http://" + addr + "/"
}

// post returns an op that POSTs a JSON-RPC body to url, as SendMessage does,
// and fails on a non-2xx answer.
func post(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		body := strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"SendMessage"}`)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode >= 300 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}

var fastRetry = RetryOptions{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}

// outcome is what attempt observed.
type outcome struct {
	attempts  int    // 0 on success
	err       error  // Retry's error
	sent      *Sent  // the record shared by all attempts
	sentAfter []bool // sent.Sent() after each attempt
}

// attempt runs op through Retry and SafeToRetry, and checks the rule: a
// non-idempotent request is never attempted again once an attempt was sent.
func attempt(t *testing.T, op func(context.Context) error, idempotent bool) outcome {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ctx, sent := TrackSent(ctx)
	o := outcome{sent: sent}
	o.err = Retry(ctx, fastRetry, func(ctx context.Context) error {
		err := op(ctx)
		o.sentAfter = append(o.sentAfter, sent.Sent())
		return err
	}, SafeToRetry(sent, idempotent))
	if o.err != nil {
		var re *RetryError
		if !errors.As(o.err, &re) {
			t.Fatalf("Retry() = %v, want a *RetryError", o.err)
		}
		o.attempts = re.Attempts
	}
	if !idempotent {
		for i, s := range o.sentAfter[:len(o.sentAfter)-1] {
			if s {
				t.Errorf("attempt %d was sent and followed by attempt %d", i+1, i+2)
			}
		}
	}
	return o
}

type connKey struct{}

// closeAfterReading is a handler that reads the request, counts it, and
// closes the connection without answering. The server must store the
// connection under connKey (withConn).
func closeAfterReading(hits *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		hits.Add(1)
		_ = r.Context().Value(connKey{}).(net.Conn).Close()
	})
}

func withConn(srv *httptest.Server) {
	srv.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
}

// closedAddr returns a loopback address nobody listens on: port 1, which,
// unlike a port just freed, no other test's listener can be given.
func closedAddr(t *testing.T) string {
	t.Helper()
	const addr = "127.0.0.1:1"
	if c, err := net.Dial("tcp", addr); err == nil {
		_ = c.Close()
		t.Skipf("something listens on %s", addr)
	}
	return addr
}

// dropListener closes the first drop accepted connections at once, before
// reading anything (and so before any TLS handshake).
type dropListener struct {
	net.Listener
	drop atomic.Int32
}

func (l *dropListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || l.drop.Add(-1) < 0 {
			return c, err
		}
		_ = c.Close()
	}
}

func TestModesUseTheirProtocol(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m mode) {
		url, client := m.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = fmt.Fprint(w, r.ProtoMajor)
		}))
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, http.NoBody)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		want := map[bool]string{false: "1", true: "2"}[m.http2]
		if string(got) != want || resp.ProtoMajor != int(want[0]-'0') {
			t.Errorf("server saw HTTP/%s, client HTTP/%d, want HTTP/%s", got, resp.ProtoMajor, want)
		}
	})
}

func TestSentConnectionRefused(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m mode) {
		_, client := m.serve(t, http.NotFoundHandler())
		o := attempt(t, post(client, m.url(closedAddr(t))), false)
		if o.sent.Sent() || o.sent.Answered() {
			t.Errorf("refused: Sent() = %v, Answered() = %v, want false, false", o.sent.Sent(), o.sent.Answered())
		}
		if o.attempts != fastRetry.MaxAttempts {
			t.Errorf("refused SendMessage: %d attempts (%v), want %d: nothing was sent", o.attempts, o.err, fastRetry.MaxAttempts)
		}
	})
}

// A server that read the request and dropped the connection may have acted
// on it: a SendMessage is not repeated, a GetTask is.
func TestSentServerReadThenClosed(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m mode) {
		for _, idempotent := range []bool{false, true} {
			var hits atomic.Int32
			url, client := m.serve(t, closeAfterReading(&hits), withConn)
			o := attempt(t, post(client, url), idempotent)
			if o.err == nil || !o.sent.Sent() || o.sent.Answered() {
				t.Fatalf("idempotent=%v: err = %v, Sent() = %v, Answered() = %v, want an error, true, false",
					idempotent, o.err, o.sent.Sent(), o.sent.Answered())
			}
			want := 1
			if idempotent {
				want = fastRetry.MaxAttempts
			}
			if o.attempts != want || hits.Load() != int32(want) {
				t.Errorf("idempotent=%v: %d attempts, server saw %d requests, want %d and %d (last error: %v)",
					idempotent, o.attempts, hits.Load(), want, want, o.err)
			}
		}
	})
}

// A server that accepts the TCP connection and closes it before reading:
// over TLS the handshake fails, nothing was sent and even SendMessage is
// retried. In plaintext the client may have written the request before it
// noticed the close; whichever it is, Retry follows Sent.
func TestSentServerClosedBeforeReading(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m mode) {
		_, client := m.serve(t, http.NotFoundHandler())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		t.Cleanup(wg.Wait)
		t.Cleanup(func() { _ = ln.Close() })
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				_ = c.Close()
			}
		})

		o := attempt(t, post(client, m.url(ln.Addr().String())), false)
		if o.err == nil || o.sent.Answered() {
			t.Fatalf("err = %v, Answered() = %v, want an error, false", o.err, o.sent.Answered())
		}
		if m.tls && o.sent.Sent() {
			t.Errorf("TLS handshake failed: Sent() = true, want false (%v)", o.err)
		}
		if !o.sent.Sent() && o.attempts != fastRetry.MaxAttempts {
			t.Errorf("never sent: %d attempts, want %d (%v)", o.attempts, fastRetry.MaxAttempts, o.err)
		}
		t.Logf("sent after each attempt: %v; %v", o.sentAfter, o.err)
	})
}

func TestSentAnswered(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m mode) {
		for _, idempotent := range []bool{false, true} {
			var hits atomic.Int32
			url, client := m.serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				hits.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			o := attempt(t, post(client, url), idempotent)
			if !o.sent.Sent() || !o.sent.Answered() {
				t.Errorf("503: Sent() = %v, Answered() = %v, want true, true", o.sent.Sent(), o.sent.Answered())
			}
			if o.attempts != 1 || hits.Load() != 1 {
				t.Errorf("idempotent=%v: %d attempts, server saw %d requests, want 1 and 1: an answer is final (%v)",
					idempotent, o.attempts, hits.Load(), o.err)
			}
		}
	})
}

// The server drops its first two connections without reading them, then
// serves. Retry + SafeToRetry repeat SendMessage only while nothing was
// sent, so the server never sees it twice.
func TestRetryNeverRepeatsSentRequest(t *testing.T) {
	t.Parallel()
	run(t, func(t *testing.T, m mode) {
		var hits atomic.Int32
		url, client := m.serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			hits.Add(1)
			w.WriteHeader(http.StatusOK)
		}), func(srv *httptest.Server) {
			l := &dropListener{Listener: srv.Listener}
			l.drop.Store(2)
			srv.Listener = l
		})
		o := attempt(t, post(client, url), false)
		if hits.Load() > 1 {
			t.Fatalf("server saw SendMessage %d times, want at most once", hits.Load())
		}
		if (o.err == nil) != (hits.Load() == 1) {
			t.Errorf("Retry() = %v but the server saw %d requests", o.err, hits.Load())
		}
		if m.tls && (o.err != nil || len(o.sentAfter) != 3) {
			t.Errorf("TLS: Retry() = %v after %d attempts, want success at the third (two failed handshakes)",
				o.err, len(o.sentAfter))
		}
		t.Logf("sent after each attempt: %v; %v; server saw %d", o.sentAfter, o.err, hits.Load())
	})
}

func TestTrackSentComposes(t *testing.T) {
	t.Parallel()
	url, client := modes[0].serve(t, http.NotFoundHandler())
	var gotConn atomic.Bool
	ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(httptrace.GotConnInfo) { gotConn.Store(true) },
	})
	ctx, sent := TrackSent(ctx)
	_ = post(client, url)(ctx)
	if !gotConn.Load() || !sent.Sent() || !sent.Answered() {
		t.Errorf("outer GotConn called: %v, Sent() = %v, Answered() = %v, want all true", gotConn.Load(), sent.Sent(), sent.Answered())
	}
}

func TestSafeToRetry(t *testing.T) {
	t.Parallel()
	var (
		fresh    = &Sent{}
		written  = &Sent{}
		answered = &Sent{}
	)
	written.sent.Store(true)
	answered.sent.Store(true)
	answered.answered.Store(true)
	transport := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name          string
		sent          *Sent
		err           error
		idem, nonIdem bool // want for idempotent and non-idempotent requests
	}{
		{name: "nil error", sent: fresh, err: nil},
		{name: "not sent", sent: fresh, err: transport, idem: true, nonIdem: true},
		{name: "sent", sent: written, err: transport, idem: true, nonIdem: false},
		{name: "answered", sent: answered, err: errors.New("status 503")},
		{name: "canceled", sent: fresh, err: fmt.Errorf("post: %w", context.Canceled)},
		{name: "deadline", sent: fresh, err: fmt.Errorf("post: %w", context.DeadlineExceeded)},
		{name: "breaker open", sent: fresh, err: &OpenError{Target: peer, RetryAfter: time.Second}},
		{name: "not peer fault", sent: fresh, err: NotPeerFault(errors.New("denied"))},
		{name: "nil Sent", sent: nil, err: transport, idem: true, nonIdem: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := SafeToRetry(tt.sent, true)(tt.err); got != tt.idem {
				t.Errorf("SafeToRetry(idempotent)(%v) = %v, want %v", tt.err, got, tt.idem)
			}
			if got := SafeToRetry(tt.sent, false)(tt.err); got != tt.nonIdem {
				t.Errorf("SafeToRetry(non-idempotent)(%v) = %v, want %v", tt.err, got, tt.nonIdem)
			}
		})
	}
}
