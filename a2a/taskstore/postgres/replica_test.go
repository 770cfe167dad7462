package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/internal/harness"
)

var (
	aliceID = spiffeid.RequireFromString("spiffe://example.org/agent/alice/dev")
	bobID   = spiffeid.RequireFromString("spiffe://example.org/agent/bob/dev")
)

// waitTimeout bounds every wait for another replica to see a change;
// gapTimeout bounds the wait for the known engine gap to close.
const (
	waitTimeout = 10 * time.Second
	gapTimeout  = 2 * time.Second
)

// replica is one agent process: an engine with its own store (connection
// pool) on the shared database.
type replica struct {
	*a2a.Engine
	step chan struct{} // each value makes a "steps" handler report a step

	mu    sync.Mutex
	ended map[a2acore.TaskID]chan struct{} // closed when the task's handler returns
}

func newReplica(t *testing.T, dsn string) *replica {
	t.Helper()
	store := open(t, dsn)
	r := &replica{step: make(chan struct{}), ended: map[a2acore.TaskID]chan struct{}{}}
	caps := []a2a.Capability{
		{Name: "slow", Description: "reports progress, then works until canceled", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			defer close(r.handlerEnded(c.TaskID))
			if err := c.Progress(ctx, "started"); err != nil {
				return nil, err
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		{Name: "steps", Description: "reports progress whenever the test says", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			defer close(r.handlerEnded(c.TaskID))
			if err := c.Progress(ctx, "started"); err != nil {
				return nil, err
			}
			for {
				select {
				case <-r.step:
					if err := c.Progress(ctx, "step"); err != nil {
						return nil, err
					}
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
		}},
		{Name: "echo", Description: "returns its input", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			return nil, c.Result(ctx, map[string]any{"echo": c.Text()})
		}},
	}
	e, err := a2a.NewEngine(a2a.EngineOptions{Capabilities: caps, Store: store, Self: spiffeid.RequireFromString("spiffe://example.org/agent/replicated/dev"), Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}})
	if err != nil {
		t.Fatalf("NewEngine() = %v, want nil", err)
	}
	r.Engine = e
	t.Cleanup(func() { e.Close() }) // before the store closes: cleanups run last-in first-out
	return r
}

// handlerEnded returns the channel closed when task id's handler returns.
func (r *replica) handlerEnded(id a2acore.TaskID) chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch, ok := r.ended[id]
	if !ok {
		ch = make(chan struct{})
		r.ended[id] = ch
	}
	return ch
}

// waitStarted waits until r sees the "started" progress of task id, so
// that its handler (on another replica) runs when the test goes on.
func waitStarted(ctx context.Context, t *testing.T, r *replica, id a2acore.TaskID) {
	t.Helper()
	eventually(ctx, t, waitTimeout, "replica 2 sees the handler's progress", func() error {
		got, err := r.GetTask(ctx, &a2acore.GetTaskRequest{ID: id})
		if err != nil {
			return err
		}
		if !hasText(got.History, "started") {
			return fmt.Errorf("state %s, history without the progress message", got.Status.State)
		}
		return nil
	})
}

func cancelOn(ctx context.Context, t *testing.T, r *replica, id a2acore.TaskID) {
	t.Helper()
	canceled, err := r.CancelTask(ctx, &a2acore.CancelTaskRequest{ID: id})
	if err != nil {
		t.Fatalf("CancelTask(%s) = %v, want nil", id, err)
	}
	if canceled.Status.State != a2acore.TaskStateCanceled {
		t.Fatalf("CancelTask(%s) state = %s, want canceled", id, canceled.Status.State)
	}
}

// call returns a request that calls capability with text.
func call(capability, text string, returnImmediately bool) *a2acore.SendMessageRequest {
	msg := a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewTextPart(text))
	msg.Metadata = map[string]any{a2a.ExtensionURI: capability}
	return &a2acore.SendMessageRequest{Message: msg, Config: &a2acore.SendMessageConfig{ReturnImmediately: returnImmediately}}
}

func send(ctx context.Context, t *testing.T, r *replica, req *a2acore.SendMessageRequest) *a2acore.Task {
	t.Helper()
	res, err := r.SendMessage(ctx, req)
	if err != nil {
		t.Fatalf("SendMessage() = %v, want nil", err)
	}
	task, ok := res.(*a2acore.Task)
	if !ok {
		t.Fatalf("SendMessage() = %T, want *a2a.Task", res)
	}
	return task
}

// stateIs returns a check that replica r reports task id in state want.
func stateIs(ctx context.Context, r *replica, id a2acore.TaskID, want a2acore.TaskState) func() error {
	return func() error {
		got, err := r.GetTask(ctx, &a2acore.GetTaskRequest{ID: id})
		if err != nil {
			return err
		}
		if got.Status.State != want {
			return fmt.Errorf("GetTask(%s) state = %s, want %s", id, got.Status.State, want)
		}
		return nil
	}
}

func hasText(msgs []*a2acore.Message, text string) bool {
	return slices.ContainsFunc(msgs, func(m *a2acore.Message) bool {
		return slices.ContainsFunc(m.Parts, func(p *a2acore.Part) bool { return p.Content == a2acore.Text(text) })
	})
}

