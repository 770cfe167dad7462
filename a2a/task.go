package a2a

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
)

// liveTask is a task that has not reached a terminal state: its latest
// snapshot, its subscribers and the cancel function of its running handler.
// Every change goes through apply, which builds a new snapshot (the old one
// is never modified, so readers may hold it without locks), stores it, and
// hands the event to every subscriber in order.
type liveTask struct {
	engine *Engine
	owner  spiffeid.ID
	cap    string

	mu      sync.Mutex
	snap    *a2acore.Task
	version int64 // of snap in the store
	subs    map[*subscriber]struct{}
	cancel  context.CancelFunc // of the running handler, nil when idle
	running bool
	pushing bool // a push delivery goroutine follows the task
	closed  bool

	// Deferred creation (capabilities with Replies): until the handler's
	// first output the task is not stored; first closes when it is, or when
	// the handler answered with a message (reply) instead.
	created bool
	first   chan struct{}
	initial *a2acore.Task // the snapshot the task was created with
	reply   *a2acore.Message
	lost    error // a deferred task could not be stored: the call fails
}

// createLocked stores the task if it is not stored yet.
func (t *liveTask) createLocked(ctx context.Context) error {
	if t.created {
		return nil
	}
	if err := t.engine.store.Create(context.WithoutCancel(ctx), t.owner, t.snap); err != nil {
		return fmt.Errorf("a2a: store task: %w", err)
	}
	t.created, t.version, t.initial = true, 1, t.snap
	t.engine.register(t)
	close(t.first)
	return nil
}

// ensureCreated stores the task now (returnImmediately, push configs).
func (t *liveTask) ensureCreated(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.createLocked(ctx)
}

// answer ends a not-yet-created task with a message instead of a task.
func (t *liveTask) answer(msg *a2acore.Message) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.created || t.closed {
		return errors.New("a2a: Reply must be the handler's first and only output (the task already exists)")
	}
	t.reply, t.closed = msg, true
	close(t.first)
	t.closeSubsLocked()
	return nil
}

// head is what a stream starts with: the task as created, or the reply.
func (t *liveTask) head(ctx context.Context) (a2acore.Event, error) {
	select {
	case <-t.first:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.lost != nil:
		return nil, t.lost
	case t.reply != nil:
		return t.reply, nil
	}
	return t.initial, nil
}

// snapshot returns the current snapshot.
func (t *liveTask) snapshot() *a2acore.Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.snap
}

// apply records ev: a new snapshot, saved, then published. Events after a
// terminal state are refused with ErrTaskClosed. The store write is not
// cut short by ctx's cancellation (a state change is recorded whole).
func (t *liveTask) apply(ctx context.Context, ev a2acore.Event) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return ErrTaskClosed
	}
	ctx = context.WithoutCancel(ctx)
	if err := t.createLocked(ctx); err != nil {
		// Nothing was stored: end the call with the error rather than
		// leave its client waiting for a task that will never exist.
		t.lost, t.closed = err, true
		close(t.first)
		t.closeSubsLocked()
		return err
	}
	next := nextSnapshot(t.snap, ev)
	v, err := t.engine.store.Update(ctx, t.owner, next, t.version)
	if errors.Is(err, taskstore.ErrConflict) {
		// Another replica changed the task (canceled it, say): continue
		// from its version, or stop if it has ended.
		cur, curV, gerr := t.engine.store.Get(ctx, t.owner, t.snap.ID)
		if gerr != nil {
			return gerr
		}
		t.snap, t.version = cur, curV
		if cur.Status.State.Terminal() {
			t.endedElsewhereLocked()
			return ErrTaskClosed
		}
		next = nextSnapshot(cur, ev)
		v, err = t.engine.store.Update(ctx, t.owner, next, curV)
	}
	if err != nil {
		return err
	}
	t.snap, t.version = next, v
	for s := range t.subs {
		s.push(ev)
	}
	if next.Status.State.Terminal() {
		t.closeLocked()
	}
	return nil
}

// closeLocked ends the task's life: subscribers are told, the handler's
// context is canceled, and the engine forgets the task.
func (t *liveTask) closeLocked() {
	t.closed = true
	t.closeSubsLocked()
	if t.cancel != nil {
		t.cancel()
	}
	t.engine.forget(t.snap.ID)
}

