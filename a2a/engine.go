package a2a

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/observe"
)

// EngineOptions configures an [Engine].
type EngineOptions struct {
	// Capabilities the agent offers. At least one.
	Capabilities []Capability
	// Default names the capability that runs messages which name none (for
	// plain A2A clients that know nothing of AgentWeave). Default: none, so
	// such messages are refused with the list of capabilities.
	Default string
	// Store keeps tasks. Default: NewMemoryStore(0).
	Store Store
	// Logger receives handler failures. Default: slog.Default().
	Logger *slog.Logger
	// Push, when set, turns on push notifications. Default: off (the push
	// operations answer PushNotificationNotSupportedError).
	Push *PushOptions
	// Enforcer authorizes every operation before any handler or store is
	// touched, and audits the decision (required: for development use an
	// Enforcer with authz.AllowAll()).
	Enforcer *authz.Enforcer
	// Self is the agent's own SPIFFE ID, the callee in policy input
	// (required).
	Self spiffeid.ID
	// Observe, when set, is told about every operation the handler from
	// [NewHandler] serves (for metrics).
	Observe ObserveFunc
}

// Engine is AgentWeave's A2A task engine: it implements a2asrv.RequestHandler
// behind a2a-go's protocol bindings. It routes messages to capabilities,
// runs each task's handler in its own goroutine, fans events out to streams
// and subscribers in order, and enforces that a task is visible only to the
// SPIFFE ID that created it. It is safe for concurrent use.
type Engine struct {
	caps    map[string]Capability
	names   []string
	def     string
	store   Store
	log     *slog.Logger
	push    *pusher // nil: push notifications off
	authz   *authz.Enforcer
	self    spiffeid.ID
	observe ObserveFunc

	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu       sync.Mutex
	live     map[a2acore.TaskID]*liveTask
	stopping bool // Shutdown or Close began: no new goroutines (guards wg.Add against wg.Wait)
}

var _ a2asrv.RequestHandler = (*Engine)(nil)

// NewEngine validates the capabilities and returns an engine.
func NewEngine(opts EngineOptions) (*Engine, error) {
	if len(opts.Capabilities) == 0 {
		return nil, errors.New("a2a: an agent needs at least one capability")
	}
	if opts.Enforcer == nil || opts.Enforcer.Authorizer == nil {
		return nil, errors.New("a2a: an agent needs an authorization Enforcer (authz.AllowAll() in development)")
	}
	if opts.Self.IsZero() {
		return nil, errors.New("a2a: EngineOptions.Self (the agent's SPIFFE ID) is required")
	}
	e := &Engine{caps: map[string]Capability{}, def: opts.Default, store: opts.Store, log: opts.Logger, live: map[a2acore.TaskID]*liveTask{}, authz: opts.Enforcer, self: opts.Self, observe: opts.Observe}
	var errs []error
	for _, c := range opts.Capabilities {
		if err := c.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := e.caps[c.Name]; dup {
			errs = append(errs, fmt.Errorf("capability %q registered twice", c.Name))
			continue
		}
		e.caps[c.Name] = c
		e.names = append(e.names, c.Name)
	}
	if e.def != "" {
		if _, ok := e.caps[e.def]; !ok {
			errs = append(errs, fmt.Errorf("default capability %q is not registered", e.def))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("a2a: %w", err)
	}
	sort.Strings(e.names)
	if e.store == nil {
		e.store = NewMemoryStore(0)
	}
	if e.log == nil {
		e.log = slog.Default()
	}
	if opts.Push != nil {
		p, err := newPusher(opts.Push, e.log)
		if err != nil {
			return nil, err
		}
		e.push = p
	}
	e.base, e.stop = context.WithCancel(context.Background())
	return e, nil
}

// Capabilities returns the registered capabilities, sorted by name.
func (e *Engine) Capabilities() []Capability {
	out := make([]Capability, 0, len(e.names))
	for _, n := range e.names {
		out = append(out, e.caps[n])
	}
	return out
}

// Shutdown waits until running handlers finish or ctx ends; then it cancels
// the rest (their tasks fail with "agent shut down") and waits for them.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.beginStop()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		e.stop()
		return nil
	case <-ctx.Done():
		e.stop()
		<-done
		return ctx.Err()
	}
}

