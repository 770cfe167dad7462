package a2atest_test

import (
	"context"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity/identitytest"
)

func TestServe(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	agent := a2atest.Serve(t, ca.Source(ca.CreateX509SVID(ca.ID("agent", "echo", "dev"))), a2atest.Options{
		Engine: a2a.EngineOptions{Capabilities: []a2a.Capability{{Name: "echo", Description: "echo", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			v, _ := c.Data()
			return nil, c.Result(ctx, v)
		}}}},
	})
	caller, err := client.New(ca.Source(ca.CreateX509SVID(ca.ID("agent", "caller", "dev"))), client.Options{
		Resolver: client.StaticResolver{agent.ID: agent.URL},
		Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caller.Close() })
	task, err := caller.Call(t.Context(), agent.ID, "echo", map[string]any{"x": 1})
	if err != nil || task.Status.State != a2acore.TaskStateCompleted {
		t.Fatalf("Call = %v, %v; want completed", task, err)
	}
	// The default callers are the agent's trust domain: another is refused.
	other := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("other.org"))
	stranger, err := client.New(other.Source(other.CreateX509SVID(other.ID("agent", "x")), ca.Bundle()), client.Options{
		Resolver: client.StaticResolver{agent.ID: agent.URL},
		Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.Call(t.Context(), agent.ID, "echo", nil); err == nil {
		t.Error("a caller from another trust domain got through")
	}
}
