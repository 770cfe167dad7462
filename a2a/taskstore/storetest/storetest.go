package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
)

// The two owners of the suite's tasks.
var (
	alice = spiffeid.RequireFromString("spiffe://example.org/agent/alice")
	bob   = spiffeid.RequireFromString("spiffe://example.org/agent/bob")
)

// base is the suite's reference time; its nanoseconds catch stores that
// round timestamps.
var base = time.Date(2025, 6, 1, 12, 0, 0, 123_456_789, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// Run runs the conformance suite against the stores newStore returns, one
// fresh store per subtest. Subtests run in parallel.
func Run(t *testing.T, newStore func(t *testing.T) taskstore.Store) {
	t.Helper()
	tests := []struct {
		name string
		f    func(t *testing.T, s taskstore.Store)
	}{
		{"CreateThenGet", testCreateThenGet},
		{"CreateExistingID", testCreateExistingID},
		{"UnknownTask", testUnknownTask},
		{"OtherOwner", testOtherOwner},
		{"UpdateVersions", testUpdateVersions},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"RoundTrip", testRoundTrip},
		{"ListOrder", testListOrder},
		{"ListFilters", testListFilters},
		{"ListPagination", testListPagination},
		{"ListSeesUpdates", testListSeesUpdates},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.f(t, newStore(t))
		})
	}
}

// newTask returns a task with the fields List filters on.
func newTask(id a2acore.TaskID, contextID string, state a2acore.TaskState, ts time.Time) *a2acore.Task {
	return &a2acore.Task{
		ID: id, ContextID: contextID,
		Status: a2acore.TaskStatus{State: state, Timestamp: &ts},
	}
}

// richTask returns a task using every part type and metadata location,
// with values that survive JSON unchanged.
func richTask(id a2acore.TaskID, ts time.Time) *a2acore.Task {
	textWithMeta := a2acore.NewTextPart("héllo, 世界 \u2028 <b>&\"quoted\"</b>")
	textWithMeta.Metadata = map[string]any{"lang": "mixed"}
	user := &a2acore.Message{
		ID: "msg-1", ContextID: "ctx-rich", TaskID: id, Role: a2acore.MessageRoleUser,
		Parts: a2acore.ContentParts{
			a2acore.NewTextPart("find the SPIFFE docs"),
			a2acore.NewDataPart(map[string]any{
				"query": "spiffe", "limit": float64(10), "tags": []any{"a", "b"},
				"nested": map[string]any{"ok": true, "none": nil},
			}),
		},
		Extensions:     []string{"https://example.org/ext/search/v1"},
		Metadata:       map[string]any{"https://example.org/ext/search/v1": "search"},
		ReferenceTasks: []a2acore.TaskID{"task-earlier"},
	}
	agent := &a2acore.Message{
		ID: "msg-2", ContextID: "ctx-rich", TaskID: id, Role: a2acore.MessageRoleAgent,
		Parts: a2acore.ContentParts{textWithMeta},
	}
	return &a2acore.Task{
		ID: id, ContextID: "ctx-rich",
		History: []*a2acore.Message{user, agent},
		Artifacts: []*a2acore.Artifact{{
			ID: "art-1", Name: "results", Description: "search results",
			Extensions: []string{"https://example.org/ext/rank/v1"},
			Metadata:   map[string]any{"score": 0.5},
			Parts: a2acore.ContentParts{
				a2acore.NewTextPart("1. spiffe.io"),
				a2acore.NewDataPart([]any{float64(1), "two", false}),
				a2acore.NewFileURLPart("https://spiffe.io/docs.pdf", "application/pdf"),
				{Content: a2acore.Raw{0, 1, 2, 0xfe, 0xff}, Filename: "blob.bin", MediaType: "application/octet-stream"},
			},
		}},
		Metadata: map[string]any{"tenant": "blue", "attempt": float64(2)},
		Status: a2acore.TaskStatus{
			State: a2acore.TaskStateInputRequired, Timestamp: &ts,
			Message: &a2acore.Message{
				ID: "msg-3", ContextID: "ctx-rich", TaskID: id, Role: a2acore.MessageRoleAgent,
				Parts: a2acore.ContentParts{a2acore.NewTextPart("which version?")},
			},
		},
	}
}

// cmpEmpty treats nil and empty slices and maps alike: JSON does not
// always keep the difference.
var cmpEmpty = cmpopts.EquateEmpty()

// diffTask compares tasks by value: times with Equal, nil like empty.
func diffTask(want, got *a2acore.Task) string {
	return cmp.Diff(want, got, cmpEmpty)
}

