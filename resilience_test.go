package agentweave_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/resilience"
)

// breakerConfig: two failures open the breaker, 200ms later one probe may
// close it; no retries, so each call is one attempt.
func breakerConfig(_ string, cfg *agentweave.Config) {
	cfg.Transport.CircuitBreaker = config.CircuitBreaker{FailureThreshold: 2, RecoveryTimeout: 200 * time.Millisecond, SuccessThreshold: 1}
	cfg.Transport.Retry.MaxAttempts = 1
}

func TestBreakerOpensOnDeadPeerAndCloses(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Config: breakerConfig})
	peer := net.Agent("search", search)
	addr := strings.TrimPrefix(peer.URL(), "https://")
	caller := net.Agent("caller")
	call := func() error {
		_, err := caller.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1})
		return err
	}
	if err := call(); err != nil {
		t.Fatal(err)
	}
	if err := peer.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := call(); err == nil || errors.Is(err, resilience.ErrOpen) {
			t.Fatalf("call %d to a dead peer = %v, want a connection failure", i+1, err)
		}
	}
	err := call()
	var open *resilience.OpenError
	if !errors.As(err, &open) || open.Target != net.ID("search") {
		t.Fatalf("third call = %v, want the breaker open for %s", err, net.ID("search"))
	}
	metrics := get(t, "http://"+caller.AdminAddr()+"/metrics")
	if want := `agentweave_circuit_breaker_state{target="` + net.ID("search") + `"} 2`; !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %s", want)
	}
	if _, err := net.StartAt("search", addr, search); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return call() == nil })
	metrics = get(t, "http://"+caller.AdminAddr()+"/metrics")
	if want := `agentweave_circuit_breaker_state{target="` + net.ID("search") + `"} 0`; !strings.Contains(metrics, want) {
		t.Errorf("after recovery /metrics lacks %s", want)
	}
}

// proxy forwards TCP connections to target; drop decides, per accepted
// connection, whether to close it at once instead.
type proxy struct {
	ln     net.Listener
	target string
	drop   func(n int) bool
	mu     sync.Mutex
	conns  []net.Conn
	n      atomic.Int32
}

func startProxy(t *testing.T, ln net.Listener, target string, drop func(n int) bool) *proxy {
	t.Helper()
	p := &proxy{ln: ln, target: target, drop: drop}
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.drop(int(p.n.Add(1))) {
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

// cut closes every forwarded connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func TestRetriesNeverRepeatASentMessage(t *testing.T) {
	t.Parallel()
	// The caller reaches the shop (its card fetch and its A2A endpoint)
	// through a proxy that drops its first connection before anything is
	// sent (safe to retry), and cuts the second once the request has
	// reached the handler (never retried: the card must not be charged
	// twice).
	front, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int32
	arrived := make(chan struct{}, 1)
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(name string, cfg *agentweave.Config) {
		if name == "shop" {
			cfg.Server.PublicURLs = []string{"https://" + front.Addr().String()}
			return
		}
		cfg.Transport.Retry = config.Retry{MaxAttempts: 5, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}
	}})
	shop := net.Agent("shop", agentweave.Capability{
		Name: "charge", Description: "not idempotent: charges a card",
		Handler: func(ctx context.Context, _ *agentweave.Request) (any, error) {
			if runs.Add(1) == 1 {
				arrived <- struct{}{}
				<-ctx.Done() // the connection is cut; the answer never leaves
			}
			return "charged", nil
		},
	})
	p := startProxy(t, front, shop.Addr().String(), func(n int) bool { return n == 1 })
	go func() {
		<-arrived
		p.cut()
	}()
	caller := net.Agent("caller")
	_, err = caller.Call(t.Context(), net.ID("shop"), "charge", nil)
	if err == nil {
		t.Fatal("a call whose connection was cut after sending succeeded")
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the handler ran %d times, want 1: a sent SendMessage was repeated (error %v)", n, err)
	}
	if n := p.n.Load(); n != 2 {
		t.Errorf("proxy saw %d connections, want 2 (the dropped one was retried, the cut one not)", n)
	}
	res, err := caller.Call(t.Context(), net.ID("shop"), "charge", nil)
	if err != nil || runs.Load() != 2 {
		t.Fatalf("next call = %+v, %v (runs %d); want it to go through once", res, err, runs.Load())
	}
}

// TestRefusedAtHandshakeSaysSo: a peer that refuses this agent's SVID
// will not change its mind: once the refusal is recognized (the server's
// TLS alert; under TLS 1.3 an attempt can also end in a broken pipe that
// looks like any network failure, and that one is retried) the call fails
// at once with a message that says what happened.
func TestRefusedAtHandshakeSaysSo(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(name string, cfg *agentweave.Config) {
		if name == "search" {
			cfg.Transport.AllowedCallers = []string{"spiffe://example.org/agent/orchestrator/*"}
			return
		}
		cfg.Transport.Retry = config.Retry{MaxAttempts: 6, BaseDelay: 10 * time.Millisecond, MaxDelay: 20 * time.Millisecond}
	}})
	net.Agent("search", search)
	intruder := net.Agent("intruder")
	_, err := intruder.Call(t.Context(), net.ID("search"), "search", query{Text: "x", Limit: 1})
	if err == nil {
		t.Fatal("a caller outside allowed_callers got through")
	}
	var re *resilience.RetryError
	if !strings.Contains(err.Error(), "refused this agent") || !errors.As(err, &re) || re.Attempts == 6 {
		t.Errorf("error = %v; want the refusal recognized and the retries stopped before the last attempt", err)
	}
}
