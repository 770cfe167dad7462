package a2a

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode/utf8"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ExtensionURI identifies AgentWeave's capability-routing A2A extension. A
// message whose metadata maps this URI to a capability name is a call of
// that capability; any A2A client can make one.
const ExtensionURI = "https://github.com/agentweave/agentweave-go/a2a/ext/capability/v1"

// capabilityName is the pattern capability names follow (the original's).
var capabilityName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Capability is something an agent can do, listed as a skill in its agent
// card. The same type describes a capability in Go code, in the engine and
// in the agent card; configuration only adds text (description, tags,
// examples) to the capabilities code registers.
type Capability struct {
	// Name matches ^[a-z][a-z0-9_]*$ and is unique within the agent.
	Name string
	// Description says what it does (required: it is the skill's text).
	Description string
	// Tags and Examples are copied into the skill.
	Tags     []string
	Examples []string
	// Handler does the work.
	Handler Handler
	// Default runs messages that name no capability: plain A2A clients
	// that know nothing of AgentWeave's capability metadata. At most one
	// capability may be the default; without one, such messages are
	// refused with the list of capabilities.
	Default bool
	// Replies lets the handler answer with a message instead of a task
	// ([Request.Reply]). The task is then created only at the handler's
	// first other output (or when it returns), so a reply leaves no task
	// behind. Without it, the task exists, working, from the start.
	Replies bool
}

// Handler runs one request for a capability. A non-nil result becomes the
// task's "result" artifact (its JSON, [Request.Result]) and the task
// completes, unless the handler asked for more input
// ([Request.RequireInput]). An error fails the task with the error's text
// as the status message; an [*InputError] rejects it instead (the caller's
// fault). ctx ends when the task is canceled or the agent shuts down.
type Handler func(ctx context.Context, req *Request) (any, error)

// InputError reports a payload a capability could not accept; the task
// ends as rejected (the caller's fault), not failed.
type InputError struct{ Err error }

