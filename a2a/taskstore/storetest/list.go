package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
)

// fixture is alice's tasks for the List tests, in creation order (which is
// neither ID nor time order). t-f and t-d tie on time; t-0 is 1ns newer
// than t-a, so a store that rounds timestamps orders them wrongly.
var fixture = []struct {
	id    a2acore.TaskID
	ctx   string
	state a2acore.TaskState
	at    time.Duration
}{
	{"t-a", "ctx-1", a2acore.TaskStateWorking, 5 * time.Millisecond},
	{"t-b", "ctx-2", a2acore.TaskStateCompleted, 9 * time.Millisecond},
	{"t-c", "ctx-1", a2acore.TaskStateCompleted, 1 * time.Millisecond},
	{"t-d", "ctx-2", a2acore.TaskStateWorking, 7 * time.Millisecond},
	{"t-e", "ctx-1", a2acore.TaskStateInputRequired, 3 * time.Millisecond},
	{"t-f", "ctx-2", a2acore.TaskStateWorking, 7 * time.Millisecond},
	{"t-g", "ctx-1", a2acore.TaskStateWorking, 11 * time.Millisecond},
	{"t-h", "ctx-2", a2acore.TaskStateFailed, 0},
	{"t-i", "ctx-1", a2acore.TaskStateWorking, 8 * time.Millisecond},
	{"t-j", "ctx-2", a2acore.TaskStateCompleted, 2 * time.Millisecond},
	{"t-0", "ctx-1", a2acore.TaskStateWorking, 5*time.Millisecond + 1},
	{"t-k", "ctx-1", a2acore.TaskStateWorking, 10 * time.Millisecond},
	{"t-l", "ctx-2", a2acore.TaskStateSubmitted, 4 * time.Millisecond},
}

// listOrder is the fixture in list order: time descending, then ID
// descending.
var listOrder = []a2acore.TaskID{"t-g", "t-k", "t-b", "t-i", "t-f", "t-d", "t-0", "t-a", "t-l", "t-e", "t-j", "t-c", "t-h"}

// createFixture stores the fixture for alice, and for bob newer tasks in the
// same contexts and states that must never show up in alice's lists.
func createFixture(t *testing.T, s taskstore.Store) map[a2acore.TaskID]*a2acore.Task {
	t.Helper()
	tasks := map[a2acore.TaskID]*a2acore.Task{}
	for _, f := range fixture {
		task := newTask(f.id, f.ctx, f.state, at(f.at))
		mustCreate(t, s, alice, task)
		tasks[f.id] = task
	}
	mustCreate(t, s, bob, newTask("u-1", "ctx-1", a2acore.TaskStateWorking, at(20*time.Millisecond)))
	mustCreate(t, s, bob, newTask("u-2", "ctx-2", a2acore.TaskStateCompleted, at(6*time.Millisecond)))
	mustCreate(t, s, bob, newTask("u-3", "ctx-1", a2acore.TaskStateWorking, at(7*time.Millisecond)))
	return tasks
}

func ids(tasks []*a2acore.Task) []a2acore.TaskID {
	out := make([]a2acore.TaskID, len(tasks))
	for i, t := range tasks {
		out[i] = t.ID
	}
	return out
}

// listAll lists every page of q for owner, following Next (through a page
// token when viaToken), and checks the page invariants: Total is the same
// on every page and equals the number of tasks listed, every page but the
// last is full and has a Next, the last has none.
func listAll(t *testing.T, s taskstore.Store, owner spiffeid.ID, q taskstore.ListQuery, viaToken bool) (tasks []*a2acore.Task, pages int) {
	t.Helper()
	total := -1
	for {
		page, err := s.List(t.Context(), owner, q)
		if err != nil {
			t.Fatalf("List(%+v) page %d = %v, want nil", q, pages+1, err)
		}
		pages++
		if total >= 0 && page.Total != total {
			t.Errorf("List(%+v) page %d Total = %d, want %d as on page 1", q, pages, page.Total, total)
		}
		total = page.Total
		tasks = append(tasks, page.Tasks...)
		if page.Next.IsZero() {
			break
		}
		if len(page.Tasks) != q.PageSize {
			t.Errorf("List(%+v) page %d has %d tasks and a Next cursor, want a full page of %d", q, pages, len(page.Tasks), q.PageSize)
		}
		if pages > len(fixture)+5 {
			t.Fatalf("List(%+v) still has a Next cursor after %d pages; cursors loop", q, pages)
		}
		q.After = page.Next
		if viaToken {
			q.After, err = taskstore.ParseCursor(page.Next.Token())
			if err != nil {
				t.Fatalf("ParseCursor(page %d Next.Token()) = %v, want nil", pages, err)
			}
		}
	}
	if total != len(tasks) {
		t.Errorf("List(%+v) Total = %d, but the pages held %d tasks", q, total, len(tasks))
	}
	return tasks, pages
}

