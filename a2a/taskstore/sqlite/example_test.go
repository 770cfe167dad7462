package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/a2a/taskstore/sqlite"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "sqlite")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "tasks.db"), sqlite.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	alice := spiffeid.RequireFromString("spiffe://example.org/agent/alice")
	now := time.Now().UTC()
	task := &a2acore.Task{
		ID: "task-1", ContextID: "ctx-1",
		Status: a2acore.TaskStatus{State: a2acore.TaskStateSubmitted, Timestamp: &now},
	}
	if err := store.Create(ctx, alice, task); err != nil { // on disk once it returns
		fmt.Println(err)
		return
	}

	// Two writers read version 1; only the first update wins.
	working := *task
	working.Status.State = a2acore.TaskStateWorking
	v, err := store.Update(ctx, alice, &working, 1)
	fmt.Println(v, err)
	_, err = store.Update(ctx, alice, &working, 1)
	fmt.Println(errors.Is(err, taskstore.ErrConflict))

	// Another SPIFFE ID does not see the task.
	bob := spiffeid.RequireFromString("spiffe://example.org/agent/bob")
	_, _, err = store.Get(ctx, bob, "task-1")
	fmt.Println(errors.Is(err, a2acore.ErrTaskNotFound))

	page, err := store.List(ctx, alice, taskstore.ListQuery{PageSize: 10})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(page.Total, page.Tasks[0].Status.State)
	// Output:
	// 2 <nil>
	// true
	// true
	// 1 TASK_STATE_WORKING
}
