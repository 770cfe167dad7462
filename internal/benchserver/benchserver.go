package benchserver

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"

	agentweave "github.com/agentweave/agentweave-go"
)

// Capability is the capability every request calls: an echo that the rbac
// example policy lets orchestrators call.
const Capability = "search"

// Data is the request's data part, the same as a2a's BenchmarkSendMessage.
var Data = json.RawMessage(`{"query":"spiffe","limit":3}`)

// Names of the variants, in the order of the table.
const (
	Plain     = "plain"
	A2AGo     = "a2ago"
	MTLS      = "mtls"
	Full      = "full"
	Full100ms = "full-100ms"
)

// Variant is one server of the comparison.
type Variant struct {
	Name  string
	Label string // the table's row label
	// H2C variants serve plaintext HTTP/2 and take no configuration.
	H2C bool
}

// Variants are the servers `make bench` compares, in table order.
var Variants = []Variant{
	{Plain, "(a) net/http JSON-RPC echo, h2c", true},
	{A2AGo, "(b) a2a-go v2.4.0 default handler, h2c", true},
	{MTLS, "(c) AgentWeave, mTLS only", false},
	{Full, "(d) AgentWeave, all on (audit sync every)", false},
	{Full100ms, "(d') AgentWeave, all on (audit sync 100ms)", false},
}

// Lookup returns the variant called name.
func Lookup(name string) (Variant, bool) {
	for _, v := range Variants {
		if v.Name == name {
			return v, true
		}
	}
	return Variant{}, false
}

// AgentConfig is the YAML configuration of an agent variant: its SVID
// from the Workload API at socket (unix:///…), spiffe://example.org/agent/bench/dev
// as the development CA names it; for full variants the policies of
// policyDir and an audit file at auditFile. A positive memoryLimit sets
// tasks.memory_limit (default 10000).
func AgentConfig(variant, socket, policyDir, auditFile string, memoryLimit int) (string, error) {
	ident := `identity: {spiffe_endpoint: %q, spiffe_id: "spiffe://example.org/agent/bench/dev"}
server: {host: 127.0.0.1}
`
	if memoryLimit > 0 {
		ident += fmt.Sprintf("tasks: {store: memory, memory_limit: %d}\n", memoryLimit)
	}
	switch variant {
	case MTLS:
		return fmt.Sprintf(`agent: {name: bench, trust_domain: example.org, environment: development}
`+ident+`authorization: {provider: allow-all, audit: {enabled: false}}
observability:
  metrics: {enabled: false}
  logging: {level: warn}
`, socket), nil
	case Full, Full100ms:
		sync := "every"
		if variant == Full100ms {
			sync = "100ms"
		}
		return fmt.Sprintf(`agent: {name: bench, trust_domain: example.org, environment: production}
`+ident+`authorization:
  provider: opa
  policy_dir: %q
  audit: {enabled: true, destination: %q, sync: %q}
observability:
  metrics: {enabled: true, host: 127.0.0.1}
  tracing: {enabled: true, sample_ratio: 0}
  logging: {level: warn}
`, socket, policyDir, auditFile, sync), nil
	default:
		return "", fmt.Errorf("benchserver: variant %q takes no agent configuration", variant)
	}
}

// Echo is the capability's handler: it answers with its input.
func Echo(_ context.Context, req *agentweave.Request) (any, error) {
	v, _ := req.Data()
	return v, nil
}

// PlainEcho is the physical-limit baseline: net/http decoding the
// JSON-RPC request and answering with a completed task holding the
// payload (as in a2a's BenchmarkSendMessage).
func PlainEcho(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID     json.RawMessage `json:"id"`
		Params struct {
			Message struct {
				Parts []json.RawMessage `json:"parts"`
			} `json:"message"`
		} `json:"params"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": map[string]any{"task": map[string]any{
		"id": "t", "contextId": "c", "status": map[string]any{"state": "TASK_STATE_COMPLETED"},
		"artifacts": []any{map[string]any{"artifactId": "a", "parts": req.Params.Message.Parts}},
	}}})
}

// A2AGoHandler is a2a-go's default request handler behind its JSON-RPC
// binding, executing the echo.
func A2AGoHandler() http.Handler {
	return a2asrv.NewJSONRPCHandler(a2asrv.NewHandler(echoExecutor{}))
}

// echoExecutor does what the echo capability does, for a2a-go's default
// request handler.
type echoExecutor struct{}

var _ a2asrv.AgentExecutor = echoExecutor{}

func (echoExecutor) Execute(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		task := a2acore.NewSubmittedTask(ec, ec.Message)
		if !yield(task, nil) {
			return
		}
		if !yield(a2acore.NewArtifactEvent(task, ec.Message.Parts...), nil) {
			return
		}
		yield(a2acore.NewStatusUpdateEvent(task, a2acore.TaskStateCompleted, nil), nil)
	}
}

func (echoExecutor) Cancel(_ context.Context, ec *a2asrv.ExecutorContext) iter.Seq2[a2acore.Event, error] {
	return func(yield func(a2acore.Event, error) bool) {
		yield(a2acore.NewStatusUpdateEvent(ec, a2acore.TaskStateCanceled, nil), nil)
	}
}
