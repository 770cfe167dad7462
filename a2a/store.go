package a2a

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
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

// Cursor marks a position in the list order (status timestamp descending,
// then ID descending).
type Cursor struct {
	Updated time.Time
	ID      a2acore.TaskID
}

// IsZero reports whether c is the start of the list.
func (c Cursor) IsZero() bool { return c.ID == "" }

// cursorJSON is the page token's content before base64url.
type cursorJSON struct {
	T  int64  `json:"t"`
	ID string `json:"id"`
}

// Token encodes the cursor as an opaque page token; the zero cursor is "".
func (c Cursor) Token() string {
	if c.IsZero() {
		return ""
	}
	b, _ := json.Marshal(cursorJSON{T: c.Updated.UnixNano(), ID: string(c.ID)})
	return base64.RawURLEncoding.EncodeToString(b)
}

// maxTokenLen bounds page tokens: a cursor never needs more.
const maxTokenLen = 512

// ParseCursor decodes a page token made by [Cursor.Token].
func ParseCursor(token string) (Cursor, error) {
	if token == "" {
		return Cursor{}, nil
	}
	if len(token) > maxTokenLen {
		return Cursor{}, fmt.Errorf("page token is %d bytes, longer than any token this agent issues", len(token))
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return Cursor{}, errors.New("page token is not one this agent issued (bad encoding)")
	}
	var c cursorJSON
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" {
		return Cursor{}, errors.New("page token is not one this agent issued")
	}
	return Cursor{Updated: time.Unix(0, c.T).UTC(), ID: a2acore.TaskID(c.ID)}, nil
}

// before reports whether a task at (t, id) comes after cursor c in list
// order, i.e. belongs to the page that starts after c.
func (c Cursor) before(t time.Time, id a2acore.TaskID) bool {
	if c.IsZero() {
		return true
	}
	if !t.Equal(c.Updated) {
		return t.Before(c.Updated)
	}
	return id < c.ID
}

// updatedAt is a task's position in list order.
func updatedAt(t *a2acore.Task) time.Time {
	if t.Status.Timestamp != nil {
		return *t.Status.Timestamp
	}
	return time.Time{}
}

// DefaultMemoryLimit is how many tasks a [MemoryStore] keeps by default.
const DefaultMemoryLimit = 10_000

// MemoryStore is a [Store] in process memory: fast, lost on restart. When
// it holds more than its limit, the tasks that finished longest ago are
// dropped (in constant time: finished tasks queue in the order they
// finished). It is safe for concurrent use.
type MemoryStore struct {
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
	blob, err := appendTask(buf.AvailableBuffer(), t)
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

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns a store that keeps at most limit tasks
// (default [DefaultMemoryLimit] when limit <= 0).
func NewMemoryStore(limit int) *MemoryStore {
	if limit <= 0 {
		limit = DefaultMemoryLimit
	}
	return &MemoryStore{limit: limit, tasks: map[a2acore.TaskID]memTask{}}
}

// Create implements [Store].
func (s *MemoryStore) Create(_ context.Context, owner spiffeid.ID, t *a2acore.Task) error {
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
func (s *MemoryStore) track(id a2acore.TaskID, mt memTask) memTask {
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
func (s *MemoryStore) evictLocked() {
	if e := s.finished.Front(); e != nil {
		s.finished.Remove(e)
		delete(s.tasks, e.Value.(a2acore.TaskID)) //nolint:forcetypeassert // only TaskIDs are queued
	}
}

// Update implements [Store].
func (s *MemoryStore) Update(_ context.Context, owner spiffeid.ID, t *a2acore.Task, version int64) (int64, error) {
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
func (s *MemoryStore) Get(_ context.Context, owner spiffeid.ID, id a2acore.TaskID) (*a2acore.Task, int64, error) {
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
func (s *MemoryStore) List(_ context.Context, owner spiffeid.ID, q ListQuery) (ListPage, error) {
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