// TestReplicas runs two engines, each with its own store on one database,
// as two replicas of an agent behind a load balancer.
func TestReplicas(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	dsn := newSchema(t, pg)
	r1, r2 := newReplica(t, dsn), newReplica(t, dsn)

	t.Run("CancelOnOtherReplica", func(t *testing.T) {
		t.Parallel()
		alice := identity.WithPeerID(t.Context(), aliceID)
		task := send(alice, t, r1, call("slow", "work", true))
		id := task.ID

		got, err := r2.GetTask(alice, &a2acore.GetTaskRequest{ID: id})
		if err != nil {
			t.Fatalf("replica 2: GetTask(%s) = %v, want nil", id, err)
		}
		if s := got.Status.State; s != a2acore.TaskStateSubmitted && s != a2acore.TaskStateWorking {
			t.Fatalf("replica 2: GetTask(%s) state = %s, want submitted or working", id, s)
		}
		waitStarted(alice, t, r2, id)

		list, err := r2.ListTasks(alice, &a2acore.ListTasksRequest{ContextID: task.ContextID})
		if err != nil {
			t.Fatalf("replica 2: ListTasks(context %s) = %v, want nil", task.ContextID, err)
		}
		if len(list.Tasks) != 1 || list.Tasks[0].ID != id || list.TotalSize != 1 {
			t.Fatalf("replica 2: ListTasks(context %s) = %d tasks (total %d), want just %s", task.ContextID, len(list.Tasks), list.TotalSize, id)
		}

		cancelOn(alice, t, r2, id)
		if err := stateIs(alice, r2, id, a2acore.TaskStateCanceled)(); err != nil {
			t.Errorf("replica 2 after canceling: %v", err)
		}

		bob := identity.WithPeerID(t.Context(), bobID)
		if _, err := r2.GetTask(bob, &a2acore.GetTaskRequest{ID: id}); !errors.Is(err, a2acore.ErrTaskNotFound) {
			t.Errorf("replica 2: bob's GetTask(%s) = %v, want ErrTaskNotFound", id, err)
		}
		if _, err := r2.CancelTask(bob, &a2acore.CancelTaskRequest{ID: id}); !errors.Is(err, a2acore.ErrTaskNotFound) {
			t.Errorf("replica 2: bob's CancelTask(%s) = %v, want ErrTaskNotFound", id, err)
		}
		if l, err := r2.ListTasks(bob, &a2acore.ListTasksRequest{}); err != nil || len(l.Tasks) != 0 || l.TotalSize != 0 {
			t.Errorf("replica 2: bob's ListTasks() = %v, %v; want no tasks", l, err)
		}
		if t.Failed() {
			return
		}

		t.Run("ReplicaOneSeesIt", func(t *testing.T) { replicaOneSeesCancel(alice, t, r1, id) })
	})

	t.Run("CancelSeenAtNextWrite", func(t *testing.T) {
		t.Parallel()
		alice := identity.WithPeerID(t.Context(), aliceID)
		task := send(alice, t, r1, call("steps", "work", true))
		waitStarted(alice, t, r2, task.ID)
		cancelOn(alice, t, r2, task.ID)
		// The handler's next write meets ErrConflict from the store; the
		// engine reloads the task, finds it canceled, and ends the handler.
		select {
		case r1.step <- struct{}{}:
		case <-time.After(waitTimeout):
			t.Fatalf("replica 1's handler of %s did not take the step", task.ID)
		}
		select {
		case <-r1.handlerEnded(task.ID):
		case <-time.After(waitTimeout):
			t.Fatalf("replica 1 still runs the handler of %s %v after its write met the cancellation", task.ID, waitTimeout)
		}
		eventually(alice, t, waitTimeout, "replica 1 reports the task canceled", stateIs(alice, r1, task.ID, a2acore.TaskStateCanceled))
		got, err := r2.GetTask(alice, &a2acore.GetTaskRequest{ID: task.ID})
		if err != nil || got.Status.State != a2acore.TaskStateCanceled || hasText(got.History, "step") {
			t.Errorf("replica 2: GetTask(%s) = %v, %v; want canceled, without the refused step", task.ID, got, err)
		}
	})

	t.Run("CompletionVisibleOnOtherReplica", func(t *testing.T) {
		t.Parallel()
		alice := identity.WithPeerID(t.Context(), aliceID)
		done := send(alice, t, r1, call("echo", "hello", false))
		if done.Status.State != a2acore.TaskStateCompleted {
			t.Fatalf("replica 1: SendMessage(echo) state = %s, want completed", done.Status.State)
		}
		got, err := r2.GetTask(alice, &a2acore.GetTaskRequest{ID: done.ID})
		if err != nil {
			t.Fatalf("replica 2: GetTask(%s) = %v, want nil", done.ID, err)
		}
		if got.Status.State != a2acore.TaskStateCompleted || len(got.Artifacts) != 1 || got.Artifacts[0].Name != "result" {
			t.Errorf("replica 2: GetTask(%s) = state %s, %d artifacts; want completed with the result", done.ID, got.Status.State, len(got.Artifacts))
		}
		if _, err := r2.CancelTask(alice, &a2acore.CancelTaskRequest{ID: done.ID}); !errors.Is(err, a2acore.ErrTaskNotCancelable) {
			t.Errorf("replica 2: CancelTask(%s) of a completed task = %v, want ErrTaskNotCancelable", done.ID, err)
		}
	})
}

// replicaOneSeesCancel checks that replica r1, which runs task id, learns
// that another replica canceled it.
func replicaOneSeesCancel(ctx context.Context, t *testing.T, r1 *replica, id a2acore.TaskID) {
	// Replica 1's GetTask reads the store, sees the cancellation, and ends
	// its live copy: the handler's context is canceled.
	err := within(ctx, gapTimeout, stateIs(ctx, r1, id, a2acore.TaskStateCanceled))
	if err == nil {
		select {
		case <-r1.handlerEnded(id):
			return
		case <-time.After(gapTimeout):
			err = errors.New("replica 1 still runs the handler")
		}
	}
	t.Errorf("replica 1 does not see the cancellation made through replica 2: %v", err)
}
