package main

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"strings"
	"sync"
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

// binding is a2a-go's client for the agent over one protocol binding.
type binding struct {
	name   string
	client *a2aclient.Client
}

// serveScenarios serves an agent playing s over mTLS and returns a2a-go's
// client for it over JSON-RPC and over HTTP+JSON.
func serveScenarios(t *testing.T, s *scenarios) []binding {
	t.Helper()
	ca := identitytest.NewCA(t, agentID.TrustDomain())
	base := a2atest.Serve(t, ca.Source(ca.CreateX509SVID(agentID)), a2atest.Options{
		Name: "conformance", Description: "conformance scenarios",
		Engine:  a2a.EngineOptions{Capabilities: []a2a.Capability{s.capability()}},
		Callers: spiffeid.MatchID(clientID),
	}).URL
	hc, err := transport.NewClient(ca.Source(ca.CreateX509SVID(clientID)), spiffeid.MatchID(agentID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	hc.Transport = jsonMediaTypes{hc.Transport}
	var out []binding
	for _, p := range []a2acore.TransportProtocol{a2acore.TransportProtocolJSONRPC, a2acore.TransportProtocolHTTPJSON} {
		c, err := a2aclient.NewFromEndpoints(t.Context(),
			[]*a2acore.AgentInterface{{URL: base, ProtocolBinding: p, ProtocolVersion: a2acore.Version}},
			a2aclient.WithJSONRPCTransport(hc), a2aclient.WithRESTTransport(hc))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, binding{string(p), c})
	}
	return out
}

// forBindings runs f as a parallel subtest per binding.
func forBindings(t *testing.T, bs []binding, f func(t *testing.T, c *a2aclient.Client)) {
	t.Helper()
	for _, b := range bs {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			f(t, b.client)
		})
	}
}

// jsonMediaTypes presents A2A's JSON media types to a2a-go's client as
// application/json, the only type its HTTP+JSON client decodes errors from
// (a2a/client does the same for AgentWeave's own calls).
type jsonMediaTypes struct{ next http.RoundTripper }

func (m jsonMediaTypes) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := m.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "application/a2a+json") || strings.HasPrefix(ct, "application/problem+json") {
		resp.Header.Set("Content-Type", "application/json")
	}
	return resp, nil
}

// instant is the timing of tests that need no task held: nothing waits.
func instant() timing {
	return timing{Wait: func(ctx context.Context, _ a2acore.TaskID, _ time.Duration) error { return ctx.Err() }}
}

// gate holds each task that waits until the test releases it.
type gate struct {
	mu   sync.Mutex
	open map[a2acore.TaskID]chan struct{}
}

func (g *gate) ch(id a2acore.TaskID) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open == nil {
		g.open = map[a2acore.TaskID]chan struct{}{}
	}
	c, ok := g.open[id]
	if !ok {
		c = make(chan struct{})
		g.open[id] = c
	}
	return c
}

func (g *gate) wait(ctx context.Context, id a2acore.TaskID, _ time.Duration) error {
	select {
	case <-g.ch(id):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release lets task id's waits through (once).
func (g *gate) release(id a2acore.TaskID) {
	c := g.ch(id)
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-c:
	default:
		close(c)
	}
}

func (g *gate) timing() timing { return timing{Wait: g.wait} }

// message is a plain A2A message, as the older TCK sends it: the scenario
// in the message ID, no AgentWeave metadata.
func message(id string) *a2acore.SendMessageRequest {
	m := a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewTextPart("hi"))
	m.ID = id + "-" + a2acore.NewMessageID()
	return &a2acore.SendMessageRequest{Message: m}
}

