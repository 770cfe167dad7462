package a2a_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// streamAnswer sends a streaming request as alice with an Accept header
// and returns the status, Content-Type and body.
func streamAnswer(t *testing.T, e *env, method, path, body, version, accept string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, e.Base+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if version != "" {
		req.Header.Set("A2A-Version", version)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := e.HTTPClient(aliceID).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(raw)
}

// TestStreamErrorsBeforeTheFirstEvent: an error a stream meets before its
// first event (permission denied, invalid params, an unknown or finished
// task, an unsupported version) is an ordinary error: a JSON-RPC error
// response, an HTTP+JSON 4xx with the error body; never a 200
// text/event-stream carrying it. Over JSON-RPC that needs a client that
// accepts JSON (a2a-go's client asks for text/event-stream alone and gets
// the error as the stream's event, which is all it can read).
func TestStreamErrorsBeforeTheFirstEvent(t *testing.T) {
	t.Parallel()
	policy := authz.AuthorizerFunc(func(_ context.Context, in *authz.Input) (authz.Decision, error) {
		return authz.Decision{Allow: in.Action != "boom", Reason: "boom is off limits"}, nil
	})
	e := newEnvWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Enforcer = &authz.Enforcer{Authorizer: policy}
	})
	done := asTask(t)(e.Client(aliceID, a2acore.TransportProtocolJSONRPC).SendMessage(t.Context(), call("echo", nil)))
	msg := func(capability string) string {
		b, _ := json.Marshal(call(capability, nil))
		return string(b)
	}
	tests := []struct {
		name      string
		rpcMethod string
		params    string
		restPath  string // POST with params as body for message:stream, GET otherwise
		version   string
		code      int // JSON-RPC
		status    int // HTTP+JSON
		reason    string
	}{
		{"unknown task", "SubscribeToTask", `{"id":"nope"}`, "/tasks/nope:subscribe", "1.0", -32001, http.StatusNotFound, "TASK_NOT_FOUND"},
		{"finished task", "SubscribeToTask", `{"id":"` + string(done.ID) + `"}`, "/tasks/" + string(done.ID) + ":subscribe", "1.0", -32004, http.StatusBadRequest, "UNSUPPORTED_OPERATION"},
		{"denied", "SendStreamingMessage", msg("boom"), "/message:stream", "1.0", -31403, http.StatusForbidden, "PERMISSION_DENIED"},
		{"invalid params", "SendStreamingMessage", msg("nope"), "/message:stream", "1.0", -32602, http.StatusBadRequest, "INVALID_PARAMS"},
		{"unsupported version", "SubscribeToTask", `{"id":"nope"}`, "/tasks/nope:subscribe", "9.9", -32009, http.StatusBadRequest, "VERSION_NOT_SUPPORTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, accept := range []string{"", "text/event-stream, application/json", "*/*"} {
				status, ct, body := streamAnswer(t, e, http.MethodPost, "/", `{"jsonrpc":"2.0","id":"r1","method":"`+tt.rpcMethod+`","params":`+tt.params+`}`, tt.version, accept)
				var out struct {
					ID    string
					Error *struct{ Code int }
				}
				if status != http.StatusOK || !strings.HasPrefix(ct, "application/json") || json.Unmarshal([]byte(body), &out) != nil ||
					out.Error == nil || out.Error.Code != tt.code || out.ID != "r1" {
					t.Errorf("JSON-RPC (Accept %q): %d %s %s; want a JSON-RPC error %d for id r1", accept, status, ct, body, tt.code)
				}
			}
			method, body := http.MethodGet, ""
			if tt.rpcMethod == "SendStreamingMessage" {
				method, body = http.MethodPost, tt.params
			}
			status, ct, raw := streamAnswer(t, e, method, tt.restPath, body, tt.version, "text/event-stream")
			if status != tt.status || !strings.HasPrefix(ct, "application/json") || !strings.Contains(raw, tt.reason) {
				t.Errorf("HTTP+JSON %s %s: %d %s %s; want %d with %s", method, tt.restPath, status, ct, raw, tt.status, tt.reason)
			}
		})
	}
	// A client that accepts only an event stream gets the error as its
	// first event, typed as a2a-go's own client reads it.
	status, ct, body := streamAnswer(t, e, http.MethodPost, "/", `{"jsonrpc":"2.0","id":1,"method":"SubscribeToTask","params":{"id":"nope"}}`, "1.0", "text/event-stream")
	if status != http.StatusOK || ct != "text/event-stream" || !strings.Contains(body, `"code":-32001`) {
		t.Errorf("Accept text/event-stream alone: %d %s %s; want the error as an SSE event", status, ct, body)
	}
	if err := firstError(t, e.RawClient(aliceID, a2acore.TransportProtocolJSONRPC).SubscribeToTask(t.Context(), &a2acore.SubscribeToTaskRequest{ID: "nope"})); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("a2a-go's own client: %v, want TaskNotFound", err)
	}
	// A stream that begins well streams as before.
	status, ct, body = streamAnswer(t, e, http.MethodPost, "/", `{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":`+msg("echo")+`}`, "1.0", "")
	if status != http.StatusOK || ct != "text/event-stream" || !strings.Contains(body, `"task"`) || !strings.Contains(body, "TASK_STATE_COMPLETED") {
		t.Errorf("a good stream: %d %s %s", status, ct, body)
	}
	status, ct, body = streamAnswer(t, e, http.MethodPost, "/message:stream", msg("echo"), "1.0", "text/event-stream")
	if status != http.StatusOK || ct != "text/event-stream" || !strings.Contains(body, "TASK_STATE_COMPLETED") {
		t.Errorf("a good HTTP+JSON stream: %d %s %s", status, ct, body)
	}
}
