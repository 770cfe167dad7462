// Package a2a speaks the A2A protocol (v1.0, with 0.3 compatibility) over
// AgentWeave's mutual-TLS transport: the task [Engine] that serves
// capabilities, the agent card and the HTTP handler.
//
// The rest of the protocol's roles are in packages beneath it:
// [github.com/agentweave/agentweave-go/a2a/client] calls agents by SPIFFE
// ID, [github.com/agentweave/agentweave-go/a2a/taskstore] keeps tasks (in
// memory, SQLite or PostgreSQL), and
// [github.com/agentweave/agentweave-go/a2a/a2atest] serves an engine for
// tests.
//
// It uses a2a-go (imported here as a2acore, a2asrv, a2aclient) for the wire
// — types, the JSON-RPC, HTTP+JSON and gRPC bindings, SSE — and replaces a2a-go's
// default request handler with its own task [Engine]: a2a-go's handler
// deep-copies every task and event through encoding/gob, which costs about
// 1.6 ms of CPU per request; the engine builds a new immutable snapshot per
// change instead and shares it with every reader.
//
// # Capabilities
//
// An agent offers [Capability] values, each listed as a skill in its agent
// card. A capability call is an ordinary A2A message whose metadata maps
// [ExtensionURI] to the capability's name, with the payload as a data part,
// so any A2A client can make one:
//
//	{"message": {"role": "ROLE_USER", "messageId": "…",
//	  "metadata": {"https://github.com/agentweave/agentweave-go/a2a/ext/capability/v1": "search"},
//	  "parts": [{"data": {"query": "spiffe"}}]}}
//
// The [Handler] receives a [Request]: the caller's verified SPIFFE ID, the
// payload ([Request.Decode]), and methods to report progress, artifacts and
// the result. A returned value becomes the result artifact and completes
// the task; an error fails it ([Func] decodes the payload into a Go type).
//
// # Ownership
//
// A task belongs to the SPIFFE ID that created it. For anyone else it does
// not exist: GetTask, CancelTask and SubscribeToTask answer TaskNotFound,
// and ListTasks lists only the caller's own tasks.
//
// # Serving
//
// [NewHandler] mounts the engine behind a2a-go's bindings with AgentWeave's
// fixes at the boundary: A2A-Version negotiation (1.0; 0.3 when the header
// is missing; VersionNotSupportedError otherwise), a body limit enforced
// before parsing, requests read as ProtoJSON (1.0: a field's proto name,
// such as "task_id", is accepted next to its JSON name "taskId", in
// JSON-RPC params, HTTP+JSON bodies and query parameters; answers use the
// JSON names), errors a stream meets before its first event answered as
// plain errors (a JSON-RPC error response, an HTTP+JSON 4xx), an agent card
// ([BuildCard]) with ETag, Last-Modified and Cache-Control, and
// GetExtendedAgentCard answering each caller with the skills its policy
// lets it call. The gRPC binding shares the port: a request with
// Content-Type application/grpc goes to a grpc.Server (grpc.go), with the
// version from the a2a-version metadata and messages bounded by the body
// limit. The card declares, and the handler serves, the bindings of
// [CardOptions].Bindings. Serve it with transport.Server, which
// authenticates every caller by mTLS.
package a2a
