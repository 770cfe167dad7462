package agentweave

import (
	"context"

	"github.com/agentweave/agentweave-go/a2a"
)

// Capability is something an agent does, listed as a skill in its agent
// card: a name, the text of the skill and the [Handler] that does it. It is
// [a2a.Capability]: the engine and the card use the same type. Text left
// empty here comes from the configuration's agent.capabilities entry of the
// same name.
type Capability = a2a.Capability

// Request is a request this agent handles: the verified caller, the task,
// the payload ([Request.Decode]) and the means to stream progress and
// artifacts while the handler runs ([Request.Progress],
// [Request.Artifact], [Request.Chunk]). A call this agent makes is
// [Agent.Call].
type Request = a2a.Request

// Handler runs a capability. A non-nil result becomes the task's "result"
// artifact (its JSON); an error fails the task with the error's text, an
// [*InputError] rejects it. ctx ends when the caller cancels the task or
// the agent shuts down.
type Handler = a2a.Handler

// InputError reports a payload a capability could not accept; the task
// ends as rejected (the caller's fault), not failed.
type InputError = a2a.InputError

// Func adapts a typed function into a [Handler]: the payload is decoded
// from JSON into In (a payload that does not fit rejects the task with the
// reason) and the Out it returns is the result. It is [a2a.Func].
func Func[In, Out any](fn func(ctx context.Context, req *Request, in In) (Out, error)) Handler {
	return a2a.Func(fn)
}
