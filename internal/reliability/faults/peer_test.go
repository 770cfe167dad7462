package faults_test

import (
	"context"
	"testing"
	"time"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/observe"
	"github.com/agentweave/agentweave-go/transport"
)

// TestPeerKilledUnderLoad: a caller calls a peer under load; the peer is
// closed. The caller's breaker for it opens (state 2 on its /metrics) and
// calls fail fast while it is open. The peer comes back on the same
// address: the breaker closes and calls succeed.
//
// Like the other timing-sensitive cases it does not run in parallel.
func TestPeerKilledUnderLoad(t *testing.T) { //nolint:paralleltest,tparallel // timing-sensitive, see above
	n := agentweavetest.New(t, agentweavetest.Options{Config: func(_ string, cfg *agentweave.Config) {
		cfg.Transport.CircuitBreaker = config.CircuitBreaker{FailureThreshold: 3, RecoveryTimeout: 500 * time.Millisecond, SuccessThreshold: 1}
		cfg.Transport.Retry.MaxAttempts = 1
	}})
	echo := agentweave.Capability{Name: "echo", Description: "echo", Handler: func(_ context.Context, req *agentweave.Request) (any, error) {
		var v any
		err := req.Decode(&v)
		return v, err
	}}
	peer := n.Agent("peer", echo)
	addr := peer.Addr().String()
	caller := n.Agent("caller")
	target := n.ID("peer")
	state := func() float64 {
		v, _ := metric(t, caller.AdminAddr(), "agentweave_circuit_breaker_state", `target="`+target+`"`)
		return v
	}

	outage := 3 * time.Second
	if soak() {
		outage = 30 * time.Second
	}
	l := startLoad(t, loadOptions{Workers: 8, Rate: 200}, agentCall(caller, target, "echo", map[string]int{"n": 1}))
	time.Sleep(time.Second)
	killing := time.Now()
	if err := peer.Close(); err != nil {
		t.Fatalf("closing the peer: %v", err)
	}
	killed := time.Now()
	opened := waitUntil(t, 5*time.Second, 10*time.Millisecond, "the caller's breaker to open (state 2)", func() bool {
		return state() == observe.BreakerOpen
	})
	t.Logf("breaker open (agentweave_circuit_breaker_state 2) %v after the peer was closed", opened.Round(time.Millisecond))
	time.Sleep(outage - opened)
	restarting := time.Now()
	if _, err := n.StartAt("peer", addr, echo); err != nil {
		t.Fatalf("restarting the peer on %s: %v", addr, err)
	}
	restarted := time.Now()
	var recovered time.Time
	waitUntil(t, 10*time.Second, 10*time.Millisecond, "a call to succeed after the peer restarted", func() bool {
		for _, s := range l.snapshot() {
			if s.kind == kindOK && s.start.After(restarted) {
				recovered = s.end
				return true
			}
		}
		return false
	})
	closed := waitUntil(t, 5*time.Second, 10*time.Millisecond, "the caller's breaker to close (state 0)", func() bool {
		return state() == observe.BreakerClosed
	})
	time.Sleep(time.Second)
	l.stop()
	all := l.snapshot()

	before := between(all, time.Time{}, killing)
	during := between(all, killed, restarting)
	after := between(all, recovered, time.Now())
	var fast []sample
	for _, s := range during {
		if s.kind == kindOpen {
			fast = append(fast, s)
		}
	}
	t.Logf("before: %v", summarize(before))
	t.Logf("peer down %v: %v", restarting.Sub(killed).Round(time.Millisecond), summarize(during))
	t.Logf("refused by the open breaker: %v", summarize(fast))
	t.Logf("peer restarted on %s; first success %v later, breaker closed (state 0) within %v", addr,
		recovered.Sub(restarted).Round(time.Millisecond), closed.Round(10*time.Millisecond))
	t.Logf("after: %v", summarize(after))

	if st := summarize(before); st.n == 0 || st.kinds[kindOK] != st.n {
		t.Errorf("before the peer was closed: %v, want every call to succeed; errors %q", st, firstErrors(before))
	}
	st := summarize(during)
	if st.kinds[kindOK] != 0 {
		t.Errorf("peer down: %d calls succeeded", st.kinds[kindOK])
	}
	// Most calls in the outage must be refused by the breaker without
	// touching the network; the rest are the probes of each half-open
	// period (one every recovery_timeout, 500ms).
	probes := int(restarting.Sub(killed)/(500*time.Millisecond)) + 1
	if other := st.n - st.kinds[kindOpen]; other > 3*probes+8+3 {
		t.Errorf("peer down: %d calls went to the network (%v), want at most %d (in flight at the kill, threshold 3, one probe per 500ms); errors %q",
			other, st, 3*probes+8+3, firstErrors(during))
	}
	// Refused without I/O: the median is microseconds; the tail is the
	// scheduler of a loaded machine under -race. Either is far below the
	// dial timeout a call to a dead peer could otherwise wait for.
	if fs := summarize(fast); fs.n == 0 || fs.p50 > 5*time.Millisecond || fs.p99 > 500*time.Millisecond {
		t.Errorf("calls refused by the open breaker: %v, want many, with p50 < 5ms and p99 < 500ms (transport.DefaultDialTimeout is %v)", fs, transport.DefaultDialTimeout)
	}
	if got := recovered.Sub(restarted); got > 2*time.Second {
		t.Errorf("first success %v after the restart, want < 2s (recovery_timeout 500ms)", got)
	}
	if st := summarize(after); st.n == 0 || st.kinds[kindOK] != st.n {
		t.Errorf("after recovery: %v, want every call to succeed; errors %q", st, firstErrors(after))
	}
}