func partJSON(p *a2acore.Part) string {
	b, _ := json.Marshal(p)
	return string(b)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func sendTask(t *testing.T, c *a2aclient.Client, req *a2acore.SendMessageRequest) *a2acore.Task {
	t.Helper()
	r, err := c.SendMessage(t.Context(), req)
	task, ok := r.(*a2acore.Task)
	if err != nil || !ok {
		t.Fatalf("SendMessage = %#v, %v; want a task", r, err)
	}
	return task
}

func statusText(task *a2acore.Task) string {
	if task.Status.Message == nil || len(task.Status.Message.Parts) == 0 {
		return ""
	}
	return task.Status.Message.Parts[0].Text()
}

func artifact(want string) func(*testing.T, *a2acore.Task) {
	return func(t *testing.T, task *a2acore.Task) {
		t.Helper()
		if len(task.Artifacts) != 1 || len(task.Artifacts[0].Parts) != 1 || !strings.Contains(partJSON(task.Artifacts[0].Parts[0]), want) {
			t.Errorf("artifacts = %s, want one part containing %s", mustJSON(task.Artifacts), want)
		}
	}
}

// kind describes an event: "task", "message", a status update's state
// ("working"), or an artifact update ("artifact:PARTS[:append][:last]").
func kind(ev a2acore.Event) string {
	switch v := ev.(type) {
	case *a2acore.Task:
		return "task"
	case *a2acore.Message:
		return "message"
	case *a2acore.TaskStatusUpdateEvent:
		return strings.ToLower(strings.TrimPrefix(string(v.Status.State), "TASK_STATE_"))
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
		return k
	}
	return "?"
}

// collect reads a stream to its end, or to the task's first interrupted
// state (input-required, auth-required), after which the stream stays open
// for the task's later events (A2A section 3.1.6).
func collect(t *testing.T, events iter.Seq2[a2acore.Event, error]) []a2acore.Event {
	t.Helper()
	var out []a2acore.Event
	for ev, err := range events {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		out = append(out, ev)
		if s, ok := ev.(*a2acore.TaskStatusUpdateEvent); ok && interrupted(s.Status.State) {
			break
		}
	}
	return out
}

func interrupted(s a2acore.TaskState) bool {
	return s == a2acore.TaskStateInputRequired || s == a2acore.TaskStateAuthRequired
}

// within is a context for one stream: a stream that never ends fails the
// test after 30s instead of hanging it.
func within(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func kinds(evs []a2acore.Event) string {
	var ks []string
	for _, ev := range evs {
		ks = append(ks, kind(ev))
	}
	return strings.Join(ks, " ")
}

// finalState is the state a stream ended in: its last event's.
func finalState(evs []a2acore.Event) a2acore.TaskState {
	if len(evs) == 0 {
		return ""
	}
	switch v := evs[len(evs)-1].(type) {
	case *a2acore.Task:
		return v.Status.State
	case *a2acore.TaskStatusUpdateEvent:
		return v.Status.State
	}
	return ""
}

// TestLegacyScenarios: the older TCK's scenarios, chosen by the message
// ID's prefix, on both bindings.
func TestLegacyScenarios(t *testing.T) {
	t.Parallel()
	bs := serveScenarios(t, newScenarios(instant()))
	tests := []struct {
		id    string
		state a2acore.TaskState
		check func(t *testing.T, task *a2acore.Task)
	}{
		{"tck-complete-task", a2acore.TaskStateCompleted, func(t *testing.T, task *a2acore.Task) {
			if got := statusText(task); got != "Hello from TCK" {
				t.Errorf("status message = %q, want Hello from TCK", got)
			}
		}},
		{"tck-artifact-text", a2acore.TaskStateCompleted, artifact(`{"text":"Generated text content"}`)},
		{"tck-artifact-file", a2acore.TaskStateCompleted, artifact(`"filename":"output.txt","mediaType":"text/plain"`)},
		{"tck-artifact-file-url", a2acore.TaskStateCompleted, artifact(`{"url":"https://example.com/output.txt","filename":"output.txt","mediaType":"text/plain"}`)},
		{"tck-artifact-data", a2acore.TaskStateCompleted, artifact(`{"data":{"count":42,"key":"value"}}`)},
		{"tck-input-required", a2acore.TaskStateInputRequired, nil},
		{"tck-reject-task", a2acore.TaskStateRejected, func(t *testing.T, task *a2acore.Task) {
			if got := statusText(task); got != "rejected" {
				t.Errorf("status message = %q, want rejected", got)
			}
		}},
	}
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		for _, tt := range tests {
			t.Run(tt.id, func(t *testing.T) {
				t.Parallel()
				task := sendTask(t, c, message(tt.id))
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
		// The older TCK finishes an input-required task with a message
		// whose ID names tck-complete-task: its scenarios are per message.
		t.Run("continuation", func(t *testing.T) {
			t.Parallel()
			task := sendTask(t, c, message("tck-input-required"))
			next := message("tck-complete-task-followup")
			next.Message.TaskID, next.Message.ContextID = task.ID, task.ContextID
			if got := sendTask(t, c, next); got.ID != task.ID || got.Status.State != a2acore.TaskStateCompleted {
				t.Errorf("continuation = task %s in %s, want task %s completed", got.ID, got.Status.State, task.ID)
			}
		})
	})
}

func TestLegacyStreamingScenarios(t *testing.T) {
	t.Parallel()
	g := &gate{}
	bs := serveScenarios(t, newScenarios(g.timing()))
	tests := map[string]string{
		"tck-stream-001":              `task working artifact:{"text":"Stream hello from TCK"}:last completed`,
		"tck-stream-002":              `task completed`,
		"tck-stream-003":              `task working artifact:{"text":"Stream task lifecycle"}:last completed`,
		"tck-stream-ordering-001":     `task working artifact:{"text":"Ordered output"}:last completed`,
		"tck-stream-artifact-text":    `task working artifact:{"text":"Streamed text content"}:last completed`,
		"tck-stream-artifact-chunked": `task working artifact:{"text":"chunk-1 "}:append artifact:{"text":"chunk-2"}:append:last completed`,
	}
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		for id, want := range tests {
			t.Run(id, func(t *testing.T) {
				t.Parallel()
				if got := kinds(collect(t, c.SendStreamingMessage(within(t), message(id)))); got != want {
					t.Errorf("events:\n got %s\nwant %s", got, want)
				}
			})
		}
		t.Run("tck-stream-artifact-file", func(t *testing.T) {
			t.Parallel()
			got := kinds(collect(t, c.SendStreamingMessage(within(t), message("tck-stream-artifact-file"))))
			if !strings.Contains(got, `"filename":"output.txt","mediaType":"text/plain"`) || !strings.HasSuffix(got, "completed") {
				t.Errorf("events = %s, want a file artifact then completed", got)
			}
		})
		// The resubscribe scenario stays working until released: the
		// client drops its stream, subscribes again and sees the end.
		t.Run("resubscribe", func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			var id a2acore.TaskID
			for ev, err := range c.SendStreamingMessage(ctx, message("test-resubscribe-message-id")) {
				if err != nil {
					t.Fatal(err)
				}
				if s, ok := ev.(*a2acore.TaskStatusUpdateEvent); ok && s.Status.State == a2acore.TaskStateWorking {
					id = s.TaskID
					break
				}
			}
			cancel()
			if id == "" {
				t.Fatal("the stream ended before the task was working")
			}
			var evs []a2acore.Event
			for ev, err := range c.SubscribeToTask(within(t), &a2acore.SubscribeToTaskRequest{ID: id}) {
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) == 0 {
					g.release(id)
				}
				evs = append(evs, ev)
			}
			if got := finalState(evs); got != a2acore.TaskStateCompleted {
				t.Errorf("resubscribed stream %s ended at %s, want completed", kinds(evs), got)
			}
		})
	})
}
