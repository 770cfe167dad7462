package a2a

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime/debug"
	"strings"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

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
	ctx, caller, err := e.admitted(ctx, op, action, req.Message.TaskID, req.Metadata)
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
	call := &Request{Caller: lt.owner, Capability: c.Name, TaskID: msg.TaskID, ContextID: msg.ContextID, Message: msg, task: lt}
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

// invoke runs the handler, turning a panic into an error, a result into
// the result artifact and an *InputError into a rejection.
func (e *Engine) invoke(ctx context.Context, c Capability, call *Request) (err error) {
	defer func() {
		if r := recover(); r != nil {
			e.log.Error("a2a: capability handler panicked", "capability", c.Name, "task_id", string(call.TaskID), "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("capability %q failed unexpectedly", c.Name)
		}
	}()
	out, err := c.Handler(ctx, call)
	var ie *InputError
	switch {
	case errors.As(err, &ie):
		return call.Reject(ctx, ie.Error())
	case err != nil:
		return err
	case out == nil:
		return nil
	}
	if err := call.Result(ctx, out); err != nil {
		return fmt.Errorf("capability %s: %w", c.Name, err)
	}
	return nil
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
// then every event until the task ends. A task that needs input (or
// authorization) keeps its stream open: the stream "MUST close when the
// task reaches a terminal state" (A2A §3.1.2), as SubscribeToTask's does
// (§3.1.6), and an agent "SHOULD maintain any active response streams"
// while it waits for authorization (§7.6.1); the answer, sent on the task
// by SendMessage, continues the same stream (TestStreamsStayOpenWhileInterrupted).
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
		e.stream(ctx, sub, yield)
	}
}

// stream yields the task events from sub until the task ends, the client
// goes away or the engine has stopped (its handlers are done, so nothing
// more will come to a task waiting for input). The messages that resume an
// interrupted task are not task events (§3.1.2: a task's stream carries
// status and artifact updates); they are in the task's history.
func (e *Engine) stream(ctx context.Context, sub *subscriber, yield func(a2acore.Event, error) bool) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(e.streamsEnd, cancel)() //nolint:contextcheck // the engine's stop ends the stream; ctx is still the request's
	for {
		events, done, err := sub.next(ctx)
		if err != nil {
			return // the client went away, or the engine stopped
		}
		for _, ev := range events {
			if _, ok := ev.(*a2acore.Message); ok {
				continue
			}
			if !yield(ev, nil) {
				return
			}
			if se, ok := ev.(*a2acore.TaskStatusUpdateEvent); ok && se.Status.State.Terminal() {
				return
			}
		}
		if done {
			return
		}
	}
}