func testListOrder(t *testing.T, s taskstore.Store) {
	created := createFixture(t, s)
	page, err := s.List(t.Context(), alice, taskstore.ListQuery{PageSize: 100})
	if err != nil {
		t.Fatalf("List() = %v, want nil", err)
	}
	if d := cmp.Diff(listOrder, ids(page.Tasks)); d != "" {
		t.Errorf("List() order mismatch (-want +got):\n%s", d)
	}
	if page.Total != len(listOrder) || !page.Next.IsZero() {
		t.Errorf("List() Total, Next = %d, %+v; want %d, zero", page.Total, page.Next, len(listOrder))
	}
	for _, got := range page.Tasks {
		if d := diffTask(created[got.ID], got); d != "" {
			t.Errorf("List() task %s mismatch (-want +got):\n%s", got.ID, d)
		}
	}
}

func testListFilters(t *testing.T, s taskstore.Store) {
	createFixture(t, s)
	tests := []struct {
		name string
		q    taskstore.ListQuery
		want []a2acore.TaskID
	}{
		{
			name: "context",
			q:    taskstore.ListQuery{ContextID: "ctx-2"},
			want: []a2acore.TaskID{"t-b", "t-f", "t-d", "t-l", "t-j", "t-h"},
		},
		{
			name: "state",
			q:    taskstore.ListQuery{State: a2acore.TaskStateCompleted},
			want: []a2acore.TaskID{"t-b", "t-j", "t-c"},
		},
		{
			name: "updated strictly after a tie",
			q:    taskstore.ListQuery{UpdatedAfter: at(7 * time.Millisecond)},
			want: []a2acore.TaskID{"t-g", "t-k", "t-b", "t-i"},
		},
		{
			name: "updated after, nanosecond precision",
			q:    taskstore.ListQuery{UpdatedAfter: at(5 * time.Millisecond)},
			want: []a2acore.TaskID{"t-g", "t-k", "t-b", "t-i", "t-f", "t-d", "t-0"},
		},
		{
			name: "updated after, other time zone",
			q:    taskstore.ListQuery{UpdatedAfter: at(9 * time.Millisecond).In(time.FixedZone("UTC-7", -7*3600))},
			want: []a2acore.TaskID{"t-g", "t-k"},
		},
		{
			name: "context and state",
			q:    taskstore.ListQuery{ContextID: "ctx-2", State: a2acore.TaskStateWorking},
			want: []a2acore.TaskID{"t-f", "t-d"},
		},
		{
			name: "all filters",
			q:    taskstore.ListQuery{ContextID: "ctx-1", State: a2acore.TaskStateWorking, UpdatedAfter: at(4 * time.Millisecond)},
			want: []a2acore.TaskID{"t-g", "t-k", "t-i", "t-0", "t-a"},
		},
		{
			name: "unknown context",
			q:    taskstore.ListQuery{ContextID: "ctx-none"},
		},
		{
			name: "state without tasks",
			q:    taskstore.ListQuery{State: a2acore.TaskStateCanceled},
		},
		{
			name: "updated after the newest",
			q:    taskstore.ListQuery{UpdatedAfter: at(11 * time.Millisecond)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{100, 2} {
				q := tt.q
				q.PageSize = size
				got, _ := listAll(t, s, alice, q, false)
				if d := cmp.Diff(tt.want, ids(got), cmpEmpty); d != "" {
					t.Errorf("List(%+v) mismatch (-want +got):\n%s", q, d)
				}
			}
		})
	}
}

