package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

var (
	agentID  = spiffeid.RequireFromString("spiffe://example.org/agent/conformance/dev")
	clientID = spiffeid.RequireFromString("spiffe://example.org/agent/tck/dev")
)

func init() { resubscribeDelay = 300 * time.Millisecond }

// tckClient serves the conformance agent over mTLS and returns a2a-go's client
// for it, over the JSON-RPC binding.
func tckClient(t *testing.T) *a2aclient.Client {
	t.Helper()
	ca := identitytest.NewCA(t, agentID.TrustDomain())
	base := a2atest.Serve(t, ca.Source(ca.CreateX509SVID(agentID)), a2atest.Options{
		Name: "conformance", Description: "TCK",
		Engine:  a2a.EngineOptions{Capabilities: []a2a.Capability{tck()}},
		Callers: spiffeid.MatchID(clientID),
	}).URL
	hc, err := transport.NewClient(ca.Source(ca.CreateX509SVID(clientID)), spiffeid.MatchID(agentID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	c, err := a2aclient.NewFromEndpoints(t.Context(), []*a2acore.AgentInterface{{URL: base, ProtocolBinding: a2acore.TransportProtocolJSONRPC, ProtocolVersion: a2acore.Version}}, a2aclient.WithJSONRPCTransport(hc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A plain A2A message, as the TCK sends it: no AgentWeave metadata.
func message(id string) *a2acore.SendMessageRequest {
	m := a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewTextPart("hi"))
	m.ID = id + "-" + a2acore.NewMessageID()
	return &a2acore.SendMessageRequest{Message: m}
}

func partJSON(p *a2acore.Part) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func TestScenarios(t *testing.T) {
	t.Parallel()
	c := tckClient(t)
	tests := []struct {
		id    string
		state a2acore.TaskState
		check func(t *testing.T, task *a2acore.Task)
	}{
		{"tck-complete-task", a2acore.TaskStateCompleted, func(t *testing.T, task *a2acore.Task) {
			if task.Status.Message == nil || task.Status.Message.Parts[0].Text() != "Hello from TCK" {
				t.Errorf("status message = %+v", task.Status.Message)
			}
		}},
		{"tck-artifact-text", a2acore.TaskStateCompleted, artifact(`{"text":"Generated text content"}`)},
		{"tck-artifact-file", a2acore.TaskStateCompleted, artifact(`"filename":"output.txt","mediaType":"text/plain"`)},
		{"tck-artifact-file-url", a2acore.TaskStateCompleted, artifact(`{"url":"https://example.com/output.txt","filename":"output.txt","mediaType":"text/plain"}`)},
		{"tck-artifact-data", a2acore.TaskStateCompleted, artifact(`{"data":{"count":42,"key":"value"}}`)},
		{"tck-input-required", a2acore.TaskStateInputRequired, nil},
		{"tck-reject-task", a2acore.TaskStateRejected, func(t *testing.T, task *a2acore.Task) {
			if task.Status.Message == nil || task.Status.Message.Parts[0].Text() != "rejected" {
				t.Errorf("status message = %+v", task.Status.Message)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			r, err := c.SendMessage(t.Context(), message(tt.id))
			task, ok := r.(*a2acore.Task)
			if err != nil || !ok {
				t.Fatalf("SendMessage = %#v, %v; want a task", r, err)
			}
			if task.Status.State != tt.state {
				t.Fatalf("state = %s, want %s", task.Status.State, tt.state)
			}
			if tt.check != nil {
				tt.check(t, task)
			}
		})
	}
	t.Run("tck-message-response", func(t *testing.T) {
		t.Parallel()
		r, err := c.SendMessage(t.Context(), message("tck-message-response"))
		msg, ok := r.(*a2acore.Message)
		if err != nil || !ok || msg.Parts[0].Text() != "Direct message response" {
			t.Fatalf("SendMessage = %#v, %v; want the direct message", r, err)
		}
	})
}

func artifact(want string) func(*testing.T, *a2acore.Task) {
	return func(t *testing.T, task *a2acore.Task) {
		t.Helper()
		if len(task.Artifacts) != 1 || len(task.Artifacts[0].Parts) != 1 || !strings.Contains(partJSON(task.Artifacts[0].Parts[0]), want) {
			t.Errorf("artifacts = %s, want one part containing %s", mustJSON(task.Artifacts), want)
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// streamKinds runs a streaming scenario and describes its events.
func streamKinds(t *testing.T, c *a2aclient.Client, id string) []string {
	t.Helper()
	var kinds []string
	for ev, err := range c.SendStreamingMessage(t.Context(), message(id)) {
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		switch v := ev.(type) {
		case *a2acore.Task:
			kinds = append(kinds, "task")
		case *a2acore.Message:
			kinds = append(kinds, "message")
		case *a2acore.TaskStatusUpdateEvent:
			kinds = append(kinds, strings.ToLower(strings.TrimPrefix(string(v.Status.State), "TASK_STATE_")))
		case *a2acore.TaskArtifactUpdateEvent:
			k := "artifact"
			for _, p := range v.Artifact.Parts {
				k += ":" + partJSON(p)
			}
			if v.Append {
				k += ":append"
			}
			if v.LastChunk {
				k += ":last"
			}
			kinds = append(kinds, k)
		}
	}
	return kinds
}

func TestStreamingScenarios(t *testing.T) {
	t.Parallel()
	c := tckClient(t)
	tests := map[string]string{
		"tck-stream-001":              `task working artifact:{"text":"Stream hello from TCK"}:last completed`,
		"tck-stream-002":              `task completed`,
		"tck-stream-003":              `task working artifact:{"text":"Stream task lifecycle"}:last completed`,
		"tck-stream-ordering-001":     `task working artifact:{"text":"Ordered output"}:last completed`,
		"tck-stream-artifact-text":    `task working artifact:{"text":"Streamed text content"}:last completed`,
		"tck-stream-artifact-chunked": `task working artifact:{"text":"chunk-1 "}:append artifact:{"text":"chunk-2"}:append:last completed`,
		"test-resubscribe-message-id": `task working completed`,
	}
	for id, want := range tests {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			if got := strings.Join(streamKinds(t, c, id), " "); got != want {
				t.Errorf("events:\n got %s\nwant %s", got, want)
			}
		})
	}
	t.Run("tck-stream-artifact-file", func(t *testing.T) {
		t.Parallel()
		got := strings.Join(streamKinds(t, c, "tck-stream-artifact-file"), " ")
		if !strings.Contains(got, `"filename":"output.txt","mediaType":"text/plain"`) || !strings.HasSuffix(got, "completed") {
			t.Errorf("events = %s, want a file artifact then completed", got)
		}
	})
	t.Run("resubscribe", func(t *testing.T) {
		t.Parallel()
		req := message("test-resubscribe-message-id")
		req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
		r, err := c.SendMessage(t.Context(), req)
		task, ok := r.(*a2acore.Task)
		if err != nil || !ok {
			t.Fatalf("SendMessage = %#v, %v", r, err)
		}
		var last a2acore.TaskState
		for ev, err := range c.SubscribeToTask(t.Context(), &a2acore.SubscribeToTaskRequest{ID: task.ID}) {
			if err != nil {
				t.Fatal(err)
			}
			if s, ok := ev.(*a2acore.TaskStatusUpdateEvent); ok {
				last = s.Status.State
			}
		}
		if last != a2acore.TaskStateCompleted {
			t.Errorf("resubscribed stream ended at %s, want completed", last)
		}
	})
}
