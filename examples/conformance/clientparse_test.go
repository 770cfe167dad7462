package main

import (
	"encoding/json"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/google/go-cmp/cmp"
)

// parseRequest is a tck-client-parse message, as the ACTS runner sends it.
func parseRequest(operation, payload string) *a2acore.SendMessageRequest {
	var wire any
	if err := json.Unmarshal([]byte(payload), &wire); err != nil {
		panic(err)
	}
	return &a2acore.SendMessageRequest{Message: a2acore.NewMessage(a2acore.MessageRoleUser,
		a2acore.NewTextPart("tck-client-parse"),
		a2acore.NewDataPart(map[string]any{"operation": operation, "wire_payload": wire}))}
}

// parsed runs tck-client-parse and returns the data part of the completed
// task's artifact, as JSON values.
func parsed(t *testing.T, c *a2aclient.Client, req *a2acore.SendMessageRequest) any {
	t.Helper()
	task := sendTask(t, c, req)
	if task.Status.State != a2acore.TaskStateCompleted || len(task.Artifacts) != 1 || len(task.Artifacts[0].Parts) != 1 {
		t.Fatalf("task in %s (%q) with artifacts %s; want completed with one", task.Status.State, statusText(task), mustJSON(task.Artifacts))
	}
	v := task.Artifacts[0].Parts[0].Data()
	if v == nil {
		t.Fatalf("artifact %s holds no data part", mustJSON(task.Artifacts[0]))
	}
	return v
}

func jsonOf(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestClientParse: tck-client-parse hands the payload to a2a/client and
// returns what it parsed, shaped as the operation's response, on both
// bindings of the agent.
func TestClientParse(t *testing.T) {
	t.Parallel()
	bs := serveScenarios(t, newScenarios(instant()))
	const task = `{"id":"task-123","contextId":"ctx-1","status":{"state":"TASK_STATE_COMPLETED"},` +
		`"artifacts":[{"artifactId":"a1","parts":[{"text":"hello"}]}]}`
	tests := []struct {
		name, operation, payload, want string
	}{
		{
			"send_message task", "send_message",
			`{"jsonrpc":"2.0","id":"req-001","result":{"task":` + task + `}}`,
			`{"task":` + task + `}`,
		},
		{
			"send_message message", "send_message",
			`{"jsonrpc":"2.0","id":"req-002","result":{"message":{"messageId":"m1","role":"ROLE_AGENT","parts":[{"text":"hi"}]}}}`,
			`{"message":{"messageId":"m1","role":"ROLE_AGENT","parts":[{"text":"hi"}]}}`,
		},
		{
			"get_task", "get_task",
			`{"jsonrpc":"2.0","id":7,"result":` + task + `}`,
			task,
		},
		{
			"get_task error", "get_task",
			`{"jsonrpc":"2.0","id":"req-004","error":{"code":-32001,"message":"Task not found"}}`,
			`{"error":{"code":-32001,"message":"Task not found"}}`,
		},
		{"get_task HTTP+JSON", "get_task", task, task},
		{
			"get_task HTTP+JSON error", "get_task",
			`{"error":{"code":404,"status":"NOT_FOUND","message":"Task not found","details":[` +
				`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"TASK_NOT_FOUND","domain":"a2a-protocol.org"}]}}`,
			`{"error":{"code":-32001,"message":"Task not found"}}`,
		},
	}
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				got := parsed(t, c, parseRequest(tt.operation, tt.payload))
				if diff := cmp.Diff(jsonOf(t, tt.want), got); diff != "" {
					t.Errorf("parsed (-want +got):\n%s", diff)
				}
			})
		}
		t.Run("get_agent_card", func(t *testing.T) {
			t.Parallel()
			card := `{"name":"Capability Gated Agent","description":"d","version":"1.0.0",` +
				`"supportedInterfaces":[{"url":"https://agent.example.com/a2a","protocolBinding":"JSONRPC","protocolVersion":"1.0"}],` +
				`"capabilities":{"streaming":false,"pushNotifications":true},` +
				`"defaultInputModes":["text/plain"],"defaultOutputModes":["text/plain"],` +
				`"skills":[{"id":"s","name":"s","description":"d","tags":["t"]}],` +
				`"securitySchemes":{"mtls":{"mtlsSecurityScheme":{}}},"securityRequirements":[{"schemes":{"mtls":{"list":[]}}}]}`
			for _, op := range []string{"get_agent_card", "get_extended_agent_card"} {
				got, ok := parsed(t, c, parseRequest(op, card)).(map[string]any)
				if !ok {
					t.Fatalf("%s: parsed %v, want a card", op, got)
				}
				want := map[string]any{"streaming": false, "pushNotifications": true, "extendedAgentCard": false}
				if diff := cmp.Diff(want, got["capabilities"]); diff != "" || got["name"] != "Capability Gated Agent" {
					t.Errorf("%s: card %s; capabilities (-want +got):\n%s", op, mustJSON(got), diff)
				}
			}
		})
		t.Run("unparseable", func(t *testing.T) {
			t.Parallel()
			got := parsed(t, c, parseRequest("get_task", `{"jsonrpc":"2.0","id":1,"result":{"status":"not a status"}}`))
			e, _ := got.(map[string]any)["error"].(map[string]any)
			if msg, _ := e["message"].(string); msg == "" {
				t.Errorf("parsed %s, want an error with a message", mustJSON(got))
			}
		})
		t.Run("extended card operation", func(t *testing.T) {
			t.Parallel()
			got := parsed(t, c, parseRequest("get_extended_agent_card", `{"jsonrpc":"2.0","id":1,"result":{"name":"x"}}`))
			if !strings.Contains(mustJSON(got), "GetExtendedAgentCard") {
				t.Errorf("parsed %s, want the missing operation named", mustJSON(got))
			}
		})
		t.Run("no payload", func(t *testing.T) {
			t.Parallel()
			for _, req := range []*a2acore.SendMessageRequest{actsMessage("tck-client-parse"), parseRequest("delete_everything", `{}`)} {
				if task := sendTask(t, c, req); task.Status.State != a2acore.TaskStateRejected {
					t.Errorf("task in %s (%q), want rejected", task.Status.State, statusText(task))
				}
			}
		})
	})
}

// TestRequestID: the canned peer answers with the request's JSON-RPC id.
func TestRequestID(t *testing.T) {
	t.Parallel()
	got := withRequestID([]byte(`{"jsonrpc":"2.0","id":"req-001","result":{}}`), []byte(`{"jsonrpc":"2.0","id":"5f1c","method":"GetTask"}`))
	if want := `{"id":"5f1c","jsonrpc":"2.0","result":{}}`; string(got) != want {
		t.Errorf("withRequestID = %s, want %s", got, want)
	}
	if got := withRequestID([]byte(`[1]`), []byte(`{"id":1}`)); string(got) != `[1]` {
		t.Errorf("withRequestID(not an object) = %s, want it unchanged", got)
	}
}
