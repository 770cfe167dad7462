package a2a_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

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

// TestShutdownDeadline: Shutdown waits for running handlers until its
// context ends, exactly then cancels them, and their tasks fail saying
// why (in fake time: the 5 s drain takes none).
func TestShutdownDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: capabilities(make(chan struct{}))})
		if err != nil {
			t.Fatal(err)
		}
		ctx := identity.WithPeerID(t.Context(), aliceID)
		req := call("slow", nil)
		req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
		task := asTask(t)(e.SendMessage(ctx, req))
		drain, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start := time.Now()
		if err := e.Shutdown(drain); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown = %v, want the drain's deadline", err)
		}
		if waited := time.Since(start); waited != 5*time.Second {
			t.Errorf("Shutdown returned after %v, want 5s", waited)
		}
		got, err := e.GetTask(ctx, &a2acore.GetTaskRequest{ID: task.ID})
		if err != nil || got.Status.State != a2acore.TaskStateFailed || got.Status.Message == nil ||
			got.Status.Message.Parts[0].Text() != "agent shut down before the task finished" {
			t.Errorf("task after the drain = %+v, %v; want failed, saying the agent shut down", got, err)
		}
	})
}

// TestNullResult: a null result is refused rather than stored as a data
// part no A2A client built on a2a-go could decode (the store could not
// read the task back either: FuzzHandler found ListTasks failing on it).
func TestNullResult(t *testing.T) {
	t.Parallel()
	e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: []a2a.Capability{{
		Name: "null", Description: "returns null",
		Handler: func(ctx context.Context, c *a2a.Request) (any, error) { return nil, c.Result(ctx, nil) },
	}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	ctx := identity.WithPeerID(t.Context(), aliceID)
	task := asTask(t)(e.SendMessage(ctx, call("null", nil)))
	if task.Status.State != a2acore.TaskStateFailed || len(task.Artifacts) != 0 {
		t.Errorf("task = %s with %d artifacts, want failed without one", task.Status.State, len(task.Artifacts))
	}
	if l, err := e.ListTasks(ctx, &a2acore.ListTasksRequest{IncludeArtifacts: true}); err != nil || len(l.Tasks) != 1 {
		t.Errorf("ListTasks = %+v, %v; want the task, readable", l, err)
	}
}