// Close cancels running handlers and waits for them.
func (e *Engine) Close() error {
	e.beginStop()
	e.stop()
	e.wg.Wait()
	return nil
}

// beginStop refuses new task goroutines, so that waiting for the running
// ones cannot race with starting another.
func (e *Engine) beginStop() {
	e.mu.Lock()
	e.stopping = true
	e.mu.Unlock()
}

// goTracked runs f in a goroutine the engine waits for on shutdown, unless
// the engine is stopping; it reports whether f runs.
func (e *Engine) goTracked(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopping {
		return false
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		f()
	}()
	return true
}

// register makes a created task findable by its ID.
func (e *Engine) register(t *liveTask) {
	e.mu.Lock()
	e.live[t.snap.ID] = t
	e.mu.Unlock()
}

func (e *Engine) forget(id a2acore.TaskID) {
	e.mu.Lock()
	delete(e.live, id)
	e.mu.Unlock()
}

// lookup returns the live task id of owner, or nil.
func (e *Engine) lookup(owner spiffeid.ID, id a2acore.TaskID) *liveTask {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := e.live[id]; ok && t.owner == owner {
		return t
	}
	return nil
}

// callerID is the verified SPIFFE ID of the client. Without one nothing is
// served: the transport always sets it, so its absence is a wiring error.
func callerID(ctx context.Context) (spiffeid.ID, error) {
	id, ok := identity.PeerIDFromContext(ctx)
	if !ok {
		return spiffeid.ID{}, a2acore.NewError(a2acore.ErrUnauthenticated, "no verified client identity on this connection")
	}
	return id, nil
}

// admit authorizes an operation of the caller before anything else
// happens: a denial, a failed decision or an unwritable audit record in
// production answers Unauthorized (permission denied) with the reason.
// Operations on existing tasks name no capability (action "").
func (e *Engine) admit(ctx context.Context, op string, taskID a2acore.TaskID) (spiffeid.ID, error) {
	_, caller, err := e.admitted(ctx, op, "", taskID)
	return caller, err
}

// admitted is admit returning the context the call continues in: it
// carries the decision's audit ID (observe.AuditIDFrom) for the handler's
// logs.
func (e *Engine) admitted(ctx context.Context, op, action string, taskID a2acore.TaskID) (context.Context, spiffeid.ID, error) {
	caller, err := callerID(ctx)
	if err != nil {
		return ctx, spiffeid.ID{}, err
	}
	in := &authz.Input{
		Direction: authz.Inbound, Operation: op, Action: action, TaskID: string(taskID),
		CallerSPIFFEID: caller.String(), CallerTrustDomain: caller.TrustDomain().Name(),
		CalleeSPIFFEID: e.self.String(), CalleeTrustDomain: e.self.TrustDomain().Name(),
	}
	d, err := e.authz.Check(ctx, in)
	if err != nil {
		return ctx, spiffeid.ID{}, denial(err, d)
	}
	if d.AuditID != "" {
		ctx = observe.WithAuditID(ctx, d.AuditID)
	}
	return ctx, caller, nil
}

func invalidParams(format string, args ...any) error {
	return a2acore.NewError(a2acore.ErrInvalidParams, fmt.Sprintf(format, args...))
}

func taskNotFound(id a2acore.TaskID) error {
	return a2acore.NewError(a2acore.ErrTaskNotFound, fmt.Sprintf("task %q not found", id))
}

// route picks the capability a message calls.
func (e *Engine) route(req *a2acore.SendMessageRequest) (Capability, error) {
	name, err := capabilityFrom(req.Message.Metadata)
	if err == nil && name == "" {
		name, err = capabilityFrom(req.Metadata)
	}
	if err != nil {
		return Capability{}, err
	}
	if name == "" {
		if e.def != "" {
			return e.caps[e.def], nil
		}
		return Capability{}, a2acore.NewError(a2acore.ErrInvalidParams,
			fmt.Sprintf("the message names no capability: set message metadata %q to one of: %s", ExtensionURI, strings.Join(e.names, ", "))).
			WithDetails(map[string]any{"capabilities": e.names})
	}
	c, ok := e.caps[name]
	if !ok {
		return Capability{}, a2acore.NewError(a2acore.ErrInvalidParams,
			fmt.Sprintf("unknown capability %q: this agent offers %s", name, strings.Join(e.names, ", "))).
			WithDetails(map[string]any{"capabilities": e.names})
	}
	return c, nil
}

