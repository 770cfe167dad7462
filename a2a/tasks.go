package a2a

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
)

// SubscribeToTask implements a2asrv.RequestHandler: the task's current
// snapshot, then its events until it reaches a terminal state (A2A
// §3.1.6), through input-required and auth-required. A finished task
// cannot be subscribed to (UnsupportedOperationError, as the spec says).
func (e *Engine) SubscribeToTask(ctx context.Context, req *a2acore.SubscribeToTaskRequest) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		if req == nil || req.ID == "" {
			yield(nil, invalidParams("id is required"))
			return
		}
		caller, err := e.admit(ctx, "SubscribeToTask", req.ID)
		if err != nil {
			yield(nil, err)
			return
		}
		lt := e.lookup(caller, req.ID)
		if lt == nil {
			yield(nil, e.endedOrMissing(ctx, caller, req.ID))
			return
		}
		sub, snap := lt.subscribe()
		defer lt.unsubscribe(sub)
		if !yield(snap, nil) || snap.Status.State.Terminal() {
			return
		}
		e.stream(ctx, sub, yield)
	}
}

// endedOrMissing is the error for a task that is not live: unsupported for
// a finished task of the caller's, not found otherwise.
func (e *Engine) endedOrMissing(ctx context.Context, caller spiffeid.ID, id a2acore.TaskID) error {
	t, _, err := e.store.Get(ctx, caller, id)
	if err != nil {
		return taskNotFound(id)
	}
	return a2acore.NewError(a2acore.ErrUnsupportedOperation,
		fmt.Sprintf("task %q has ended (%s); use GetTask to read it", id, t.Status.State))
}

// GetTask implements a2asrv.RequestHandler.
func (e *Engine) GetTask(ctx context.Context, req *a2acore.GetTaskRequest) (*a2acore.Task, error) {
	if req == nil || req.ID == "" {
		return nil, invalidParams("id is required")
	}
	caller, err := e.admit(ctx, "GetTask", req.ID)
	if err != nil {
		return nil, err
	}
	if req.HistoryLength != nil && *req.HistoryLength < 0 {
		return nil, invalidParams("historyLength must not be negative")
	}
	// The store is the truth: another replica may have ended a task this
	// engine runs (canceled it, say). Reading it tells the live task too.
	t, v, err := e.store.Get(ctx, caller, req.ID)
	if err != nil {
		if errors.Is(err, a2acore.ErrTaskNotFound) {
			return nil, taskNotFound(req.ID)
		}
		return nil, fmt.Errorf("a2a: read task: %w", err)
	}
	if lt := e.lookup(caller, req.ID); lt != nil {
		t = lt.adopt(t, v)
	}
	return withHistory(t, req.HistoryLength), nil
}

// ListTasks implements a2asrv.RequestHandler: the caller's tasks only,
// most recently updated first, with cursor pagination.
func (e *Engine) ListTasks(ctx context.Context, req *a2acore.ListTasksRequest) (*a2acore.ListTasksResponse, error) {
	caller, err := e.admit(ctx, "ListTasks", "")
	if err != nil {
		return nil, err
	}
	if req == nil {
		req = &a2acore.ListTasksRequest{}
	}
	size := req.PageSize
	switch {
	case size == 0:
		size = taskstore.DefaultPageSize
	case size < 1 || size > taskstore.MaxPageSize:
		return nil, invalidParams("pageSize must be between 1 and %d, not %d", taskstore.MaxPageSize, size)
	}
	if req.HistoryLength != nil && *req.HistoryLength < 0 {
		return nil, invalidParams("historyLength must not be negative")
	}
	if req.Status != a2acore.TaskStateUnspecified && !knownState(req.Status) {
		return nil, invalidParams("status %q is not a task state", req.Status)
	}
	after, err := taskstore.ParseCursor(req.PageToken)
	if err != nil {
		return nil, invalidParams("pageToken: %v", err)
	}
	q := taskstore.ListQuery{ContextID: req.ContextID, State: req.Status, PageSize: size, After: after}
	if req.StatusTimestampAfter != nil {
		q.UpdatedAfter = *req.StatusTimestampAfter
	}
	page, err := e.store.List(ctx, caller, q)
	if err != nil {
		return nil, fmt.Errorf("a2a: list tasks: %w", err)
	}
	resp := &a2acore.ListTasksResponse{Tasks: make([]*a2acore.Task, 0, len(page.Tasks)), TotalSize: page.Total, PageSize: size, NextPageToken: page.Next.Token()}
	for _, t := range page.Tasks {
		t = withHistory(t, req.HistoryLength)
		if !req.IncludeArtifacts && len(t.Artifacts) > 0 {
			c := *t
			c.Artifacts = nil
			t = &c
		}
		resp.Tasks = append(resp.Tasks, t)
	}
	return resp, nil
}

