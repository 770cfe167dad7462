package taskstore

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/internal/wire"
)

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// DefaultMemoryLimit is how many tasks a [Memory] keeps by default.
const DefaultMemoryLimit = 10_000

// Memory is a [Store] in process memory: fast, lost on restart. When
// it holds more than its limit, the tasks that finished longest ago are
// dropped (in constant time: finished tasks queue in the order they
// finished). It is safe for concurrent use.
type Memory struct {
	limit int

	mu       sync.RWMutex
	tasks    map[a2acore.TaskID]memTask
	finished list.List // of a2acore.TaskID, oldest first: the eviction order
}

type memTask struct {
	owner   spiffeid.ID
	task    *a2acore.Task // nil for a finished task kept encoded
	version int64
	done    *list.Element // in finished, once the task is terminal

	// A finished task no longer changes: it is kept as its JSON (what
	// GetTask would answer) and the few fields List filters and sorts on.
	// The garbage collector marks one byte slice instead of the task's
	// graph of messages, parts and maps: with thousands of tasks kept, its
	// mark phases were long enough to show in the agent's p99 latency
	// (docs/BENCHMARKS.md).
	blob      []byte
	contextID string
	state     a2acore.TaskState
	updated   time.Time
}

// kept returns mt with a finished task encoded (when it encodes; a task
// that does not, such as one holding a NaN, stays as it is).
func kept(mt memTask) memTask {
	t := mt.task
	if t == nil || !t.Status.State.Terminal() {
		return mt
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer bufPool.Put(buf)
	blob, err := wire.AppendTask(buf.AvailableBuffer(), t)
	if err != nil {
		return mt
	}
	mt.blob, mt.task = bytes.Clone(blob), nil // exactly its size: it is kept
	mt.contextID, mt.state, mt.updated = t.ContextID, t.Status.State, updatedAt(t)
	return mt
}

// get returns the task, decoding a kept one (a fresh copy each time).
func (mt memTask) get() (*a2acore.Task, error) {
	if mt.task != nil {
		return mt.task, nil
	}
	t := new(a2acore.Task)
	if err := json.Unmarshal(mt.blob, t); err != nil {
		return nil, fmt.Errorf("a2a: decoding a stored task: %w", err)
	}
	return t, nil
}

// head returns what List filters and sorts on, without decoding.
func (mt memTask) head() (contextID string, state a2acore.TaskState, updated time.Time) {
	if t := mt.task; t != nil {
		return t.ContextID, t.Status.State, updatedAt(t)
	}
	return mt.contextID, mt.state, mt.updated
}

var _ Store = (*Memory)(nil)

// NewMemory returns a store that keeps at most limit tasks
// (default [DefaultMemoryLimit] when limit <= 0).
func NewMemory(limit int) *Memory {
	if limit <= 0 {
		limit = DefaultMemoryLimit
	}
	return &Memory{limit: limit, tasks: map[a2acore.TaskID]memTask{}}
}

// Create implements [Store].
func (s *Memory) Create(_ context.Context, owner spiffeid.ID, t *a2acore.Task) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tasks[t.ID]; ok {
		return fmt.Errorf("a2a: task %s already exists", t.ID)
	}
	if len(s.tasks) >= s.limit {
		s.evictLocked()
	}
	s.tasks[t.ID] = s.track(t.ID, kept(memTask{owner: owner, task: t, version: 1}))
	return nil
}

// track queues a task that is (now) finished for eviction, at the back:
// it is the most recently finished.
func (s *Memory) track(id a2acore.TaskID, mt memTask) memTask {
	_, state, _ := mt.head()
	switch {
	case !state.Terminal():
	case mt.done == nil:
		mt.done = s.finished.PushBack(id)
	default:
		s.finished.MoveToBack(mt.done)
	}
	return mt
}

// evictLocked drops the task that finished longest ago; if every task is
// still running, nothing is dropped (the limit is soft then).
func (s *Memory) evictLocked() {
	if e := s.finished.Front(); e != nil {
		s.finished.Remove(e)
		delete(s.tasks, e.Value.(a2acore.TaskID)) //nolint:forcetypeassert // only TaskIDs are queued
	}
}

// Update implements [Store].
func (s *Memory) Update(_ context.Context, owner spiffeid.ID, t *a2acore.Task, version int64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mt, ok := s.tasks[t.ID]
	if !ok || mt.owner != owner {
		return 0, fmt.Errorf("%w: %s", a2acore.ErrTaskNotFound, t.ID)
	}
	if mt.version != version {
		return 0, fmt.Errorf("%w: task %s is at version %d, not %d", ErrConflict, t.ID, mt.version, version)
	}
	s.tasks[t.ID] = s.track(t.ID, kept(memTask{owner: owner, task: t, version: version + 1, done: mt.done}))
	return version + 1, nil
}

// Get implements [Store].
func (s *Memory) Get(_ context.Context, owner spiffeid.ID, id a2acore.TaskID) (*a2acore.Task, int64, error) {
	s.mu.RLock()
	mt, ok := s.tasks[id]
	s.mu.RUnlock()
	if !ok || mt.owner != owner {
		return nil, 0, fmt.Errorf("%w: %s", a2acore.ErrTaskNotFound, id)
	}
	t, err := mt.get()
	if err != nil {
		return nil, 0, err
	}
	return t, mt.version, nil
}

// List implements [Store].
func (s *Memory) List(_ context.Context, owner spiffeid.ID, q ListQuery) (ListPage, error) {
	if q.PageSize < 1 || q.PageSize > 100 {
		return ListPage{}, fmt.Errorf("a2a: page size %d is not between 1 and 100", q.PageSize)
	}
	type match struct {
		id      a2acore.TaskID
		updated time.Time
		mt      memTask
	}
	s.mu.RLock()
	var matches []match
	for id, mt := range s.tasks {
		contextID, state, updated := mt.head()
		if mt.owner != owner ||
			(q.ContextID != "" && contextID != q.ContextID) ||
			(q.State != a2acore.TaskStateUnspecified && state != q.State) ||
			(!q.UpdatedAfter.IsZero() && !updated.After(q.UpdatedAfter)) {
			continue
		}
		matches = append(matches, match{id, updated, mt})
	}
	s.mu.RUnlock()
	slices.SortFunc(matches, func(a, b match) int {
		if c := b.updated.Compare(a.updated); c != 0 {
			return c
		}
		return cmp.Compare(b.id, a.id)
	})
	page := ListPage{Total: len(matches)}
	var last match
	for _, m := range matches {
		if !q.After.before(m.updated, m.id) {
			continue
		}
		if len(page.Tasks) == q.PageSize {
			page.Next = Cursor{Updated: last.updated, ID: last.id}
			break
		}
		t, err := m.mt.get()
		if err != nil {
			return ListPage{}, err
		}
		page.Tasks = append(page.Tasks, t)
		last = m
	}
	return page, nil
}
