package opa_test

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/agentweave/agentweave-go/authz"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Example policy directories (each is package agentweave.authz).
const (
	rbacDir        = "../../examples/policies/rbac"
	crossDomainDir = "../../examples/policies/cross_domain"
	denyDefaultDir = "../../examples/policies/deny_default"
	examplesDir    = "../../examples/policies"
)

const (
	orchestrator = "spiffe://example.org/agent/orchestrator/prod"
	admin        = "spiffe://example.org/admin/alice"
	searchAgent  = "spiffe://example.org/agent/search/prod"
)

// call is a capability call from caller to the search agent.
func call(caller, action string) *authz.Input {
	return &authz.Input{
		Direction:         authz.Inbound,
		CallerSPIFFEID:    caller,
		CalleeSPIFFEID:    searchAgent,
		CallerTrustDomain: "example.org",
		CalleeTrustDomain: "example.org",
		Action:            action,
		Operation:         "SendMessage",
		Time:              time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// writePolicy writes a Rego file (atomically, as editors and deploy tools
// do) and returns its path.
func writePolicy(t *testing.T, dir, name, src string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	tmp := filepath.Join(dir, ".tmp-"+name)
	if err := os.WriteFile(tmp, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// pollInterval is the ReloadInterval of the tests that run in a synctest
// bubble and advance time with nextPoll.
const pollInterval = 10 * time.Millisecond

// nextPoll lets an Embedded authorizer with ReloadInterval pollInterval,
// in a synctest bubble, poll its files once (the interval passes in fake
// time), and returns once it has reloaded or refused a change and waits
// for its next tick.
func nextPoll() {
	time.Sleep(pollInterval)
	synctest.Wait()
}

// eventually polls cond every few milliseconds until it holds or the
// deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