var states = []a2acore.TaskState{
	a2acore.TaskStateSubmitted, a2acore.TaskStateWorking, a2acore.TaskStateInputRequired, a2acore.TaskStateAuthRequired,
	a2acore.TaskStateCompleted, a2acore.TaskStateCanceled, a2acore.TaskStateFailed, a2acore.TaskStateRejected,
}

func knownState(s a2acore.TaskState) bool { return slices.Contains(states, s) }

// CancelTask implements a2asrv.RequestHandler. A finished task cannot be
// canceled (TaskNotCancelableError).
func (e *Engine) CancelTask(ctx context.Context, req *a2acore.CancelTaskRequest) (*a2acore.Task, error) {
	if req == nil || req.ID == "" {
		return nil, invalidParams("id is required")
	}
	caller, err := e.admit(ctx, "CancelTask", req.ID)
	if err != nil {
		return nil, err
	}
	lt := e.lookup(caller, req.ID)
	if lt == nil {
		return e.cancelStored(ctx, caller, req.ID)
	}
	info := a2acore.TaskInfo{TaskID: req.ID, ContextID: lt.snapshot().ContextID}
	if err := lt.apply(ctx, a2acore.NewStatusUpdateEvent(info, a2acore.TaskStateCanceled, nil)); err != nil {
		if errors.Is(err, ErrTaskClosed) {
			t := lt.snapshot()
			return nil, a2acore.NewError(a2acore.ErrTaskNotCancelable, fmt.Sprintf("task %q has already ended (%s)", req.ID, t.Status.State))
		}
		return nil, fmt.Errorf("a2a: cancel task: %w", err)
	}
	return lt.snapshot(), nil
}

// cancelStored cancels a task this engine is not running: one another
// replica runs (it sees the cancellation at its next update) or one left
// unfinished by an earlier process.
func (e *Engine) cancelStored(ctx context.Context, caller spiffeid.ID, id a2acore.TaskID) (*a2acore.Task, error) {
	for range 5 {
		t, v, err := e.store.Get(ctx, caller, id)
		if err != nil {
			return nil, taskNotFound(id)
		}
		if t.Status.State.Terminal() {
			return nil, a2acore.NewError(a2acore.ErrTaskNotCancelable, fmt.Sprintf("task %q has already ended (%s)", id, t.Status.State))
		}
		next := nextSnapshot(t, a2acore.NewStatusUpdateEvent(t, a2acore.TaskStateCanceled, nil))
		if _, err := e.store.Update(ctx, caller, next, v); err == nil {
			return next, nil
		} else if !errors.Is(err, taskstore.ErrConflict) {
			return nil, fmt.Errorf("a2a: cancel task: %w", err)
		}
	}
	return nil, fmt.Errorf("a2a: cancel task %q: it kept changing; try again", id)
}

// withHistory returns t with at most n most recent history messages (all
// when n is nil), copying only when it trims.
func withHistory(t *a2acore.Task, n *int) *a2acore.Task {
	if n == nil || len(t.History) <= *n {
		return t
	}
	c := *t
	c.History = slices.Clip(t.History[len(t.History)-*n:])
	if *n == 0 {
		c.History = nil
	}
	return &c
}