// closeSubsLocked tells every subscriber that nothing more will come.
func (t *liveTask) closeSubsLocked() {
	for s := range t.subs {
		s.close()
	}
	t.subs = nil
}

// endedElsewhereLocked ends a task another replica finished (t.snap is the
// stored, terminal snapshot): subscribers get its final status, then close.
func (t *liveTask) endedElsewhereLocked() {
	final := &a2acore.TaskStatusUpdateEvent{TaskID: t.snap.ID, ContextID: t.snap.ContextID, Status: t.snap.Status}
	for s := range t.subs {
		s.push(final)
	}
	t.closeLocked()
}

// adopt reconciles the live task with a stored snapshot at version v: if
// another replica ended the task, this one ends too (its subscribers see the
// final state, its handler is canceled). It returns the newer snapshot.
func (t *liveTask) adopt(stored *a2acore.Task, v int64) *a2acore.Task {
	t.mu.Lock()
	defer t.mu.Unlock()
	if v <= t.version || t.closed {
		return t.snap
	}
	t.snap, t.version = stored, v
	if stored.Status.State.Terminal() {
		t.endedElsewhereLocked()
	}
	return t.snap
}

// subscribe registers a subscriber that receives every event from now on;
// the second result is the snapshot it starts from.
func (t *liveTask) subscribe() (*subscriber, *a2acore.Task) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := newSubscriber()
	if t.closed {
		s.close()
		return s, t.snap
	}
	t.subs[s] = struct{}{}
	return s, t.snap
}

func (t *liveTask) unsubscribe(s *subscriber) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.subs, s)
}

// nextSnapshot returns a new task that is prev with ev applied. It copies
// only what changes: the Task struct and the slice or artifact it touches.
func nextSnapshot(prev *a2acore.Task, ev a2acore.Event) *a2acore.Task {
	next := *prev
	switch e := ev.(type) {
	case *a2acore.TaskStatusUpdateEvent:
		next.Status = e.Status
		if e.Status.Message != nil {
			next.History = append(slices.Clip(prev.History), e.Status.Message)
		}
	case *a2acore.TaskArtifactUpdateEvent:
		next.Artifacts = mergeArtifact(prev.Artifacts, e)
	case *a2acore.Message:
		next.History = append(slices.Clip(prev.History), e)
	}
	if next.Status.Timestamp == nil {
		now := time.Now().UTC()
		next.Status.Timestamp = &now
	}
	return &next
}

// mergeArtifact returns artifacts with e applied: appended parts for an
// existing artifact when e.Append, otherwise added or replaced.
func mergeArtifact(arts []*a2acore.Artifact, e *a2acore.TaskArtifactUpdateEvent) []*a2acore.Artifact {
	i := slices.IndexFunc(arts, func(a *a2acore.Artifact) bool { return a.ID == e.Artifact.ID })
	if i < 0 {
		return append(slices.Clip(arts), e.Artifact)
	}
	out := slices.Clone(arts)
	if e.Append {
		merged := *arts[i]
		merged.Parts = append(slices.Clip(arts[i].Parts), e.Artifact.Parts...)
		out[i] = &merged
	} else {
		out[i] = e.Artifact
	}
	return out
}

// subscriber is an unbounded, ordered event queue for one stream: the task
// never waits for a slow reader, and a reader never misses an event.
type subscriber struct {
	mu     sync.Mutex
	queue  []a2acore.Event
	closed bool
	signal chan struct{}
}

func newSubscriber() *subscriber { return &subscriber{signal: make(chan struct{}, 1)} }

func (s *subscriber) push(ev a2acore.Event) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	s.mu.Unlock()
	s.wake()
}

func (s *subscriber) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wake()
}

func (s *subscriber) wake() {
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// next waits for queued events; done reports that the task ended and
// nothing more will come.
func (s *subscriber) next(ctx context.Context) (events []a2acore.Event, done bool, err error) {
	for {
		s.mu.Lock()
		events, s.queue = s.queue, nil
		closed := s.closed
		s.mu.Unlock()
		if len(events) > 0 || closed {
			return events, closed, nil
		}
		select {
		case <-s.signal:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}