func mustCreate(t *testing.T, s taskstore.Store, owner spiffeid.ID, task *a2acore.Task) {
	t.Helper()
	if err := s.Create(t.Context(), owner, task); err != nil {
		t.Fatalf("Create(%s, %s) = %v, want nil", owner, task.ID, err)
	}
}

func mustGet(t *testing.T, s taskstore.Store, owner spiffeid.ID, id a2acore.TaskID) (*a2acore.Task, int64) {
	t.Helper()
	task, v, err := s.Get(t.Context(), owner, id)
	if err != nil {
		t.Fatalf("Get(%s, %s) = %v, want nil", owner, id, err)
	}
	return task, v
}

// wantStored fails unless owner's task want.ID is stored as want at version.
func wantStored(t *testing.T, s taskstore.Store, owner spiffeid.ID, want *a2acore.Task, version int64) {
	t.Helper()
	got, v := mustGet(t, s, owner, want.ID)
	if v != version {
		t.Errorf("Get(%s) version = %d, want %d", want.ID, v, version)
	}
	if d := diffTask(want, got); d != "" {
		t.Errorf("Get(%s) task mismatch (-want +got):\n%s", want.ID, d)
	}
}

func testCreateThenGet(t *testing.T, s taskstore.Store) {
	task := richTask("task-1", at(0))
	mustCreate(t, s, alice, task)
	wantStored(t, s, alice, task, 1)

	plain := newTask("task-2", "ctx-plain", a2acore.TaskStateSubmitted, at(time.Millisecond))
	mustCreate(t, s, alice, plain)
	wantStored(t, s, alice, plain, 1)
}

func testCreateExistingID(t *testing.T, s taskstore.Store) {
	ctx := t.Context()
	orig := newTask("task-1", "ctx-1", a2acore.TaskStateSubmitted, at(0))
	mustCreate(t, s, alice, orig)
	dup := newTask("task-1", "ctx-other", a2acore.TaskStateWorking, at(time.Second))
	if err := s.Create(ctx, alice, dup); err == nil {
		t.Error("Create() of an existing ID by its owner = nil, want error")
	}
	// IDs are global: another owner must not be able to take one over.
	if err := s.Create(ctx, bob, dup); err == nil {
		t.Error("Create() of an existing ID by another owner = nil, want error")
	}
	wantStored(t, s, alice, orig, 1)
	if _, _, err := s.Get(ctx, bob, orig.ID); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("Get() by another owner after a failed Create = %v, want ErrTaskNotFound", err)
	}
}

func testUnknownTask(t *testing.T, s taskstore.Store) {
	ctx := t.Context()
	mustCreate(t, s, alice, newTask("task-1", "ctx-1", a2acore.TaskStateSubmitted, at(0)))
	if _, _, err := s.Get(ctx, alice, "task-missing"); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrTaskNotFound", err)
	}
	missing := newTask("task-missing", "ctx-1", a2acore.TaskStateWorking, at(time.Second))
	if _, err := s.Update(ctx, alice, missing, 1); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("Update(unknown) = %v, want ErrTaskNotFound", err)
	}
	if _, _, err := s.Get(ctx, alice, "task-missing"); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("Get(unknown) after Update = %v, want ErrTaskNotFound (Update must not create)", err)
	}
}

func testOtherOwner(t *testing.T, s taskstore.Store) {
	ctx := t.Context()
	task := newTask("task-1", "ctx-1", a2acore.TaskStateWorking, at(0))
	mustCreate(t, s, alice, task)

	if _, _, err := s.Get(ctx, bob, task.ID); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("Get() by another owner = %v, want ErrTaskNotFound", err)
	}
	next := newTask(task.ID, "ctx-1", a2acore.TaskStateCanceled, at(time.Second))
	_, err := s.Update(ctx, bob, next, 1)
	if !errors.Is(err, a2acore.ErrTaskNotFound) || errors.Is(err, taskstore.ErrConflict) {
		t.Errorf("Update() by another owner at the current version = %v, want ErrTaskNotFound only", err)
	}
	if _, err := s.Update(ctx, bob, next, 7); !errors.Is(err, a2acore.ErrTaskNotFound) || errors.Is(err, taskstore.ErrConflict) {
		t.Errorf("Update() by another owner at a wrong version = %v, want ErrTaskNotFound only (no version oracle)", err)
	}
	wantStored(t, s, alice, task, 1)

	for _, q := range []taskstore.ListQuery{
		{PageSize: 10},
		{PageSize: 10, ContextID: "ctx-1"},
		{PageSize: 10, State: a2acore.TaskStateWorking},
	} {
		page, err := s.List(ctx, bob, q)
		if err != nil {
			t.Fatalf("List(%+v) by another owner = %v, want nil", q, err)
		}
		if len(page.Tasks) != 0 || page.Total != 0 || !page.Next.IsZero() {
			t.Errorf("List(%+v) by another owner = %d tasks, Total %d, Next %+v; want none, 0, zero", q, len(page.Tasks), page.Total, page.Next)
		}
	}
	page, err := s.List(ctx, alice, taskstore.ListQuery{PageSize: 10})
	if err != nil || page.Total != 1 || len(page.Tasks) != 1 {
		t.Errorf("List() by the owner = %d tasks, Total %d, err %v; want 1, 1, nil", len(page.Tasks), page.Total, err)
	}
}