func capabilityFrom(meta map[string]any) (string, error) {
	v, ok := meta[ExtensionURI]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok || s == "" {
		return "", invalidParams("metadata %q must be a capability name (a string)", ExtensionURI)
	}
	return s, nil
}

func validateMessage(m *a2acore.Message) error {
	switch {
	case m == nil:
		return invalidParams("message is required")
	case m.ID == "":
		return invalidParams("message.messageId is required")
	case len(m.Parts) == 0:
		return invalidParams("message.parts is empty")
	case m.Role != a2acore.MessageRoleUser:
		return invalidParams("message.role must be %s, not %s", a2acore.MessageRoleUser, m.Role)
	}
	for i, p := range m.Parts {
		if p == nil || p.Content == nil {
			return invalidParams("message.parts[%d] has no content", i)
		}
	}
	return nil
}

// begin validates a send request and starts (or resumes) its task. It
// returns the live task and a subscription made before the handler starts,
// so no event is missed.
func (e *Engine) begin(ctx context.Context, op string, req *a2acore.SendMessageRequest) (*liveTask, *subscriber, *a2acore.Task, error) {
	if _, err := callerID(ctx); err != nil {
		return nil, nil, nil, err
	}
	if req == nil {
		return nil, nil, nil, invalidParams("params are required")
	}
	if err := validateMessage(req.Message); err != nil {
		return nil, nil, nil, err
	}
	// The capability (the policy's action) comes from routing, which reads
	// only the request: authorization happens before any task exists.
	var capability Capability
	action, err := capabilityFrom(req.Message.Metadata)
	if err != nil {
		return nil, nil, nil, err
	}
	if req.Message.TaskID == "" {
		if capability, err = e.route(req); err != nil {
			return nil, nil, nil, err
		}
		action = capability.Name
	}
	ctx, caller, err := e.admitted(ctx, op, action, req.Message.TaskID)
	if err != nil {
		return nil, nil, nil, err
	}
	var pushCfg *a2acore.PushConfig
	if req.Config != nil && req.Config.PushConfig != nil {
		if e.push == nil {
			return nil, nil, nil, errNoPush
		}
		if err := e.push.validate(req.Config.PushConfig); err != nil {
			return nil, nil, nil, err
		}
		pushCfg = req.Config.PushConfig
	}
	if req.Message.TaskID != "" {
		return e.resume(ctx, caller, req.Message)
	}
	msg := *req.Message
	msg.TaskID = a2acore.NewTaskID()
	if msg.ContextID == "" {
		msg.ContextID = a2acore.NewContextID()
	}
	now := time.Now().UTC()
	task := &a2acore.Task{
		ID: msg.TaskID, ContextID: msg.ContextID,
		Status:  a2acore.TaskStatus{State: a2acore.TaskStateSubmitted, Timestamp: &now},
		History: []*a2acore.Message{&msg},
	}
	lt := &liveTask{engine: e, owner: caller, cap: capability.Name, snap: task, subs: map[*subscriber]struct{}{}, first: make(chan struct{})}
	immediate := req.Config != nil && req.Config.ReturnImmediately
	if !capability.Replies || immediate || pushCfg != nil {
		if err := lt.ensureCreated(ctx); err != nil {
			return nil, nil, nil, err
		}
	}
	if pushCfg != nil {
		if _, err := e.push.configs.Save(ctx, task.ID, pushCfg); err != nil {
			return nil, nil, nil, fmt.Errorf("a2a: save push config: %w", err)
		}
		e.startPush(lt)
	}
	sub, _ := lt.subscribe()
	e.run(ctx, lt, capability, &msg)
	return lt, sub, nil, nil // a nil snapshot: streams start with lt.head
}

