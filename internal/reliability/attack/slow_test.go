package attack_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/observe"
)

// Server timeouts the slow-client test configures.
const (
	readHeaderTimeout = 300 * time.Millisecond
	idleTimeout       = 5 * time.Second
	// h2GoAwayGrace is how long net/http's HTTP/2 server waits after its
	// GOAWAY before it closes an idle connection.
	h2GoAwayGrace = time.Second
	// h2PrefaceTimeout is net/http's fixed wait for the HTTP/2 client
	// preface; server.read_header_timeout does not shorten it.
	h2PrefaceTimeout = 10 * time.Second
)

// slowKind is one way of holding a connection without making a request.
type slowKind struct {
	name  string
	count int // held at once
	// open connects and stalls; it returns once the attacker has sent
	// everything it ever will.
	open func(ctx context.Context, tg *target, cfg1, cfg2 *tls.Config) (net.Conn, error)
	// within is the server timeout that must close it.
	within time.Duration
	// handshakes: opening it costs a TLS handshake on both sides.
	handshakes bool
}

var slowKinds = []slowKind{
	{name: "silent TCP", count: 80, within: readHeaderTimeout, open: func(ctx context.Context, tg *target, _, _ *tls.Config) (net.Conn, error) {
		return dial(ctx, tg)
	}},
	{name: "stalled TLS handshake", count: 80, within: readHeaderTimeout, open: func(ctx context.Context, tg *target, _, _ *tls.Config) (net.Conn, error) {
		c, err := dial(ctx, tg)
		if err != nil {
			return nil, err
		}
		// A handshake record announcing 512 bytes of ClientHello, and 40 of them.
		_, err = c.Write(append([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03}, bytes.Repeat([]byte{0x42}, 34)...))
		return c, err
	}},
	{name: "HTTP/1.1 silent after handshake", count: 15, within: readHeaderTimeout, handshakes: true, open: func(ctx context.Context, tg *target, h1, _ *tls.Config) (net.Conn, error) {
		return handshake(ctx, tg, h1)
	}},
	{name: "HTTP/1.1 headers never finished", count: 15, within: readHeaderTimeout, handshakes: true, open: func(ctx context.Context, tg *target, h1, _ *tls.Config) (net.Conn, error) {
		c, err := handshake(ctx, tg, h1)
		if err != nil {
			return nil, err
		}
		_, err = io.WriteString(c, "POST / HTTP/1.1\r\nHost: target\r\nA2A-Version: 1.0\r\nContent-Type: application/json\r\n")
		return c, err
	}},
	{name: "HTTP/2 silent after handshake", count: 5, within: h2PrefaceTimeout, handshakes: true, open: func(ctx context.Context, tg *target, _, h2 *tls.Config) (net.Conn, error) {
		return handshake(ctx, tg, h2)
	}},
	{name: "HTTP/2 header block never finished", count: 5, within: idleTimeout + h2GoAwayGrace, handshakes: true, open: func(ctx context.Context, tg *target, _, h2 *tls.Config) (net.Conn, error) {
		c, err := handshake(ctx, tg, h2)
		if err != nil {
			return nil, err
		}
		if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
			return c, err
		}
		fr := http2.NewFramer(c, nil)
		var block bytes.Buffer
		enc := hpack.NewEncoder(&block)
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", "/"}} {
			_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		err = errors.Join(fr.WriteSettings(), fr.WriteSettingsAck(), // a well-behaved start
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block.Bytes()})) // no END_HEADERS, no CONTINUATION
		return c, err
	}},
}

func dial(ctx context.Context, tg *target) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, "tcp", tg.addr())
}

func handshake(ctx context.Context, tg *target, cfg *tls.Config) (net.Conn, error) {
	c, err := dial(ctx, tg)
	if err != nil {
		return nil, err
	}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	return tc, nil
}

// awaitClose reads (and drops whatever the server says, e.g. HTTP/2
// SETTINGS and GOAWAY) until the server closes c, at most limit.
func awaitClose(c net.Conn, limit time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("still open after %v", limit)
	}
	return nil
}

