package agentweave

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/observe"
)

// EventKind says what an [Event] reports.
type EventKind int

// Kinds of events.
const (
	// EventTask is the task as it is when the stream starts (or resumes).
	EventTask EventKind = iota + 1
	// EventStatus is a change of state, or progress text.
	EventStatus
	// EventArtifact is an output, or a chunk of one.
	EventArtifact
)

func (k EventKind) String() string {
	switch k {
	case EventTask:
		return "task"
	case EventStatus:
		return "status"
	case EventArtifact:
		return "artifact"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one step of a streamed call ([Agent.Stream]). The A2A data
// types it carries (the task state, the artifact and its parts) are
// a2a-go's, the official SDK's, as in [Result]: they are the protocol's own.
type Event struct {
	Kind      EventKind
	TaskID    string
	ContextID string
	// State is the task's state after this event.
	State a2acore.TaskState
	// Message is the text of a status event's message (progress), or of
	// the task's status message for EventTask.
	Message string
	// Artifact is an EventArtifact's artifact; with Append its parts
	// continue the artifact of the same ID, and LastChunk ends it.
	Artifact          *a2acore.Artifact
	Append, LastChunk bool
	// Result is set on the stream's last event, once the task has ended or
	// asks for input: the task as it is then, artifacts assembled.
	Result *Result
}

// Stream calls capability like [Agent.Call] and yields the task's events
// as they happen: the task, then status updates (progress) and artifact
// updates, until it ends or asks for input; the last event carries the
// [Result]. Streams are not retried, but a cut stream is resumed
// (SubscribeToTask) while the task runs. A refusal by either side's policy
// is an error that matches [ErrDenied].
func (a *Agent) Stream(ctx context.Context, target, capability string, payload any) iter.Seq2[*Event, error] {
	return func(yield func(*Event, error) bool) {
		id, err := spiffeid.FromString(target)
		if err != nil {
			yield(nil, fmt.Errorf("agentweave: call target %q: %w", target, err))
			return
		}
		start := time.Now()
		var failed error
		var acc Result
		for raw, err := range a.client.Stream(ctx, id, capability, payload) {
			if err != nil {
				failed = err
				yield(nil, err)
				break
			}
			ev := acc.apply(raw)
			if ev == nil {
				continue
			}
			final := ev.State.Terminal() || ev.State == a2acore.TaskStateInputRequired || ev.State == a2acore.TaskStateAuthRequired
			if final {
				res := acc
				res.Artifacts = slices.Clone(acc.Artifacts)
				ev.Result = &res
			}
			if !yield(ev, nil) || final {
				break
			}
		}
		a.metrics.ObserveRequest(observe.Outbound, "SendStreamingMessage", outcome(failed), time.Since(start))
	}
}

// apply folds one A2A event into r, the task as streamed so far, and
// returns it as an Event (nil for what a stream of a call does not carry,
// such as a message).
func (r *Result) apply(raw a2acore.Event) *Event {
	switch ev := raw.(type) {
	case *a2acore.Task:
		*r = *resultOf(ev)
		r.Artifacts = slices.Clone(ev.Artifacts)
		return &Event{Kind: EventTask, TaskID: r.TaskID, ContextID: r.ContextID, State: r.State, Message: r.Message}
	case *a2acore.TaskStatusUpdateEvent:
		r.TaskID, r.ContextID, r.State = string(ev.TaskID), ev.ContextID, ev.Status.State
		r.Message = messageText(ev.Status.Message)
		return &Event{Kind: EventStatus, TaskID: r.TaskID, ContextID: r.ContextID, State: r.State, Message: r.Message}
	case *a2acore.TaskArtifactUpdateEvent:
		r.TaskID, r.ContextID = string(ev.TaskID), ev.ContextID
		if ev.Artifact != nil {
			r.merge(ev.Artifact, ev.Append)
		}
		if r.State == "" {
			r.State = a2acore.TaskStateWorking
		}
		return &Event{
			Kind: EventArtifact, TaskID: r.TaskID, ContextID: r.ContextID, State: r.State,
			Artifact: ev.Artifact, Append: ev.Append, LastChunk: ev.LastChunk,
		}
	}
	return nil
}

// merge adds an artifact update: appended parts continue the artifact of
// the same ID; otherwise the artifact replaces it (or is new).
func (r *Result) merge(a *a2acore.Artifact, appendParts bool) {
	i := slices.IndexFunc(r.Artifacts, func(x *a2acore.Artifact) bool { return x.ID == a.ID })
	switch {
	case i < 0:
		r.Artifacts = append(r.Artifacts, a)
	case appendParts:
		merged := *r.Artifacts[i]
		merged.Parts = append(slices.Clone(merged.Parts), a.Parts...)
		r.Artifacts[i] = &merged
	default:
		r.Artifacts[i] = a
	}
}