// resume continues an interrupted task with the caller's answer.
func (e *Engine) resume(ctx context.Context, caller spiffeid.ID, m *a2acore.Message) (*liveTask, *subscriber, *a2acore.Task, error) {
	lt := e.lookup(caller, m.TaskID)
	if lt == nil {
		t, _, err := e.store.Get(ctx, caller, m.TaskID)
		if err != nil {
			return nil, nil, nil, taskNotFound(m.TaskID)
		}
		return nil, nil, nil, a2acore.NewError(a2acore.ErrUnsupportedOperation,
			fmt.Sprintf("task %q has ended (%s): send a new message without taskId", t.ID, t.Status.State))
	}
	lt.mu.Lock()
	state, running, ctxID := lt.snap.Status.State, lt.running, lt.snap.ContextID
	lt.mu.Unlock()
	if running || (state != a2acore.TaskStateInputRequired && state != a2acore.TaskStateAuthRequired) {
		return nil, nil, nil, a2acore.NewError(a2acore.ErrUnsupportedOperation,
			fmt.Sprintf("task %q is %s and not waiting for input", m.TaskID, state))
	}
	if m.ContextID != "" && m.ContextID != ctxID {
		return nil, nil, nil, invalidParams("message.contextId %q does not match task %q's context %q", m.ContextID, m.TaskID, ctxID)
	}
	msg := *m
	msg.ContextID = ctxID
	if err := lt.apply(ctx, &msg); err != nil {
		return nil, nil, nil, err
	}
	sub, snap := lt.subscribe()
	e.run(ctx, lt, e.caps[lt.cap], &msg)
	return lt, sub, snap, nil
}

// run starts the capability handler for one message in its own goroutine.
// The handler's context keeps the request's values (the caller's identity,
// trace context) but not its deadline: the task outlives the request. It is
// canceled by CancelTask and by the engine's shutdown.
func (e *Engine) run(reqCtx context.Context, lt *liveTask, c Capability, msg *a2acore.Message) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(reqCtx))
	stopOnShutdown := context.AfterFunc(e.base, cancel) //nolint:contextcheck // the engine, not the request, ends tasks
	lt.mu.Lock()
	lt.cancel, lt.running = cancel, true
	lt.mu.Unlock()
	call := &Call{Caller: lt.owner, Capability: c.Name, TaskID: msg.TaskID, ContextID: msg.ContextID, Message: msg, task: lt}
	started := e.goTracked(func() {
		defer stopOnShutdown()
		defer cancel()
		lt.mu.Lock()
		created := lt.created
		lt.mu.Unlock()
		if created { // a deferred task shows up with the handler's first output
			_ = lt.apply(ctx, a2acore.NewStatusUpdateEvent(call, a2acore.TaskStateWorking, nil))
		}
		err := e.invoke(ctx, c, call)
		lt.mu.Lock()
		lt.running, lt.cancel = false, nil
		state, closed := lt.snap.Status.State, lt.closed
		lt.mu.Unlock()
		if closed {
			return
		}
		var final *a2acore.TaskStatusUpdateEvent
		switch {
		case err != nil && e.base.Err() != nil:
			final = call.status(a2acore.TaskStateFailed, "agent shut down before the task finished")
		case err != nil:
			final = call.status(a2acore.TaskStateFailed, err.Error())
		case state == a2acore.TaskStateInputRequired || state == a2acore.TaskStateAuthRequired:
			return
		default:
			final = a2acore.NewStatusUpdateEvent(call, a2acore.TaskStateCompleted, nil)
		}
		if err := lt.apply(ctx, final); err != nil && !errors.Is(err, ErrTaskClosed) {
			e.log.Error("a2a: cannot record the end of a task", "task_id", string(call.TaskID), "error", err)
		}
	})
	if !started { // the agent is shutting down: the handler never runs
		stopOnShutdown()
		cancel()
		lt.mu.Lock()
		lt.running, lt.cancel = false, nil
		lt.mu.Unlock()
		if err := lt.apply(ctx, call.status(a2acore.TaskStateFailed, "agent is shutting down")); err != nil && !errors.Is(err, ErrTaskClosed) {
			e.log.Error("a2a: cannot record the end of a task", "task_id", string(call.TaskID), "error", err)
		}
	}
}

// invoke runs the handler, turning a panic into an error.
func (e *Engine) invoke(ctx context.Context, c Capability, call *Call) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("a2a: capability handler panicked", "capability", c.Name, "task_id", string(call.TaskID), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("capability %q failed unexpectedly", c.Name)
		}
	}()
	return c.Handler(ctx, call)
}

// interrupted reports whether a task waits for its client.
func interrupted(s a2acore.TaskState) bool {
	return s == a2acore.TaskStateInputRequired || s == a2acore.TaskStateAuthRequired
}

