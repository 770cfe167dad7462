package postgres_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/jackc/pgx/v5"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/a2a/taskstore/postgres"
	"github.com/agentweave/agentweave-go/a2a/taskstore/storetest"
	"github.com/agentweave/agentweave-go/internal/harness"
)

var owner = spiffeid.RequireFromString("spiffe://example.org/agent/alice")

// testTask returns a small working task in context ctx-1 at base+i ms.
func testTask(id a2acore.TaskID, i int) *a2acore.Task {
	ts := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Millisecond)
	return &a2acore.Task{
		ID: id, ContextID: "ctx-1",
		Status:  a2acore.TaskStatus{State: a2acore.TaskStateWorking, Timestamp: &ts},
		History: []*a2acore.Message{a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewTextPart("task "+string(id)))},
	}
}

// exec runs SQL on dsn outside any store.
func exec(t *testing.T, dsn, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatalf("pgx.Connect() = %v, want nil", err)
	}
	defer conn.Close(t.Context())
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	storetest.Run(t, func(t *testing.T) taskstore.Store { return open(t, newSchema(t, pg)) })
}

func TestStore(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)

	t.Run("Reopen", func(t *testing.T) {
		t.Parallel()
		ctx, dsn := t.Context(), newSchema(t, pg)
		s := open(t, dsn)
		for i := range 5 {
			id := a2acore.TaskID(fmt.Sprintf("task-%d", i))
			if err := s.Create(ctx, owner, testTask(id, i)); err != nil {
				t.Fatalf("Create(%s) = %v, want nil", id, err)
			}
		}
		if _, err := s.Update(ctx, owner, testTask("task-0", 10), 1); err != nil {
			t.Fatalf("Update(task-0) = %v, want nil", err)
		}
		before, err := s.List(ctx, owner, taskstore.ListQuery{PageSize: 10})
		if err != nil {
			t.Fatalf("List() = %v, want nil", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close() = %v, want nil", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close() = %v, want nil", err)
		}
		if _, _, err := s.Get(ctx, owner, "task-0"); err == nil || !strings.HasPrefix(err.Error(), "postgres: ") {
			t.Errorf("Get() after Close = %v, want a postgres error", err)
		}

		s = open(t, dsn)
		if _, v, err := s.Get(ctx, owner, "task-0"); err != nil || v != 2 {
			t.Errorf("Get(task-0) after reopening = version %d, %v; want 2, nil", v, err)
		}
		after, err := s.List(ctx, owner, taskstore.ListQuery{PageSize: 10})
		if err != nil {
			t.Fatalf("List() after reopening = %v, want nil", err)
		}
		if d := cmp.Diff(before, after, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("List() after reopening mismatch (-before +after):\n%s", d)
		}
	})

	t.Run("ConcurrentOpen", func(t *testing.T) {
		t.Parallel()
		dsn := newSchema(t, pg)
		const n = 4
		errs := make(chan error, n)
		for range n {
			go func() {
				s, err := postgres.Open(t.Context(), dsn, postgres.Options{})
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		for range n {
			if err := <-errs; err != nil {
				t.Errorf("Open() of a new schema by %d replicas at once = %v, want nil", n, err)
			}
		}
	})

	t.Run("NewerSchema", func(t *testing.T) {
		t.Parallel()
		dsn := newSchema(t, pg)
		open(t, dsn).Close()
		exec(t, dsn, "UPDATE schema_version SET version = 2")
		_, err := postgres.Open(t.Context(), dsn, postgres.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "postgres: ") || !strings.Contains(err.Error(), "schema version is 2") {
			t.Errorf("Open() of a version 2 schema = %v, want a postgres error naming the version", err)
		}
	})

	t.Run("BadDSN", func(t *testing.T) {
		t.Parallel()
		_, err := postgres.Open(t.Context(), "postgres://aw:s3cret@127.0.0.1:bad/aw", postgres.Options{})
		if err == nil || !strings.HasPrefix(err.Error(), "postgres: ") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(bad DSN) = %v, want a postgres error without the password", err)
		}
	})

	t.Run("CorruptRow", func(t *testing.T) {
		t.Parallel()
		ctx, dsn := t.Context(), newSchema(t, pg)
		s := open(t, dsn)
		for _, id := range []a2acore.TaskID{"task-good", "task-other", "task-junk"} {
			if err := s.Create(ctx, owner, testTask(id, 0)); err != nil {
				t.Fatalf("Create(%s) = %v, want nil", id, err)
			}
		}
		exec(t, dsn, `UPDATE tasks SET body = jsonb_set(body, '{id}', '"task-good"') WHERE id = 'task-other'`)
		exec(t, dsn, `UPDATE tasks SET body = '{"status": 42}' WHERE id = 'task-junk'`)
		for _, id := range []a2acore.TaskID{"task-other", "task-junk"} {
			_, _, err := s.Get(ctx, owner, id)
			if err == nil || !strings.HasPrefix(err.Error(), "postgres: ") || !strings.Contains(err.Error(), string(id)) {
				t.Errorf("Get(%s) of a corrupt row = %v, want a postgres error naming the task", id, err)
			}
		}
		_, err := s.List(ctx, owner, taskstore.ListQuery{PageSize: 10})
		if err == nil || !strings.Contains(err.Error(), "task task-") {
			t.Errorf("List() over corrupt rows = %v, want an error naming a task", err)
		}
		if _, _, err := s.Get(ctx, owner, "task-good"); err != nil {
			t.Errorf("Get(task-good) = %v, want nil", err)
		}
	})

	t.Run("Limits", func(t *testing.T) {
		t.Parallel()
		ctx, dsn := t.Context(), newSchema(t, pg)
		s, err := postgres.Open(ctx, dsn, postgres.Options{MaxTaskBytes: 1000})
		if err != nil {
			t.Fatalf("Open() = %v, want nil", err)
		}
		t.Cleanup(func() { s.Close() })
		nul := testTask("task-nul", 0)
		nul.History[0].Parts[0] = a2acore.NewTextPart("a\x00b")
		if err := s.Create(ctx, owner, nul); err == nil || !strings.Contains(err.Error(), "NUL") {
			t.Errorf("Create(task with NUL) = %v, want an error about NUL", err)
		}
		big := testTask("task-big", 0)
		big.History[0].Parts[0] = a2acore.NewTextPart(strings.Repeat("x", 1000))
		if err := s.Create(ctx, owner, big); err == nil || !strings.Contains(err.Error(), "limit") {
			t.Errorf("Create(task over MaxTaskBytes) = %v, want an error about the limit", err)
		}
		if _, err := postgres.Open(ctx, dsn, postgres.Options{MaxTaskBytes: -1}); err == nil {
			t.Errorf("Open(MaxTaskBytes: -1) = nil error, want one")
		}
	})

	// Replicas race to update one task from the same version, each through
	// its own store (pool): exactly one wins, the rest get ErrConflict.
	t.Run("TwoStoresCompareAndSwap", func(t *testing.T) {
		t.Parallel()
		ctx, dsn := t.Context(), newSchema(t, pg)
		stores := []*postgres.Store{open(t, dsn), open(t, dsn)}
		if err := stores[0].Create(ctx, owner, testTask("task-1", 0)); err != nil {
			t.Fatalf("Create() = %v, want nil", err)
		}
		const writers = 8
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			wins int
		)
		for i := range writers {
			wg.Go(func() {
				_, err := stores[i%2].Update(ctx, owner, testTask("task-1", i+1), 1)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, taskstore.ErrConflict):
					t.Errorf("Update() = %v, want nil or ErrConflict", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Errorf("%d of %d concurrent updates from version 1 won, want 1", wins, writers)
		}
		if _, v, err := stores[1].Get(ctx, owner, "task-1"); err != nil || v != 2 {
			t.Errorf("Get() = version %d, %v; want 2, nil", v, err)
		}
	})
}
