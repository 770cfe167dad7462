package opa_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// TestRemoteOPABetweenAgents runs the real `opa run --server` with the
// example RBAC policy behind an agent: allowed and denied calls end to end;
// OPA killed mid-run denies every call, each with an audit record saying
// why; the breaker opens at the failure threshold and the next call is
// refused by it (denied without asking OPA, audited as such); OPA back,
// the breaker closes and calls are allowed again within seconds, with no
// restart.
func TestRemoteOPABetweenAgents(t *testing.T) {
	t.Parallel()
	server := harness.StartOPA(t, "../../examples/policies/rbac")
	var mu sync.Mutex
	var states []int // the breaker's changes: 0 closed, 1 half-open, 2 open
	breakerStates := func() []int {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(states)
	}
	remote, err := opa.NewRemote(opa.RemoteOptions{
		Endpoint: server.URL, Timeout: 300 * time.Millisecond, FailureThreshold: 2, RecoveryTimeout: time.Second,
		OnBreakerChange: func(_ string, state int) {
			mu.Lock()
			defer mu.Unlock()
			states = append(states, state)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = remote.Close() })
	trail := filepath.Join(t.TempDir(), "audit.log")
	sink, err := audit.NewFile(trail, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logger, err := audit.New(sink, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logger.Close() })

	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	agent := a2atest.Serve(t, ca.Source(ca.CreateX509SVID(ca.ID("agent", "search", "prod"))), a2atest.Options{
		Name: "search",
		Engine: a2a.EngineOptions{
			Enforcer: &authz.Enforcer{Authorizer: remote, Auditor: logger, RequireAudit: true},
			Capabilities: []a2a.Capability{{Name: "search", Description: "search", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
				return nil, c.Result(ctx, map[string]any{"hits": 3})
			}}},
		},
	})
	caller := func(name string) *client.Client {
		c, err := client.New(ca.Source(ca.CreateX509SVID(ca.ID("agent", name, "prod"))), client.Options{
			Resolver: client.StaticResolver{agent.ID: agent.URL},
			Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	orchestrator, intern := caller("orchestrator"), caller("intern")
	search := func(c *client.Client) error {
		task, err := c.Call(t.Context(), agent.ID, "search", map[string]any{"q": "x"})
		if err == nil && task.Status.State != a2acore.TaskStateCompleted {
			return errors.New("task " + string(task.Status.State))
		}
		return err
	}

	if err := search(orchestrator); err != nil {
		t.Fatalf("orchestrator → search with OPA up: %v", err)
	}
	if err := search(intern); !errors.Is(err, a2acore.ErrUnauthorized) {
		t.Fatalf("intern → search: error = %v, want permission denied by policy", err)
	}

	server.Stop(t)
	for i := range 6 {
		err := search(orchestrator)
		if !errors.Is(err, a2acore.ErrUnauthorized) {
			t.Fatalf("call %d with OPA down: error = %v, want denied", i, err)
		}
		if !strings.Contains(err.Error(), "unreachable") && !strings.Contains(err.Error(), "policy decision failed") {
			t.Errorf("call %d with OPA down: reason %q does not say OPA is unreachable", i, err)
		}
		switch i {
		case 0: // one failure: still closed
			if got := breakerStates(); len(got) != 0 {
				t.Errorf("breaker changes after 1 failure = %v, want none", got)
			}
		case 1: // the threshold: open
			if diff := cmp.Diff([]int{2}, breakerStates()); diff != "" {
				t.Errorf("breaker changes after 2 failures (-want +got):\n%s", diff)
			}
		case 2: // well within the recovery timeout: refused by the breaker
			if !strings.Contains(err.Error(), "circuit open") {
				t.Errorf("call right after the breaker opened: %v, want a refusal by the open circuit", err)
			}
		}
	}

	server.Start(t)
	deadline := time.Now().Add(10 * time.Second)
	start := time.Now()
	for search(orchestrator) != nil {
		if time.Now().After(deadline) {
			t.Fatal("calls not allowed again within 10s of OPA's return")
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	t.Logf("allowed again %v after OPA restarted", time.Since(start).Round(10*time.Millisecond))
	// That was the first trial; the second (SuccessThreshold, default 2)
	// closes the breaker.
	if err := search(orchestrator); err != nil {
		t.Fatalf("second call after OPA's return: %v", err)
	}
	if got := breakerStates(); len(got) < 3 || got[0] != 2 || got[len(got)-1] != 0 || slices.Contains(got[:len(got)-1], 0) {
		t.Errorf("breaker changes = %v, want open (2), then half-open and open as probes ran, closed (0) last", got)
	}

	report, err := audit.VerifyFiles(trail)
	if err != nil {
		t.Fatalf("audit trail does not verify: %v", err)
	}
	recs := readRecords(t, trail)
	var allowed, downDenied, circuitOpen int
	for _, r := range recs {
		switch {
		case r.Decision == audit.Allowed:
			allowed++
		case strings.Contains(r.Reason, "unreachable") || strings.Contains(r.Reason, "policy decision failed"):
			downDenied++
			if strings.Contains(r.Reason, "circuit open") {
				circuitOpen++
			}
		}
	}
	if allowed != 3 || downDenied < 6 || circuitOpen < 1 {
		t.Errorf("audit: %d allowed (want 3: before the outage and two after), %d denied for OPA down (want >= 6), %d of them by the open circuit (want >= 1); %d records, report %+v",
			allowed, downDenied, circuitOpen, len(recs), report)
	}
}

// readRecords reads an audit file's records.
func readRecords(t *testing.T, path string) []audit.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// TestHotReloadBetweenAgents: the agent's embedded policy file changes
// while calls flow; the next calls follow the new rule, and a file with a
// syntax error leaves the last good policy serving.
func TestHotReloadBetweenAgents(t *testing.T) {
	t.Parallel()
	policy := filepath.Join(t.TempDir(), "policy.rego")
	write := func(rego string) {
		t.Helper()
		// Write then rename, as editors and config systems do.
		tmp := policy + ".tmp"
		if err := os.WriteFile(tmp, []byte(rego), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, policy); err != nil {
			t.Fatal(err)
		}
	}
	allowOrchestrators := "package agentweave.authz\n\ndefault allow := false\n\nallow if input.caller_spiffe_id == \"spiffe://example.org/agent/orchestrator/prod\"\n"
	write(allowOrchestrators)
	embedded, err := opa.NewEmbedded(t.Context(), opa.EmbeddedOptions{Paths: []string{policy}, ReloadInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = embedded.Close() })
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	agent := a2atest.Serve(t, ca.Source(ca.CreateX509SVID(ca.ID("agent", "search", "prod"))), a2atest.Options{
		Engine: a2a.EngineOptions{
			Enforcer: &authz.Enforcer{Authorizer: embedded},
			Capabilities: []a2a.Capability{{Name: "search", Description: "search", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
				return nil, c.Result(ctx, map[string]any{"hits": 1})
			}}},
		},
	})
	client, err := client.New(ca.Source(ca.CreateX509SVID(ca.ID("agent", "orchestrator", "prod"))), client.Options{
		Resolver: client.StaticResolver{agent.ID: agent.URL},
		Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	call := func() error {
		_, err := client.Call(t.Context(), agent.ID, "search", nil)
		return err
	}
	until := func(what string, cond func(error) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond(call()) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond) // calls keep flowing
		}
	}
	if err := call(); err != nil {
		t.Fatalf("with the first policy: %v", err)
	}
	_, failuresBefore := embedded.Stats()
	write("package agentweave.authz\n\nallow if {\n") // syntax error
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, f := embedded.Stats(); f > failuresBefore {
			break
		}
		if err := call(); err != nil {
			t.Fatalf("while a broken policy was on disk: %v (the last good policy must keep serving)", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the broken policy was never noticed")
		}
	}
	if err := call(); err != nil {
		t.Fatalf("after the broken policy was refused: %v", err)
	}
	write(strings.Replace(allowOrchestrators, "orchestrator/prod", "nobody/prod", 1))
	until("the new policy to deny", func(err error) bool { return errors.Is(err, a2acore.ErrUnauthorized) })
	write(allowOrchestrators)
	until("the restored policy to allow", func(err error) bool { return err == nil })
}
