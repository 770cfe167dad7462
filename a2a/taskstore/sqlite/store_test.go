package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/a2a/taskstore/storetest"
)

var owner = spiffeid.RequireFromString("spiffe://example.org/agent/alice")

// openTemp opens a store in a new file under t.TempDir, closed at cleanup.
func openTemp(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tasks.db")
	return openAt(t, path, opts), path
}

func openAt(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s) = %v, want nil", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// testTask returns a small working task in context ctx-1 at base+i ms.
func testTask(id a2acore.TaskID, i int) *a2acore.Task {
	ts := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return &a2acore.Task{
		ID: id, ContextID: "ctx-1",
		Status:  a2acore.TaskStatus{State: a2acore.TaskStateWorking, Timestamp: &ts},
		History: []*a2acore.Message{a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewTextPart("task "+string(id)))},
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) taskstore.Store {
		s, _ := openTemp(t, Options{})
		return s
	})
}

func TestReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tasks.db")
	s := openAt(t, path, Options{})
	want := map[a2acore.TaskID]int64{}
	for i := range 10 {
		id := a2acore.TaskID(fmt.Sprintf("task-%02d", i))
		if err := s.Create(ctx, owner, testTask(id, i)); err != nil {
			t.Fatalf("Create(%s) = %v, want nil", id, err)
		}
		want[id] = 1
		for v := range int64(i % 3) {
			if _, err := s.Update(ctx, owner, testTask(id, 100+i), v+1); err != nil {
				t.Fatalf("Update(%s, %d) = %v, want nil", id, v+1, err)
			}
			want[id] = v + 2
		}
	}
	before, err := s.List(ctx, owner, taskstore.ListQuery{PageSize: 100})
	if err != nil {
		t.Fatalf("List() = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close() = %v, want nil", err)
	}

	s = openAt(t, path, Options{})
	for id, wantV := range want {
		if _, v, err := s.Get(ctx, owner, id); err != nil || v != wantV {
			t.Errorf("Get(%s) after reopening = version %d, %v; want %d, nil", id, v, err, wantV)
		}
	}
	after, err := s.List(ctx, owner, taskstore.ListQuery{PageSize: 100})
	if err != nil {
		t.Fatalf("List() after reopening = %v, want nil", err)
	}
	if d := cmp.Diff(before, after, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("List() after reopening mismatch (-before +after):\n%s", d)
	}
}

// TestTwoStoresOneFile races updates through two stores on one file, as
// two replicas (or processes) sharing a database would.
func TestTwoStoresOneFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a, path := openTemp(t, Options{})
	b := openAt(t, path, Options{})
	if err := a.Create(ctx, owner, testTask("task-1", 0)); err != nil {
		t.Fatalf("Create() = %v, want nil", err)
	}
	const writers = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for i := range writers {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			_, err := s.Update(ctx, owner, testTask("task-1", i+1), 1)
			if err != nil && !errors.Is(err, taskstore.ErrConflict) {
				t.Errorf("Update() by writer %d = %v, want nil or ErrConflict", i, err)
			}
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of %d Update() calls from version 1 through two stores succeeded, want 1", wins, writers)
	}
}

