package agentweave

import (
	"context"
	"errors"
	"fmt"

	"github.com/agentweave/agentweave-go/a2a"
)

// Request is one call of a capability: the verified caller, the task, the
// payload ([Request.Decode]) and the means to stream progress and
// artifacts while the handler runs ([Request.Progress],
// [Request.Artifact], [Request.Chunk]). See [a2a.Call].
type Request = a2a.Call

// HandlerFunc runs a capability. A non-nil result becomes the task's
// "result" artifact (its JSON); returning an error fails the task with the
// error's text. ctx ends when the caller cancels the task or the agent
// shuts down.
type HandlerFunc func(ctx context.Context, req *Request) (any, error)

// Capability is something an agent does, listed as a skill in its agent
// card.
type Capability struct {
	// Name matches ^[a-z][a-z0-9_]*$.
	Name string
	// Description says what it does. Default: the description of the
	// capability of the same name in agent.capabilities.
	Description string
	// Tags and Examples go into the skill. Default: the configuration's
	// tags.
	Tags     []string
	Examples []string
	// Handler does the work.
	Handler HandlerFunc
	// Default runs messages that name no capability: plain A2A clients
	// that know nothing of AgentWeave's capability metadata. At most one
	// capability may be the default; without one, such messages are
	// refused with the list of capabilities.
	Default bool
	// Replies lets the handler answer with a message and no task
	// ([a2a.Call.Reply]); see a2a.Capability.Replies.
	Replies bool
}

// InputError reports a payload a capability could not accept; the task
// ends as rejected (the caller's fault), not failed.
type InputError struct{ Err error }

func (e *InputError) Error() string { return "invalid input: " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Func adapts a typed function into a [HandlerFunc]: the payload is
// decoded from JSON into In (a payload that does not fit rejects the task
// with the reason) and the Out it returns is the result.
func Func[In, Out any](fn func(ctx context.Context, req *Request, in In) (Out, error)) HandlerFunc {
	return func(ctx context.Context, req *Request) (any, error) {
		var in In
		if err := req.Decode(&in); err != nil {
			return nil, &InputError{Err: err}
		}
		return fn(ctx, req, in)
	}
}

// handler adapts a HandlerFunc to the engine's handler.
func (c Capability) handler() a2a.Handler {
	fn := c.Handler
	return func(ctx context.Context, call *a2a.Call) error {
		out, err := fn(ctx, call)
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
}
