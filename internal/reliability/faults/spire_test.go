package faults_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// spirePair is a caller and a callee whose SVIDs come from a real SPIRE
// agent through the Workload API.
type spirePair struct {
	spire              *harness.SPIRE
	caller, callee     *agentweave.Agent
	callerID, calleeID spiffeid.ID
	calls              handlerLog
	// Independent Workload API clients for each agent's SPIFFE ID: their
	// Rotations count the serial changes of that SVID alone.
	watchCaller, watchCallee *identity.WorkloadSource
}

// startSPIREPair starts SPIRE, registers both agents with the given X.509
// SVID TTL and starts them with agentweave.New from a configuration whose
// identity.spiffe_endpoint is the SPIRE agent's socket; edit, when not nil,
// changes both configurations.
func startSPIREPair(t *testing.T, ttl time.Duration, edit func(*agentweave.Config)) *spirePair {
	t.Helper()
	s := harness.StartSPIRE(t, harness.SPIREOptions{})
	p := &spirePair{
		spire:    s,
		callerID: spiffeid.RequireFromString("spiffe://example.org/agent/orchestrator/production"),
		calleeID: spiffeid.RequireFromString("spiffe://example.org/agent/search/production"),
	}
	s.CreateEntry(t, harness.Entry{ID: p.callerID, Hint: "orchestrator", TTL: ttl})
	s.CreateEntry(t, harness.Entry{ID: p.calleeID, Hint: "search", TTL: ttl})
	s.WaitForSVIDs(t, p.callerID, p.calleeID)
	watch := func(id spiffeid.ID) *identity.WorkloadSource {
		ws, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{
			Addr: s.WorkloadAddr(), ID: id, StartTimeout: 30 * time.Second, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatalf("NewWorkloadSource(%v): %v", id, err)
		}
		t.Cleanup(func() { _ = ws.Close() })
		return ws
	}
	p.watchCaller, p.watchCallee = watch(p.callerID), watch(p.calleeID)

	dir := t.TempDir()
	policy := filepath.Join(dir, "policy")
	if err := os.Mkdir(policy, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policy, "policy.rego"), []byte(agentweavetest.DefaultPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	start := func(name string, id spiffeid.ID, resolver client.Resolver) *agentweave.Agent {
		cfg := &agentweave.Config{
			Agent:    config.Agent{Name: name, TrustDomain: "example.org", Environment: config.Production},
			Identity: config.Identity{SPIFFEEndpoint: s.WorkloadAddr(), SPIFFEID: id.String(), StartTimeout: 30 * time.Second},
			Authorization: config.Authorization{
				PolicyDir: policy,
				Audit:     config.Audit{Destination: filepath.Join(dir, name+".audit.log"), Sync: "none"},
			},
		}
		if edit != nil {
			edit(cfg)
		}
		ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		logs, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				data, _ := os.ReadFile(logs.Name())
				if len(data) > 4000 {
					data = data[len(data)-4000:]
				}
				t.Logf("--- end of %s's log ---\n%s", name, data)
			}
			_ = logs.Close()
		})
		opts := []agentweave.Option{
			agentweave.WithListener(ln), agentweave.WithAdminAddr("127.0.0.1:0"),
			agentweave.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))),
		}
		if resolver != nil {
			opts = append(opts, agentweave.WithResolver(resolver))
		}
		a, err := agentweave.New(t.Context(), cfg, opts...)
		if err != nil {
			_ = ln.Close()
			t.Fatalf("agentweave.New(%s): %v", name, err)
		}
		t.Cleanup(func() { _ = a.Close() })
		if got := a.ID(); got != id {
			t.Fatalf("agent %s has ID %v, want %v", name, got, id)
		}
		err = a.Register(agentweave.Capability{Name: "search", Description: "search", Handler: func(context.Context, *agentweave.Request) (any, error) {
			p.calls.add()
			return map[string]int{"hits": 1}, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(t.Context()); err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		return a
	}
	p.callee = start("search", p.calleeID, nil)
	p.caller = start("orchestrator", p.callerID, client.StaticResolver{p.calleeID: p.callee.URL()})
	return p
}

// call is one call of the callee's capability by the caller.
func (p *spirePair) call() callFunc {
	return agentCall(p.caller, p.calleeID.String(), "search", map[string]string{"q": "x"})
}

// rotations returns agentweave_svid_rotations_total of caller and callee.
func (p *spirePair) rotations(t *testing.T) (caller, callee float64) {
	t.Helper()
	caller, _ = metric(t, p.caller.AdminAddr(), "agentweave_svid_rotations_total")
	callee, _ = metric(t, p.callee.AdminAddr(), "agentweave_svid_rotations_total")
	return caller, callee
}

// TestRotationUnderLoad: both agents' SVIDs rotate (real SPIRE, TTL 20s:
// a new SVID about every 5s) while the caller calls the callee at a steady
// rate. No call may fail.
//
// Like the other timing-sensitive cases it does not run in parallel.
func TestRotationUnderLoad(t *testing.T) { //nolint:paralleltest,tparallel // timing-sensitive, see above
	ttl, rate, length, wantRot := 20*time.Second, 120.0, 20*time.Second, 1.0
	if soak() {
		rate, length, wantRot = 320, 70*time.Second, 3
	}
	p := startSPIREPair(t, ttl, nil)
	if _, err := p.call()(t.Context()); err != nil {
		t.Fatalf("first call: %v", err)
	}
	c0, s0 := p.rotations(t)
	wc0, ws0 := p.watchCaller.Rotations(), p.watchCallee.Rotations()
	l := startLoad(t, loadOptions{Workers: 16, Rate: rate}, p.call())
	time.Sleep(length)
	l.stop()
	c1, s1 := p.rotations(t)
	wc, ws := float64(p.watchCaller.Rotations()-wc0), float64(p.watchCallee.Rotations()-ws0)
	st := summarize(l.snapshot())
	t.Logf("SVID TTL %v, %v at %.0f calls/s wanted: %v", ttl, length, rate, st)
	t.Logf("SVID rotations during the load: agentweave_svid_rotations_total caller %.0f, callee %.0f; "+
		"serial changes of each SVID seen by an independent Workload API client: caller %.0f, callee %.0f", c1-c0, s1-s0, wc, ws)
	if c1-c0 > wc+1 || s1-s0 > ws+1 {
		t.Logf("FINDING: agentweave_svid_rotations_total counts more rotations than the agent's SVID had: build.go watchSVID " +
			"calls metrics.SVIDUpdated(..., true) on every WorkloadSource.Updated() notification (any X.509 context update: " +
			"another SVID served to the same workload, new bundles), not only when the agent's own serial changes " +
			"(identity.WorkloadSource.Rotations counts those)")
	}
	if st.kinds[kindOK] != st.n {
		t.Errorf("%d of %d calls failed across rotations, want 0; errors %q", st.n-st.kinds[kindOK], st.n, firstErrors(l.snapshot()))
	}
	if want := rate - 20; st.rps < want {
		t.Errorf("throughput %.0f calls/s, want >= %.0f", st.rps, want)
	}
	if c1-c0 < wantRot || s1-s0 < wantRot || wc < wantRot || ws < wantRot {
		t.Errorf("rotations: metric caller %.0f, callee %.0f; serial changes caller %.0f, callee %.0f; want >= %.0f each", c1-c0, s1-s0, wc, ws, wantRot)
	}
}

// TestSPIREAgentKilledUnderLoad: the SPIRE agent is stopped while calls
// flow. No call fails while the SVIDs are valid; once they expire, both
// agents' /readyz answer 503 (identity check). The SPIRE agent comes back:
// with no restart of the AgentWeave agents, /readyz answers 200 again and
// calls succeed.
//
// Like the other timing-sensitive cases it does not run in parallel.
func TestSPIREAgentKilledUnderLoad(t *testing.T) { //nolint:paralleltest,tparallel // timing-sensitive, see above
	ttl := 10 * time.Second
	if soak() {
		ttl = 20 * time.Second
	}
	// A short breaker recovery so the measured recovery is identity's,
	// not the breaker's 30s default.
	p := startSPIREPair(t, ttl, func(cfg *agentweave.Config) { cfg.Transport.CircuitBreaker.RecoveryTimeout = time.Second })
	if _, err := p.call()(t.Context()); err != nil {
		t.Fatalf("first call: %v", err)
	}
	admins := []string{p.caller.AdminAddr(), p.callee.AdminAddr()}
	ready := func(want int) func() bool {
		return func() bool {
			for _, a := range admins {
				if code, err := readyz(t.Context(), a); err != nil || code != want {
					return false
				}
			}
			return true
		}
	}
	if !ready(200)() {
		t.Fatal("/readyz is not 200 on both agents before the outage")
	}
	l := startLoad(t, loadOptions{Workers: 8, Rate: 50}, p.call())
	time.Sleep(time.Second)

	p.spire.StopAgent(t)
	killed := time.Now()
	var expiry time.Time
	for _, a := range admins {
		v, ok := metric(t, a, "agentweave_svid_expiry_timestamp_seconds")
		if !ok {
			t.Fatal("no agentweave_svid_expiry_timestamp_seconds")
		}
		e := time.Unix(0, int64(v*1e9))
		if expiry.IsZero() || e.Before(expiry) {
			expiry = e
		}
	}
	t.Logf("SPIRE agent stopped; the first SVID expires %v later", expiry.Sub(killed).Round(time.Millisecond))
	notReady := waitUntil(t, time.Until(expiry)+15*time.Second, 100*time.Millisecond, "/readyz to answer 503 on both agents after the SVIDs expired", ready(503))
	unready := time.Now()
	t.Logf("/readyz 503 on both agents %v after the kill, %v after the first expiry", notReady.Round(100*time.Millisecond), unready.Sub(expiry).Round(100*time.Millisecond))
	if unready.Before(expiry) {
		t.Errorf("/readyz answered 503 at %v, before the SVIDs expired at %v", unready, expiry)
	}
	// Keep the SPIRE agent down until calls that started after the expiry
	// have ended, so the fail-closed assertion below has calls to judge.
	waitUntil(t, 30*time.Second, 50*time.Millisecond, "3 calls to start and end after the SVIDs expired", func() bool {
		return len(between(l.snapshot(), expiry, time.Now())) >= 3
	})

	p.spire.StartAgent(t)
	restarted := time.Now()
	back := waitUntil(t, 60*time.Second, 100*time.Millisecond, "/readyz to answer 200 on both agents after the SPIRE agent returned", ready(200))
	readyAgain := time.Now()
	var recovered time.Time
	waitUntil(t, 30*time.Second, 50*time.Millisecond, "a call to succeed after /readyz answered 200 again", func() bool {
		for _, s := range l.snapshot() {
			if s.kind == kindOK && s.start.After(readyAgain) {
				recovered = s.end
				return true
			}
		}
		return false
	})
	time.Sleep(3 * time.Second)
	l.stop()
	all := l.snapshot()

	valid := between(all, killed, expiry.Add(-500*time.Millisecond))
	expired := between(all, expiry, restarted)
	after := between(all, recovered.Add(time.Second), time.Now())
	t.Logf("SPIRE agent down, SVIDs valid (%v): %v", expiry.Sub(killed).Round(100*time.Millisecond), summarize(valid))
	t.Logf("SVIDs expired, SPIRE agent down (%v): %v", restarted.Sub(expiry).Round(100*time.Millisecond), summarize(expired))
	t.Logf("SPIRE agent restarted: /readyz 200 on both after %v, first successful call %v after the restart", back.Round(100*time.Millisecond), recovered.Sub(restarted).Round(100*time.Millisecond))
	t.Logf("after recovery: %v", summarize(after))
	if st := summarize(valid); st.n == 0 || st.kinds[kindOK] != st.n {
		t.Errorf("while the SVIDs were valid: %v, want 0 failed; errors %q", st, firstErrors(valid))
	}
	if st := summarize(after); st.n == 0 || st.kinds[kindOK] != st.n {
		t.Errorf("after recovery: %v, want every call to succeed; errors %q", st, firstErrors(after))
	}
	// Fail closed: no call that started after the first SVID expired may
	// succeed, even over a connection established before (the transport
	// bounds connections by their certificates).
	if st := summarize(expired); st.n == 0 {
		t.Errorf("no call started and ended between the SVIDs' expiry and the SPIRE agent's return: nothing shows that calls fail closed")
	} else if st.kinds[kindOK] != 0 {
		t.Errorf("after the SVIDs expired: %v, want every call to fail (%d succeeded)", st, st.kinds[kindOK])
	}
}