func testUpdateVersions(t *testing.T, s taskstore.Store) {
	ctx := t.Context()
	v1 := newTask("task-1", "ctx-1", a2acore.TaskStateSubmitted, at(0))
	mustCreate(t, s, alice, v1)

	v2 := newTask("task-1", "ctx-1", a2acore.TaskStateWorking, at(time.Millisecond))
	v2.History = []*a2acore.Message{a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewTextPart("go"))}
	got, err := s.Update(ctx, alice, v2, 1)
	if err != nil || got != 2 {
		t.Fatalf("Update(version 1) = %d, %v; want 2, nil", got, err)
	}
	wantStored(t, s, alice, v2, 2)

	stale := newTask("task-1", "ctx-1", a2acore.TaskStateCanceled, at(2*time.Millisecond))
	for _, version := range []int64{1, 3, 0, -1} {
		_, err := s.Update(ctx, alice, stale, version)
		if !errors.Is(err, taskstore.ErrConflict) || errors.Is(err, a2acore.ErrTaskNotFound) {
			t.Errorf("Update(version %d) of a task at version 2 = %v, want ErrConflict only", version, err)
		}
	}
	wantStored(t, s, alice, v2, 2)

	if got, err := s.Update(ctx, alice, stale, 2); err != nil || got != 3 {
		t.Fatalf("Update(version 2) = %d, %v; want 3, nil", got, err)
	}
	wantStored(t, s, alice, stale, 3)
}

func testConcurrentUpdates(t *testing.T, s taskstore.Store) {
	const writers = 16
	ctx := t.Context()
	mustCreate(t, s, alice, newTask("task-1", "ctx-1", a2acore.TaskStateSubmitted, at(0)))

	var (
		wg       sync.WaitGroup
		start    = make(chan struct{})
		tasks    [writers]*a2acore.Task
		versions [writers]int64
		errs     [writers]error
	)
	for i := range writers {
		tasks[i] = newTask("task-1", "ctx-1", a2acore.TaskStateWorking, at(time.Duration(i+1)*time.Millisecond))
		tasks[i].Metadata = map[string]any{"writer": float64(i)}
		wg.Go(func() {
			<-start
			versions[i], errs[i] = s.Update(ctx, alice, tasks[i], 1)
		})
	}
	close(start)
	wg.Wait()

	winner := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if winner >= 0 {
				t.Errorf("Update() from version 1 succeeded for writers %d and %d, want exactly one", winner, i)
			}
			winner = i
			if versions[i] != 2 {
				t.Errorf("winning Update() = %d, want 2", versions[i])
			}
		case !errors.Is(err, taskstore.ErrConflict):
			t.Errorf("losing Update() by writer %d = %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("none of %d concurrent Update() calls from version 1 succeeded, want exactly one", writers)
	}
	if winner < len(tasks) {
		wantStored(t, s, alice, tasks[winner], 2) //nolint:gosec // G602: winner indexes errs, which has len(tasks)
	}
}

func testRoundTrip(t *testing.T, s taskstore.Store) {
	ctx := t.Context()
	task := richTask("task-rich", at(0))
	mustCreate(t, s, alice, task)
	wantStored(t, s, alice, task, 1)

	next := richTask("task-rich", at(time.Millisecond))
	next.Status = a2acore.TaskStatus{State: a2acore.TaskStateCompleted, Timestamp: next.Status.Timestamp}
	next.Artifacts = append(next.Artifacts, &a2acore.Artifact{
		ID: "art-2", Parts: a2acore.ContentParts{a2acore.NewDataPart(map[string]any{"done": true})},
	})
	next.Metadata["finished"] = "yes"
	if _, err := s.Update(ctx, alice, next, 1); err != nil {
		t.Fatalf("Update() = %v, want nil", err)
	}
	wantStored(t, s, alice, next, 2)

	page, err := s.List(ctx, alice, taskstore.ListQuery{PageSize: 10})
	if err != nil {
		t.Fatalf("List() = %v, want nil", err)
	}
	if d := cmp.Diff([]*a2acore.Task{next}, page.Tasks, cmpEmpty); d != "" {
		t.Errorf("List() tasks mismatch (-want +got):\n%s", d)
	}
}
