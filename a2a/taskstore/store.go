package taskstore

import (
	"context"
	"errors"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Store keeps task snapshots, each owned by the SPIFFE ID that created it.
//
// Snapshots are immutable: the engine never changes a task it has stored,
// it stores a new one; implementations may keep the pointers they are given
// and callers must not modify the tasks they get. Lookups by another owner
// behave exactly like lookups of a task that does not exist.
//
// Every task has a version, 1 when created and one more at each update.
// Update is a compare-and-swap on it, so replicas sharing a store never
// overwrite each other's changes (a task canceled through one replica stays
// canceled). Implementations must be safe for concurrent use.
type Store interface {
	// Create stores a new task at version 1. It fails if the ID is taken.
	Create(ctx context.Context, owner spiffeid.ID, t *a2acore.Task) error
	// Update stores t as the next version of owner's task if the stored
	// version is still version, and returns the new version. Otherwise it
	// returns an error wrapping ErrConflict (or a2a.ErrTaskNotFound).
	Update(ctx context.Context, owner spiffeid.ID, t *a2acore.Task, version int64) (int64, error)
	// Get returns owner's task and its version, or an error wrapping
	// a2a.ErrTaskNotFound.
	Get(ctx context.Context, owner spiffeid.ID, id a2acore.TaskID) (*a2acore.Task, int64, error)
	// List returns one page of owner's tasks, most recently updated first.
	List(ctx context.Context, owner spiffeid.ID, q ListQuery) (ListPage, error)
}

// ErrConflict is returned by [Store.Update] when the task changed since the
// version the caller read.
var ErrConflict = errors.New("a2a: task changed concurrently")

// Page sizes for listing tasks (A2A ListTasks).
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

// ListQuery selects tasks for [Store.List]. Zero fields do not filter.
type ListQuery struct {
	ContextID    string
	State        a2acore.TaskState
	UpdatedAfter time.Time
	PageSize     int    // 1..100
	After        Cursor // zero: first page
}

// ListPage is one page of tasks.
type ListPage struct {
	Tasks []*a2acore.Task
	Total int    // matching tasks, all pages
	Next  Cursor // zero on the last page
}