// TestSlowClientsAreCutOff holds 200 connections that never make a
// request (silent TCP, a stalled TLS handshake, HTTP/1.1 and HTTP/2
// connections that never send or finish their headers), reopening each
// as soon as the agent closes it, while a legitimate agent keeps calling.
// Every stalled connection must be closed by the agent's timeouts, and
// every legitimate call must succeed.
func TestSlowClientsAreCutOff(t *testing.T) {
	t.Parallel()
	tg := newTarget(t, func(cfg *agentweave.Config) {
		cfg.Server.ReadHeaderTimeout, cfg.Server.IdleTimeout = readHeaderTimeout, idleTimeout
	})
	caller := tg.caller(t, "legit")
	if err := tg.call(t.Context(), caller); err != nil { // warm: card fetched, connection pooled
		t.Fatalf("call before the attack: %v", err)
	}
	h1, h2 := tg.tlsConfig(t, "slowloris", "http/1.1"), tg.tlsConfig(t, "slowloris", "h2")
	window := 3 * time.Second
	if soak() {
		window = 60 * time.Second
	}
	// A connection must be closed within its timeout plus slack (none may
	// be held), and typically (p50) within its timeout plus a second; the
	// slack is for scheduling under -race on a loaded machine.
	slack := 5 * time.Second
	timeoutsBefore := tg.handshakeFailures(t, observe.ReasonTimeout)

	type closeTimes struct {
		mu     sync.Mutex
		d      []time.Duration
		failed []string
		cut    int // closed by the agent before the attacker had sent all it meant to (its handshake timed out under load)
	}
	times := make([]closeTimes, len(slowKinds))
	var held, opened atomic.Int64
	attack, stop := context.WithCancel(t.Context())
	// Attackers that handshake reopen at most handshakeRate times a second
	// in all: attacker and agent share this machine's CPUs, and an
	// unbounded handshake loop would measure CPU starvation, not timeouts.
	handshakeRate := 50
	if soak() {
		handshakeRate = 200
	}
	paced := time.NewTicker(time.Second / time.Duration(handshakeRate))
	defer paced.Stop()
	var wg sync.WaitGroup
	for k, kind := range slowKinds {
		for range kind.count {
			wg.Go(func() {
				ct := &times[k]
				for attack.Err() == nil {
					if kind.handshakes { // paced: the attacker's handshakes run on the agent's CPUs here
						select {
						case <-paced.C:
						case <-attack.Done():
							return
						}
					}
					c, err := kind.open(attack, tg, h1, h2)
					if err != nil && attack.Err() != nil {
						return
					}
					if err != nil {
						ct.mu.Lock()
						ct.cut++
						ct.mu.Unlock()
						if c != nil {
							_ = c.Close()
						}
						continue
					}
					opened.Add(1)
					held.Add(1)
					start := time.Now()
					err = awaitClose(c, kind.within+slack)
					d := time.Since(start)
					held.Add(-1)
					_ = c.Close()
					ct.mu.Lock()
					ct.d = append(ct.d, d)
					if err != nil {
						ct.failed = append(ct.failed, err.Error())
					}
					ct.mu.Unlock()
				}
			})
		}
	}

	// Legitimate calls while the connections are held.
	eventually(t, 10*time.Second, "200 stalled connections not open", func() bool { return held.Load() >= 150 })
	var calls, failures int
	var lat []time.Duration
	minHeld, sumHeld := held.Load(), int64(0)
	const minCalls = 5
	for end, hard := time.Now().Add(window), time.Now().Add(window+30*time.Second); time.Now().Before(end) || calls < minCalls && time.Now().Before(hard); {
		h := held.Load()
		minHeld = min(minHeld, h)
		sumHeld += h
		start := time.Now()
		if err := tg.call(t.Context(), caller); err != nil {
			failures++
			t.Errorf("legitimate call %d during the attack: %v", calls, err)
		}
		lat = append(lat, time.Since(start))
		calls++
	}
	stop()
	wg.Wait() // bounded: each connection is closed by the server or given up on at its limit

	for k, kind := range slowKinds {
		ct := &times[k]
		for _, f := range ct.failed[:min(len(ct.failed), 3)] {
			t.Errorf("%s: %s, want the agent to close it within %v", kind.name, f, kind.within)
		}
		if len(ct.d) == 0 {
			t.Errorf("%s: no connection held", kind.name)
			continue
		}
		slices.Sort(ct.d)
		if p50 := ct.d[len(ct.d)/2]; p50 > kind.within+2*time.Second {
			t.Errorf("%s: closed after p50 %v, want about %v", kind.name, p50, kind.within)
		}
		t.Logf("%-36s %4d held, closed by the agent after p50 %v, max %v (timeout %v), %d not closed, %d cut while opening",
			kind.name, len(ct.d), ct.d[len(ct.d)/2].Round(time.Millisecond), ct.d[len(ct.d)-1].Round(time.Millisecond), kind.within, len(ct.failed), ct.cut)
	}
	slices.Sort(lat)
	t.Logf("%d stalled connections opened (200 kept open), %d held on average and at least %d at each call; %d legitimate calls in %v, %d failed, latency p50 %v, max %v",
		opened.Load(), sumHeld/int64(max(calls, 1)), minHeld, calls, window, failures, lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	if calls < minCalls {
		t.Errorf("%d legitimate calls during the attack, want at least %d", calls, minCalls)
	}
	// Every stalled handshake the agent cut off (silent TCP, stalled TLS)
	// is counted; legitimate handshakes cut under load may add to it.
	stalled := 0
	for k, kind := range slowKinds {
		if !kind.handshakes {
			stalled += len(times[k].d) - len(times[k].failed)
		}
	}
	timeouts := tg.handshakeFailures(t, observe.ReasonTimeout) - timeoutsBefore
	t.Logf("agentweave_tls_handshake_failures_total{reason=\"timeout\"} rose by %v; the agent cut off %d stalled handshakes", timeouts, stalled)
	if stalled == 0 || timeouts < float64(stalled) {
		t.Errorf("handshake failures with reason timeout rose by %v, want at least %d (every stalled handshake the agent closed)", timeouts, stalled)
	}
	if err := tg.call(t.Context(), caller); err != nil {
		t.Errorf("call after the attack: %v", err)
	}
}