func TestCorruptRows(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		version    int64
		wantErr    string
	}{
		{name: "not JSON", body: "\x00\xff garbage", version: 1, wantErr: "corrupt body"},
		{name: "truncated", body: `{"id":"task-1","contextId":"c","status":{"state":"TASK_S`, version: 1, wantErr: "corrupt body"},
		{name: "null", body: "null", version: 1, wantErr: `holds task ""`},
		{name: "other task", body: `{"id":"task-2","contextId":"c","status":{"state":"TASK_STATE_WORKING"}}`, version: 1, wantErr: `holds task "task-2"`},
		{name: "wrong types", body: `{"id":"task-1","history":[{"parts":[{"text":1}]}]}`, version: 1, wantErr: "corrupt body"},
		{name: "bad part", body: `{"id":"task-1","artifacts":[{"parts":[{}]}]}`, version: 1, wantErr: "corrupt body"},
		{name: "deep nesting", body: `{"id":"task-1","metadata":{"x":` + strings.Repeat("[", 20000) + `}}`, version: 1, wantErr: "corrupt body"},
		{name: "zero version", body: `{"id":"task-1","contextId":"c","status":{"state":"TASK_STATE_WORKING"}}`, version: 0, wantErr: "version 0"},
		{name: "over the size limit", body: `{"id":"task-1"` + strings.Repeat(" ", 70_000) + `}`, version: 1, wantErr: "over the 65536-byte limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s, _ := openTemp(t, Options{MaxTaskBytes: 1 << 16})
			if err := s.Create(ctx, owner, testTask("task-1", 0)); err != nil {
				t.Fatalf("Create() = %v, want nil", err)
			}
			if _, err := s.db.ExecContext(ctx, `UPDATE tasks SET body = ?, version = ? WHERE id = 'task-1'`, []byte(tt.body), tt.version); err != nil {
				t.Fatalf("corrupting the row: %v", err)
			}
			_, _, err := s.Get(ctx, owner, "task-1")
			if err == nil || !strings.Contains(err.Error(), "task-1") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Get() of a corrupt row = %v, want an error naming task-1 and containing %q", err, tt.wantErr)
			}
			if errors.Is(err, a2acore.ErrTaskNotFound) {
				t.Errorf("Get() of a corrupt row = %v, want an error other than ErrTaskNotFound", err)
			}
			_, err = s.List(ctx, owner, taskstore.ListQuery{PageSize: 10})
			if err == nil || !strings.Contains(err.Error(), "task-1") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("List() over a corrupt row = %v, want an error naming task-1 and containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestMaxTaskBytes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, path := openTemp(t, Options{})
	big := testTask("task-big", 0)
	big.Metadata = map[string]any{"blob": strings.Repeat("x", 10_000)}
	if err := s.Create(ctx, owner, big); err != nil {
		t.Fatalf("Create(10 kB task) = %v, want nil", err)
	}
	s.Close()

	small := openAt(t, path, Options{MaxTaskBytes: 1000})
	if err := small.Create(ctx, owner, func() *a2acore.Task { t := *big; t.ID = "task-big-2"; return &t }()); err == nil || !strings.Contains(err.Error(), "over the 1000-byte limit") {
		t.Errorf("Create(10 kB task) with a 1000-byte limit = %v, want an over-the-limit error", err)
	}
	if _, err := small.Update(ctx, owner, big, 1); err == nil || !strings.Contains(err.Error(), "over the 1000-byte limit") {
		t.Errorf("Update(10 kB task) with a 1000-byte limit = %v, want an over-the-limit error", err)
	}
	if _, _, err := small.Get(ctx, owner, big.ID); err == nil || !strings.Contains(err.Error(), "over the 1000-byte limit") {
		t.Errorf("Get(10 kB task) with a 1000-byte limit = %v, want an over-the-limit error", err)
	}
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := openTemp(t, Options{})
	for _, tc := range []struct {
		name  string
		owner spiffeid.ID
		task  *a2acore.Task
	}{
		{"nil task", owner, nil},
		{"no ID", owner, testTask("", 0)},
		{"no owner", spiffeid.ID{}, testTask("task-1", 0)},
	} {
		if err := s.Create(ctx, tc.owner, tc.task); err == nil {
			t.Errorf("Create(%s) = nil, want error", tc.name)
		}
		if _, err := s.Update(ctx, tc.owner, tc.task, 1); err == nil {
			t.Errorf("Update(%s) = nil, want error", tc.name)
		}
	}
	for _, size := range []int{0, -1, taskstore.MaxPageSize + 1} {
		if _, err := s.List(ctx, owner, taskstore.ListQuery{PageSize: size}); err == nil {
			t.Errorf("List(PageSize %d) = nil, want error", size)
		}
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	for _, path := range []string{"", ":memory:", "file:x.db", t.TempDir()} {
		if s, err := Open(ctx, path, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) = nil, want error", path)
		}
	}
	if _, err := Open(ctx, filepath.Join(t.TempDir(), "x.db"), Options{BusyTimeout: -1}); err == nil {
		t.Error("Open(BusyTimeout -1) = nil, want error")
	}

	// A path needing escaping in a URI.
	odd := filepath.Join(t.TempDir(), "a b?c#d%e.db")
	s := openAt(t, odd, Options{BusyTimeout: 250 * time.Millisecond})
	if err := s.Create(ctx, owner, testTask("task-1", 0)); err != nil {
		t.Fatalf("Create() in %q = %v, want nil", odd, err)
	}

	// Every pooled connection runs with the durability settings.
	var conns []func() error
	for range 3 {
		c, err := s.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c.Close)
		var mode string
		var syncMode, busy int
		if err := c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || syncMode != 2 || busy != 250 {
			t.Errorf("connection PRAGMAs journal_mode, synchronous, busy_timeout = %s, %d, %d; want wal, 2, 250", mode, syncMode, busy)
		}
	}
	for _, c := range conns {
		_ = c()
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close() = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, _, err := s.Get(ctx, owner, "task-1"); err == nil {
		t.Error("Get() after Close() = nil, want error")
	}
}

func TestOpenSchemaVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, path := openTemp(t, Options{})
	if _, err := s.db.ExecContext(ctx, "PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(ctx, path, Options{}); err == nil || !strings.Contains(err.Error(), "schema version is 2") {
		if err == nil {
			s.Close()
		}
		t.Errorf("Open(database at schema version 2) = %v, want a schema version error", err)
	}

	// A database this package did not create is left alone.
	foreign, path := openTemp(t, Options{})
	for _, stmt := range []string{"DROP TABLE tasks", "CREATE TABLE tasks (x)", "PRAGMA user_version = 0"} {
		if _, err := foreign.db.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	foreign.Close()
	if s, err := Open(ctx, path, Options{}); err == nil {
		s.Close()
		t.Error("Open(database with another tasks table) = nil, want error")
	}
}