func testListPagination(t *testing.T, s taskstore.Store) {
	createFixture(t, s)
	n := len(listOrder)
	for _, size := range []int{1, 2, 3, 5, n - 1, n, n + 1, 100} {
		for _, viaToken := range []bool{false, true} {
			t.Run(fmt.Sprintf("size=%d/token=%v", size, viaToken), func(t *testing.T) {
				got, pages := listAll(t, s, alice, taskstore.ListQuery{PageSize: size}, viaToken)
				if d := cmp.Diff(listOrder, ids(got)); d != "" {
					t.Errorf("tasks over all pages mismatch (-want +got):\n%s", d)
				}
				if want := (n + size - 1) / size; pages != want {
					t.Errorf("listing %d tasks %d per page took %d pages, want %d", n, size, pages, want)
				}
			})
		}
	}

	// A cursor from a page token resumes exactly where Next does.
	page, err := s.List(t.Context(), alice, taskstore.ListQuery{PageSize: 5})
	if err != nil {
		t.Fatalf("List() = %v, want nil", err)
	}
	parsed, err := taskstore.ParseCursor(page.Next.Token())
	if err != nil {
		t.Fatalf("ParseCursor(%q) = %v, want nil", page.Next.Token(), err)
	}
	direct, err1 := s.List(t.Context(), alice, taskstore.ListQuery{PageSize: 5, After: page.Next})
	viaToken, err2 := s.List(t.Context(), alice, taskstore.ListQuery{PageSize: 5, After: parsed})
	if err1 != nil || err2 != nil {
		t.Fatalf("List(second page) = %v, %v; want nil, nil", err1, err2)
	}
	if d := cmp.Diff(ids(direct.Tasks), ids(viaToken.Tasks)); d != "" {
		t.Errorf("second page from the token differs from the one from Next (-Next +token):\n%s", d)
	}
	if direct.Next.Token() != viaToken.Next.Token() {
		t.Errorf("second page Next.Token() = %q from Next, %q from the token; want equal", direct.Next.Token(), viaToken.Next.Token())
	}
}

func testListSeesUpdates(t *testing.T, s taskstore.Store) {
	ctx := t.Context()
	created := createFixture(t, s)

	// The oldest task, failed, is retried: it becomes the newest and working.
	retried := newTask("t-h", "ctx-2", a2acore.TaskStateWorking, at(12*time.Millisecond))
	if _, err := s.Update(ctx, alice, retried, 1); err != nil {
		t.Fatalf("Update(t-h) = %v, want nil", err)
	}
	created["t-h"] = retried
	want := append([]a2acore.TaskID{"t-h"}, slices.DeleteFunc(slices.Clone(listOrder), func(id a2acore.TaskID) bool { return id == "t-h" })...)
	got, _ := listAll(t, s, alice, taskstore.ListQuery{PageSize: 4}, true)
	if d := cmp.Diff(want, ids(got)); d != "" {
		t.Errorf("List() after Update mismatch (-want +got):\n%s", d)
	}
	for _, g := range got {
		if d := diffTask(created[g.ID], g); d != "" {
			t.Errorf("List() task %s mismatch (-want +got):\n%s", g.ID, d)
		}
	}
	for _, tc := range []struct {
		q    taskstore.ListQuery
		want []a2acore.TaskID
	}{
		{taskstore.ListQuery{State: a2acore.TaskStateFailed}, nil},
		{taskstore.ListQuery{UpdatedAfter: at(11 * time.Millisecond)}, []a2acore.TaskID{"t-h"}},
		{taskstore.ListQuery{ContextID: "ctx-2", State: a2acore.TaskStateWorking}, []a2acore.TaskID{"t-h", "t-f", "t-d"}},
	} {
		tc.q.PageSize = 10
		got, _ := listAll(t, s, alice, tc.q, false)
		if d := cmp.Diff(tc.want, ids(got), cmpEmpty); d != "" {
			t.Errorf("List(%+v) after Update mismatch (-want +got):\n%s", tc.q, d)
		}
	}
}
