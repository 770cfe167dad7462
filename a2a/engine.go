package a2a

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/observe"
)

// EngineOptions configures an [Engine].
type EngineOptions struct {
	// Capabilities the agent offers. At least one.
	Capabilities []Capability
	// Store keeps tasks. Default: taskstore.NewMemory(0).
	Store taskstore.Store
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
	store   taskstore.Store
	log     *slog.Logger
	push    *pusher // nil: push notifications off
	authz   *authz.Enforcer
	self    spiffeid.ID
	observe ObserveFunc

	base context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup
	// streamsEnd ends once the handlers are done at shutdown: streams of
	// tasks waiting for input then end too (stream).
	streamsEnd context.Context
	endStreams context.CancelFunc

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
	e := &Engine{caps: map[string]Capability{}, store: opts.Store, log: opts.Logger, live: map[a2acore.TaskID]*liveTask{}, authz: opts.Enforcer, self: opts.Self, observe: opts.Observe}
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
		if c.Default {
			if e.def != "" {
				errs = append(errs, fmt.Errorf("capabilities %q and %q are both the default", e.def, c.Name))
				continue
			}
			e.def = c.Name
		}
		e.caps[c.Name] = c
		e.names = append(e.names, c.Name)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("a2a: %w", err)
	}
	sort.Strings(e.names)
	if e.store == nil {
		e.store = taskstore.NewMemory(0)
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
	e.streamsEnd, e.endStreams = context.WithCancel(context.Background())
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
// Streams end with their tasks; those of tasks waiting for input end last.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.beginStop()
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	defer e.endStreams()
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

// Close cancels running handlers and waits for them; open streams end.
func (e *Engine) Close() error {
	e.beginStop()
	e.stop()
	e.wg.Wait()
	e.endStreams()
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
	_, caller, err := e.admitted(ctx, op, "", taskID, nil)
	return caller, err
}

// admitted is admit returning the context the call continues in: it
// carries the decision's audit ID (observe.AuditIDFrom) for the handler's
// logs. meta, the request's metadata, is what policy sees as
// input.context (bounded by authz.MaxContextBytes: larger is refused).
func (e *Engine) admitted(ctx context.Context, op, action string, taskID a2acore.TaskID, meta map[string]any) (context.Context, spiffeid.ID, error) {
	caller, err := callerID(ctx)
	if err != nil {
		return ctx, spiffeid.ID{}, err
	}
	rc, err := authz.RequestContext(meta)
	if err != nil {
		return ctx, spiffeid.ID{}, invalidParams("%v", err)
	}
	in := &authz.Input{
		Direction: authz.Inbound, Operation: op, Action: action, TaskID: string(taskID), Context: rc,
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
