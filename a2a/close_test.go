package a2a_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// TestCloseWhileSending: closing the engine while messages keep arriving
// neither races with starting their handlers (run with -race) nor hangs;
// a message that arrives too late gets a failed task, never a handler run
// after Close returned.
func TestCloseWhileSending(t *testing.T) {
	t.Parallel()
	var closed atomic.Bool
	var late atomic.Int64
	e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: []a2a.Capability{{
		Name: "echo", Description: "echo",
		Handler: func(context.Context, *a2a.Request) (any, error) {
			if closed.Load() {
				late.Add(1)
			}
			return nil, nil
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := identity.WithPeerID(t.Context(), aliceID)
	var wg sync.WaitGroup
	var sent atomic.Int64
	for range 8 {
		wg.Go(func() {
			for i := 0; i < 200 && !closed.Load(); i++ {
				_, _ = e.SendMessage(ctx, call("echo", nil))
				sent.Add(1)
			}
		})
	}
	for sent.Load() < 50 {
		if _, err := e.SendMessage(ctx, call("echo", nil)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	res, err := e.SendMessage(ctx, call("echo", nil))
	if task, ok := res.(*a2acore.Task); err == nil && (!ok || task.Status.State != a2acore.TaskStateFailed) {
		t.Errorf("a message after Close = %+v, want a failed task or an error", res)
	}
	wg.Wait()
	if n := late.Load(); n != 0 {
		t.Errorf("%d handlers ran after Close returned", n)
	}
}