// SendMessage implements a2asrv.RequestHandler. It waits until the task
// ends or needs input, unless configuration.returnImmediately is set.
func (e *Engine) SendMessage(ctx context.Context, req *a2acore.SendMessageRequest) (a2acore.SendMessageResult, error) {
	lt, sub, _, err := e.begin(ctx, "SendMessage", req)
	if err != nil {
		return nil, err
	}
	defer lt.unsubscribe(sub)
	var histLen *int
	if req.Config != nil {
		histLen = req.Config.HistoryLength
		if req.Config.ReturnImmediately {
			return withHistory(lt.snapshot(), histLen), nil
		}
	}
	for {
		_, done, err := sub.next(ctx)
		if err != nil {
			return nil, err
		}
		lt.mu.Lock()
		reply, lost := lt.reply, lt.lost
		lt.mu.Unlock()
		if lost != nil {
			return nil, lost
		}
		if reply != nil {
			return reply, nil
		}
		snap := lt.snapshot()
		if done || snap.Status.State.Terminal() || interrupted(snap.Status.State) {
			return withHistory(snap, histLen), nil
		}
	}
}

// SendStreamingMessage implements a2asrv.RequestHandler: the task first,
// then every event until the task ends or needs input.
func (e *Engine) SendStreamingMessage(ctx context.Context, req *a2acore.SendMessageRequest) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		lt, sub, snap, err := e.begin(ctx, "SendStreamingMessage", req)
		if err != nil {
			yield(nil, err)
			return
		}
		defer lt.unsubscribe(sub)
		var head a2acore.Event = snap
		if snap == nil { // a new task: the task as created, or a reply
			if head, err = lt.head(ctx); err != nil {
				if ctx.Err() == nil {
					yield(nil, err)
				}
				return
			}
		}
		if !yield(head, nil) {
			return
		}
		if _, isReply := head.(*a2acore.Message); isReply {
			return
		}
		stream(ctx, sub, yield)
	}
}

// stream yields events from sub until the task ends or needs input.
func stream(ctx context.Context, sub *subscriber, yield func(a2acore.Event, error) bool) {
	for {
		events, done, err := sub.next(ctx)
		if err != nil {
			return // the client went away
		}
		for _, ev := range events {
			if !yield(ev, nil) {
				return
			}
			if se, ok := ev.(*a2acore.TaskStatusUpdateEvent); ok && (se.Status.State.Terminal() || interrupted(se.Status.State)) {
				return
			}
		}
		if done {
			return
		}
	}
}

// SubscribeToTask implements a2asrv.RequestHandler: the task's current
// snapshot, then its events. A finished task cannot be subscribed to
// (UnsupportedOperationError, as the spec says).
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
		if !yield(snap, nil) || snap.Status.State.Terminal() || interrupted(snap.Status.State) {
			return
		}
		stream(ctx, sub, yield)
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

// Page sizes for ListTasks.
const (
	DefaultPageSize = 50
	MaxPageSize     = 100
)

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
		size = DefaultPageSize
	case size < 1 || size > MaxPageSize:
		return nil, invalidParams("pageSize must be between 1 and %d, not %d", MaxPageSize, size)
	}
	if req.HistoryLength != nil && *req.HistoryLength < 0 {
		return nil, invalidParams("historyLength must not be negative")
	}
	if req.Status != a2acore.TaskStateUnspecified && !knownState(req.Status) {
		return nil, invalidParams("status %q is not a task state", req.Status)
	}
	after, err := ParseCursor(req.PageToken)
	if err != nil {
		return nil, invalidParams("pageToken: %v", err)
	}
	q := ListQuery{ContextID: req.ContextID, State: req.Status, PageSize: size, After: after}
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
		} else if !errors.Is(err, ErrConflict) {
			return nil, fmt.Errorf("a2a: cancel task: %w", err)
		}
	}
	return nil, fmt.Errorf("a2a: cancel task %q: it kept changing; try again", id)
}

// GetExtendedAgentCard implements a2asrv.RequestHandler: this agent has no
// extended card.
func (e *Engine) GetExtendedAgentCard(ctx context.Context, _ *a2acore.GetExtendedAgentCardRequest) (*a2acore.AgentCard, error) {
	if _, err := e.admit(ctx, "GetExtendedAgentCard", ""); err != nil {
		return nil, err
	}
	return nil, a2acore.NewError(a2acore.ErrExtendedCardNotConfigured, "this agent has no extended agent card")
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