func (e *InputError) Error() string { return "invalid input: " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Func adapts a typed function into a [Handler]: the payload is decoded
// from JSON into In (a payload that does not fit rejects the task with the
// reason, as an [*InputError]) and the Out it returns is the result.
func Func[In, Out any](fn func(ctx context.Context, req *Request, in In) (Out, error)) Handler {
	return func(ctx context.Context, req *Request) (any, error) {
		var in In
		if err := req.Decode(&in); err != nil {
			return nil, &InputError{Err: err}
		}
		return fn(ctx, req, in)
	}
}

func (c Capability) validate() error {
	var errs []error
	if !capabilityName.MatchString(c.Name) {
		errs = append(errs, fmt.Errorf("capability name %q must match %s", c.Name, capabilityName))
	}
	if strings.TrimSpace(c.Description) == "" {
		errs = append(errs, fmt.Errorf("capability %q needs a description", c.Name))
	}
	if c.Handler == nil {
		errs = append(errs, fmt.Errorf("capability %q has no handler", c.Name))
	}
	return errors.Join(errs...)
}

// Request is one run of a capability handler: a request this agent
// handles (a call it makes is [client.Client.Request]). Its methods are safe for
// concurrent use; after the task has ended they return [ErrTaskClosed].
type Request struct {
	// Caller is the verified SPIFFE ID of the client that owns the task.
	Caller spiffeid.ID
	// Capability is the name of the capability called.
	Capability string
	// TaskID and ContextID identify the task.
	TaskID    a2acore.TaskID
	ContextID string
	// Message is the message that started this run (the first one, or the
	// one that answered a request for input).
	Message *a2acore.Message

	task *liveTask
}

// ErrTaskClosed is returned by [Request] methods once the task has reached a
// terminal state (for example because it was canceled).
var ErrTaskClosed = errors.New("a2a: task has ended")

// TaskInfo implements a2a.TaskInfoProvider.
func (c *Request) TaskInfo() a2acore.TaskInfo {
	return a2acore.TaskInfo{TaskID: c.TaskID, ContextID: c.ContextID}
}

// Data returns the payload: the value of the message's first data part.
func (c *Request) Data() (any, bool) {
	for _, p := range c.Message.Parts {
		if d, ok := p.Content.(a2acore.Data); ok {
			return d.Value, true
		}
	}
	return nil, false
}

// Decode decodes the payload into v (a pointer), as encoding/json would
// decode the data part's JSON. A missing payload decodes as an empty object.
func (c *Request) Decode(v any) error {
	data, ok := c.Data()
	if !ok {
		data = map[string]any{}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("a2a: payload: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("a2a: payload does not fit %T: %w", v, err)
	}
	return nil
}

// Text returns the text of the message's text parts, joined by newlines.
func (c *Request) Text() string {
	var parts []string
	for _, p := range c.Message.Parts {
		if t, ok := p.Content.(a2acore.Text); ok {
			parts = append(parts, string(t))
		}
	}
	return strings.Join(parts, "\n")
}

// Progress reports that the task is working, with a status message.
func (c *Request) Progress(ctx context.Context, text string) error {
	return c.task.apply(ctx, c.status(a2acore.TaskStateWorking, text))
}

// Artifact adds a complete artifact to the task.
func (c *Request) Artifact(ctx context.Context, name string, parts ...*a2acore.Part) error {
	ev := a2acore.NewArtifactEvent(c, parts...)
	ev.Artifact.Name = name
	ev.LastChunk = true
	return c.task.apply(ctx, ev)
}

// Chunk streams an artifact in pieces: the first call for an id creates it,
// later calls append; last marks the final piece.
func (c *Request) Chunk(ctx context.Context, id a2acore.ArtifactID, name string, last bool, parts ...*a2acore.Part) error {
	ev := a2acore.NewArtifactUpdateEvent(c, id, parts...)
	ev.Artifact.Name = name
	ev.LastChunk = last
	return c.task.apply(ctx, ev)
}

// Result adds v as the task's result: an artifact named "result" with one
// data part holding v's JSON. v must not be nil (or encode as null).
//
// The artifact holds v as JSON values (map[string]any, []any, string,
// float64, bool, nil), a copy that later changes to v do not reach: what
// the caller decodes, what stores keep and what 0.3 clients (which need an
// object) see.
func (c *Request) Result(ctx context.Context, v any) error {
	value, ok := copyJSON(v, 0)
	if !ok {
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("a2a: result: %w", err)
		}
		if err := json.Unmarshal(b, &value); err != nil {
			return fmt.Errorf("a2a: result: %w", err)
		}
	}
	if value == nil {
		// JSON null is a protobuf Value, but a2a-go reads {"data": null}
		// as a part without content and refuses the whole task: the
		// caller could not read it, nor could the store.
		return errNullResult
	}
	return c.Artifact(ctx, "result", a2acore.NewDataPart(value))
}

var errNullResult = errors.New("a2a: result: null cannot be a data part (a2a-go refuses {\"data\": null}); return nil for no result")

// copyJSON deep-copies v if it is made of JSON values only and would come
// back unchanged from a trip through encoding/json (valid UTF-8, finite
// numbers, bounded depth); ok is false otherwise, and the caller takes
// that trip instead. A payload echoed back, or built as maps, is copied in
// a fraction of the time of marshalling and decoding it again.
func copyJSON(v any, depth int) (any, bool) {
	if depth > 64 {
		return nil, false
	}
	switch v := v.(type) {
	case nil, bool:
		return v, true
	case string:
		return v, utf8.ValidString(v)
	case float64:
		return v, !math.IsNaN(v) && !math.IsInf(v, 0)
	case map[string]any:
		if v == nil {
			return nil, false // marshals as null: let encoding/json say so
		}
		m := make(map[string]any, len(v))
		for k, e := range v {
			if !utf8.ValidString(k) {
				return nil, false
			}
			c, ok := copyJSON(e, depth+1)
			if !ok {
				return nil, false
			}
			m[k] = c
		}
		return m, true
	case []any:
		if v == nil {
			return nil, false
		}
		s := make([]any, len(v))
		for i, e := range v {
			c, ok := copyJSON(e, depth+1)
			if !ok {
				return nil, false
			}
			s[i] = c
		}
		return s, true
	}
	return nil, false
}

// Reply answers the call with a message and no task: SendMessage returns
// the message and a stream carries only it. It must be the handler's first
// and only output, and the capability must have Replies set; the handler
// should then return nil.
func (c *Request) Reply(_ context.Context, parts ...*a2acore.Part) error {
	msg := a2acore.NewMessage(a2acore.MessageRoleAgent, parts...)
	msg.ContextID = c.ContextID
	return c.task.answer(msg)
}

// RequireInput moves the task to input-required with a question for the
// caller; the handler should then return nil. The caller's answer (a
// message with this task's ID) runs the handler again.
func (c *Request) RequireInput(ctx context.Context, question string) error {
	return c.task.apply(ctx, c.status(a2acore.TaskStateInputRequired, question))
}

// RequireAuth moves the task to auth-required with what the caller must
// provide (A2A §7.6); the handler should then return nil. As with
// [Request.RequireInput], the task stays open (its streams too) and the
// caller's next message on this task runs the handler again.
func (c *Request) RequireAuth(ctx context.Context, what string) error {
	return c.task.apply(ctx, c.status(a2acore.TaskStateAuthRequired, what))
}

// Reject ends the task as rejected, with a reason; the handler should then
// return nil.
func (c *Request) Reject(ctx context.Context, reason string) error {
	return c.task.apply(ctx, c.status(a2acore.TaskStateRejected, reason))
}

// Complete ends the task as completed with a status message (returning nil
// from the handler completes it without one).
func (c *Request) Complete(ctx context.Context, text string) error {
	return c.task.apply(ctx, c.status(a2acore.TaskStateCompleted, text))
}

func (c *Request) status(state a2acore.TaskState, text string) *a2acore.TaskStatusUpdateEvent {
	var msg *a2acore.Message
	if text != "" {
		msg = a2acore.NewMessageForTask(a2acore.MessageRoleAgent, c, a2acore.NewTextPart(text))
	}
	return a2acore.NewStatusUpdateEvent(c, state, msg)
}

// CapabilityMessage builds the message that calls capability with payload
// as its data part.
func CapabilityMessage(capability string, payload any) *a2acore.Message {
	if payload == nil {
		payload = map[string]any{}
	}
	msg := a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewDataPart(payload))
	msg.SetMeta(ExtensionURI, capability)
	return msg
}

// CapabilityOf returns the capability a SendMessage request calls: the
// message's metadata, then the request's; "" if neither names one, or if
// the value is not a capability name.
func CapabilityOf(req *a2acore.SendMessageRequest) string {
	if req == nil || req.Message == nil {
		return ""
	}
	name, _ := capabilityFrom(req.Message.Metadata)
	if name == "" {
		name, _ = capabilityFrom(req.Metadata)
	}
	return name
}
