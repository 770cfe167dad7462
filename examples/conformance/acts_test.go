package main

import (
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
)

// actsMessage is a message as the ACTS runner sends it: the behaviour in
// the first text part, a message ID naming nothing.
func actsMessage(text string) *a2acore.SendMessageRequest {
	return &a2acore.SendMessageRequest{Message: a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewTextPart(text))}
}

// answer is the client's next message in task: no behaviour named.
func answer(task *a2acore.Task, text string) *a2acore.SendMessageRequest {
	req := actsMessage(text)
	req.Message.TaskID, req.Message.ContextID = task.ID, task.ContextID
	return req
}

// returnImmediately sends req with returnImmediately.
func returnImmediately(req *a2acore.SendMessageRequest) *a2acore.SendMessageRequest {
	req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
	return req
}

// pollUntil reads the task until done says so, within 10s; it returns the
// task as last read.
func pollUntil(t *testing.T, c *a2aclient.Client, id a2acore.TaskID, done func(*a2acore.Task) bool) *a2acore.Task {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		task, err := c.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: id})
		if err != nil {
			t.Fatalf("GetTask(%s) = %v", id, err)
		}
		if done(task) {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still %s after 10s", id, task.Status.State)
		}
	}
}

func notSubmitted(task *a2acore.Task) bool { return task.Status.State != a2acore.TaskStateSubmitted }
func finished(task *a2acore.Task) bool     { return task.Status.State.Terminal() }

// TestACTSBehaviors runs each behaviour that needs no second message on
// both bindings, over SendMessage and over SendStreamingMessage: the task
// ends in the state acts/sut-behaviors.yaml claims for it.
func TestACTSBehaviors(t *testing.T) {
	t.Parallel()
	claims := contract(t)
	bs := serveScenarios(t, newScenarios(instant()))
	tests := []struct {
		behavior, text string
		check          func(t *testing.T, task *a2acore.Task)
		events         string // the stream's events, when the behaviour fixes them
	}{
		{"tck-complete-task", "tck-complete-task hello world", func(t *testing.T, task *a2acore.Task) {
			if got := statusText(task); got != "Hello from TCK" {
				t.Errorf("status message = %q, want Hello from TCK", got)
			}
		}, `task completed`},
		{"tck-complete-task", "tck-complete-task-001", nil, ""},
		{
			"tck-long-running", "tck-long-running", artifact(`{"text":"long running result"}`),
			`task working artifact:{"text":"long running result"}:last completed`,
		},
		{
			"tck-stream-basic", "tck-stream-basic go", artifact(`{"text":"streamed content"}`),
			`task working artifact:{"text":"streamed content"}:last completed`,
		},
		{"tck-stream-chunked", "tck-stream-chunked", func(t *testing.T, task *a2acore.Task) {
			var got string
			for _, a := range task.Artifacts {
				for _, p := range a.Parts {
					got += p.Text()
				}
			}
			if len(task.Artifacts) != 1 || got != "chunk one chunk two chunk three" {
				t.Errorf("artifacts = %s, want one holding the three chunks", mustJSON(task.Artifacts))
			}
		}, ""},
		{"tck-task-failure", "tck-task-failure", func(t *testing.T, task *a2acore.Task) {
			if got := statusText(task); !strings.Contains(got, "fails, as asked") {
				t.Errorf("status message = %q, want the error", got)
			}
		}, `task failed`},
		{"tck-artifact-text", "tck-artifact-text", artifact(`{"text":"Generated text content"}`), ""},
		{"tck-artifact-data", "tck-artifact-data", artifact(`{"data":{"count":42,"key":"value"}}`), ""},
		{"tck-artifact-file", "tck-artifact-file", artifact(`{"raw":"R2VuZXJhdGVkIGZpbGUgY29udGVudA==","filename":"output.txt","mediaType":"text/plain"}`), ""},
		{"tck-artifact-file-url", "tck-artifact-file-url please", artifact(`{"url":"https://example.com/output.txt","filename":"output.txt","mediaType":"text/plain"}`), ""},
		{"tck-input-required", "tck-input-required", func(t *testing.T, task *a2acore.Task) {
			if got := statusText(task); got == "" {
				t.Error("input-required without a question")
			}
		}, `task input_required`},
		{"tck-reject-task", "tck-reject-task", nil, `task rejected`},
	}
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		for _, tt := range tests {
			want := a2acore.TaskState(claims[tt.behavior].TerminalState)
			if claims[tt.behavior].ResponseType != "task" || want == "" {
				t.Fatalf("acts/sut-behaviors.yaml: %s: response_type %q, terminal_state %q; want a task and its state", tt.behavior, claims[tt.behavior].ResponseType, want)
			}
			t.Run(tt.text, func(t *testing.T) {
				t.Parallel()
				task := sendTask(t, c, actsMessage(tt.text))
				if task.Status.State != want {
					t.Fatalf("state = %s (%q), want %s", task.Status.State, statusText(task), want)
				}
				if tt.check != nil {
					tt.check(t, task)
				}
			})
			t.Run(tt.text+"/stream", func(t *testing.T) {
				t.Parallel()
				evs := collect(t, c.SendStreamingMessage(within(t), actsMessage(tt.text)))
				if got := finalState(evs); got != want {
					t.Fatalf("stream %s ended in %s, want %s", kinds(evs), got, want)
				}
				if _, ok := evs[0].(*a2acore.Task); !ok {
					t.Errorf("stream %s does not start with the task", kinds(evs))
				}
				if got := kinds(evs); tt.events != "" && got != tt.events {
					t.Errorf("events:\n got %s\nwant %s", got, tt.events)
				}
			})
		}
		t.Run("tck-message-response", func(t *testing.T) {
			t.Parallel()
			if rt := claims["tck-message-response"].ResponseType; rt != "message" {
				t.Fatalf("acts/sut-behaviors.yaml: tck-message-response: response_type %q, want message", rt)
			}
			r, err := c.SendMessage(t.Context(), actsMessage("tck-message-response"))
			if msg, ok := r.(*a2acore.Message); err != nil || !ok || msg.Parts[0].Text() != "Direct message response" {
				t.Fatalf("SendMessage = %#v, %v; want the direct message", r, err)
			}
			if got := kinds(collect(t, c.SendStreamingMessage(within(t), actsMessage("tck-message-response")))); got != "message" {
				t.Errorf("stream = %s, want one message", got)
			}
		})
	})
}

// TestACTSChunks: tck-stream-chunked streams one artifact as three pieces
// of the same ID, the later ones appended, only the last marked last.
func TestACTSChunks(t *testing.T) {
	t.Parallel()
	bs := serveScenarios(t, newScenarios(instant()))
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		var chunks []*a2acore.TaskArtifactUpdateEvent
		for _, ev := range collect(t, c.SendStreamingMessage(within(t), actsMessage("tck-stream-chunked"))) {
			if a, ok := ev.(*a2acore.TaskArtifactUpdateEvent); ok {
				chunks = append(chunks, a)
			}
		}
		if len(chunks) != 3 {
			t.Fatalf("%d artifact events, want 3", len(chunks))
		}
		for i, a := range chunks {
			if a.Artifact.ID != chunks[0].Artifact.ID || (i > 0 && !a.Append) || a.LastChunk != (i == 2) {
				t.Errorf("chunk %d: %s, want artifact %s, appended after the first, last only at the end", i, mustJSON(a), chunks[0].Artifact.ID)
			}
		}
	})
}

// TestACTSLongRunning: with returnImmediately, tck-long-running comes back
// unfinished; polling sees it working (never completed first), then
// completed with its artifact.
func TestACTSLongRunning(t *testing.T) {
	t.Parallel()
	want := a2acore.TaskState(contract(t)["tck-long-running"].TerminalState)
	g := &gate{}
	bs := serveScenarios(t, newScenarios(g.timing()))
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		task := sendTask(t, c, returnImmediately(actsMessage("tck-long-running")))
		if s := task.Status.State; s.Terminal() || s == a2acore.TaskStateInputRequired {
			t.Fatalf("returnImmediately: task in %s, want it unfinished", s)
		}
		if seen := pollUntil(t, c, task.ID, notSubmitted); seen.Status.State != a2acore.TaskStateWorking {
			t.Fatalf("first state after submitted = %s, want working", seen.Status.State)
		}
		g.release(task.ID)
		done := pollUntil(t, c, task.ID, finished)
		if done.Status.State != want {
			t.Fatalf("state = %s, want %s", done.Status.State, want)
		}
		artifact(`{"text":"long running result"}`)(t, done)
	})
}

// TestACTSSubscribe: the streaming behaviours (and tck-long-running) on
// SubscribeToTask: a subscriber that joins while the task is held sees
// the rest of it, to the final event.
func TestACTSSubscribe(t *testing.T) {
	t.Parallel()
	g := &gate{}
	bs := serveScenarios(t, newScenarios(g.timing()))
	tests := map[string]string{
		"tck-stream-basic":   `artifact:{"text":"streamed content"}:last completed`,
		"tck-stream-chunked": `artifact:{"text":"chunk three"}:append:last completed`,
		"tck-long-running":   `artifact:{"text":"long running result"}:last completed`,
	}
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		for behavior, tail := range tests {
			t.Run(behavior, func(t *testing.T) {
				t.Parallel()
				task := sendTask(t, c, returnImmediately(actsMessage(behavior)))
				var evs []a2acore.Event
				for ev, err := range c.SubscribeToTask(within(t), &a2acore.SubscribeToTaskRequest{ID: task.ID}) {
					if err != nil {
						t.Fatal(err)
					}
					if len(evs) == 0 {
						g.release(task.ID) // subscribed: let the task go on
					}
					evs = append(evs, ev)
				}
				got := kinds(evs)
				if _, ok := evs[0].(*a2acore.Task); !ok || !strings.HasSuffix(got, tail) {
					t.Errorf("subscription = %s, want the task first and %s last", got, tail)
				}
			})
		}
	})
}

// TestACTSMultiTurn: tck-multi-turn asks for input until a message starts
// with done. The behaviour belongs to the task: answers name none, and
// one that names another behaviour (in its text or its message ID) is
// still an answer.
func TestACTSMultiTurn(t *testing.T) {
	t.Parallel()
	want := a2acore.TaskState(contract(t)["tck-multi-turn"].TerminalState)
	bs := serveScenarios(t, newScenarios(instant()))
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		task := sendTask(t, c, actsMessage("tck-multi-turn start"))
		if task.Status.State != a2acore.TaskStateInputRequired {
			t.Fatalf("first turn: %s, want input_required", task.Status.State)
		}
		other := answer(task, "tck-complete-task")
		other.Message.ID = "tck-complete-task-" + a2acore.NewMessageID()
		for _, req := range []*a2acore.SendMessageRequest{answer(task, "here is more input"), other} {
			if got := sendTask(t, c, req); got.ID != task.ID || got.Status.State != a2acore.TaskStateInputRequired {
				t.Fatalf("answer %q: task %s in %s, want task %s input_required", req.Message.Parts[0].Text(), got.ID, got.Status.State, task.ID)
			}
		}
		// The last turn over a stream: it ends with the task's end.
		evs := collect(t, c.SendStreamingMessage(within(t), answer(task, "Done, thanks")))
		if got := finalState(evs); got != want {
			t.Fatalf("done: stream %s ended in %s, want %s", kinds(evs), got, want)
		}
	})
}

// TestACTSInputRequired: tck-input-required asks again at every answer.
func TestACTSInputRequired(t *testing.T) {
	t.Parallel()
	bs := serveScenarios(t, newScenarios(instant()))
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		task := sendTask(t, c, actsMessage("tck-input-required"))
		for _, text := range []string{"here you are", "done"} {
			if got := sendTask(t, c, answer(task, text)); got.ID != task.ID || got.Status.State != a2acore.TaskStateInputRequired {
				t.Fatalf("answer %q: task %s in %s, want task %s input_required", text, got.ID, got.Status.State, task.ID)
			}
		}
	})
}

// TestACTSCancel: tck-cancel works until canceled, polled or streamed.
func TestACTSCancel(t *testing.T) {
	t.Parallel()
	want := a2acore.TaskState(contract(t)["tck-cancel"].TerminalState)
	bs := serveScenarios(t, newScenarios(instant()))
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		t.Run("polled", func(t *testing.T) {
			t.Parallel()
			task := sendTask(t, c, returnImmediately(actsMessage("tck-cancel start")))
			if seen := pollUntil(t, c, task.ID, notSubmitted); seen.Status.State != a2acore.TaskStateWorking {
				t.Fatalf("state = %s, want working", seen.Status.State)
			}
			canceled, err := c.CancelTask(t.Context(), &a2acore.CancelTaskRequest{ID: task.ID})
			if err != nil || canceled.Status.State != want {
				t.Fatalf("CancelTask = %v, %v; want %s", canceled, err, want)
			}
			if got := pollUntil(t, c, task.ID, finished); got.Status.State != want {
				t.Errorf("after cancel: %s, want %s", got.Status.State, want)
			}
		})
		t.Run("streamed", func(t *testing.T) {
			t.Parallel()
			var evs []a2acore.Event
			for ev, err := range c.SendStreamingMessage(within(t), actsMessage("tck-cancel")) {
				if err != nil {
					t.Fatal(err)
				}
				evs = append(evs, ev)
				if s, ok := ev.(*a2acore.TaskStatusUpdateEvent); ok && s.Status.State == a2acore.TaskStateWorking {
					if _, err := c.CancelTask(t.Context(), &a2acore.CancelTaskRequest{ID: s.TaskID}); err != nil {
						t.Fatalf("CancelTask = %v", err)
					}
				}
			}
			if got := finalState(evs); got != want {
				t.Errorf("stream %s ended in %s, want %s", kinds(evs), got, want)
			}
		})
	})
}

// TestACTSUnknown: a "tck-" text naming no behaviour fails the task,
// naming the behaviours there are (or why one is missing).
func TestACTSUnknown(t *testing.T) {
	t.Parallel()
	bs := serveScenarios(t, newScenarios(instant()))
	tests := map[string]string{
		"tck-no-such-behaviour please": `"tck-no-such-behaviour"`,
		"tck-complete-taskx":           "tck-complete-task, tck-input-required",
		"tck-auth-required":            "not played yet",
	}
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		for text, want := range tests {
			t.Run(text, func(t *testing.T) {
				t.Parallel()
				task := sendTask(t, c, actsMessage(text))
				if task.Status.State != a2acore.TaskStateFailed || !strings.Contains(statusText(task), want) {
					t.Errorf("task in %s (%q), want failed saying %s", task.Status.State, statusText(task), want)
				}
			})
		}
	})
}

// TestContractsTogether: ACTS's text decides over the older TCK's message
// ID; a message whose first part is not text is the older TCK's.
func TestContractsTogether(t *testing.T) {
	t.Parallel()
	bs := serveScenarios(t, newScenarios(instant()))
	forBindings(t, bs, func(t *testing.T, c *a2aclient.Client) {
		req := actsMessage("tck-reject-task")
		req.Message.ID = "tck-complete-task-" + a2acore.NewMessageID()
		if got := sendTask(t, c, req); got.Status.State != a2acore.TaskStateRejected {
			t.Errorf("text tck-reject-task, ID tck-complete-task: %s, want rejected", got.Status.State)
		}
		req = &a2acore.SendMessageRequest{Message: a2acore.NewMessage(a2acore.MessageRoleUser,
			a2acore.NewDataPart(map[string]any{"x": 1}), a2acore.NewTextPart("tck-reject-task"))}
		req.Message.ID = "tck-complete-task-" + a2acore.NewMessageID()
		if got := sendTask(t, c, req); got.Status.State != a2acore.TaskStateCompleted {
			t.Errorf("data first, ID tck-complete-task: %s, want completed", got.Status.State)
		}
		r, err := c.SendMessage(t.Context(), actsMessage("hello"))
		if msg, ok := r.(*a2acore.Message); err != nil || !ok || msg.Parts[0].Text() != "Echo: hello" {
			t.Errorf("no scenario: %#v, %v; want the echo", r, err)
		}
	})
}

func TestACTSName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		text, want string
		ok         bool
	}{
		{"tck-artifact-file-url doc", "tck-artifact-file-url", true},
		{"tck-artifact-file doc", "tck-artifact-file", true},
		{"tck-artifact-file", "tck-artifact-file", true},
		{"  tck-cancel start", "tck-cancel", true},
		{"tck-complete-task-001", "tck-complete-task", true},
		{"tck-complete-task: go", "tck-complete-task", true},
		{"tck-complete-taskx", "", false},
		{"tck-complet-task", "", false},
		{"tck-auth-required", "", false},
		{"TCK-complete-task", "", false},
		{"hello tck-complete-task", "", false},
	}
	for _, tt := range tests {
		if got, ok := actsName(tt.text); got != tt.want || ok != tt.ok {
			t.Errorf("actsName(%q) = %q, %v; want %q, %v", tt.text, got, ok, tt.want, tt.ok)
		}
	}
}

// TestTaskMemory: the memory keeps the newest tasks within its limit.
func TestTaskMemory(t *testing.T) {
	t.Parallel()
	m := taskMemory{limit: 2}
	for _, id := range []a2acore.TaskID{"a", "b", "c"} {
		m.remember(id, "tck-multi-turn")
	}
	m.forget("b")
	m.remember("d", "tck-input-required")
	for id, want := range map[a2acore.TaskID]bool{"a": false, "b": false, "c": true, "d": true} {
		if _, ok := m.recall(id); ok != want {
			t.Errorf("recall(%s) = %v, want %v", id, ok, want)
		}
	}
	for i := range 100 {
		m.remember(a2acore.TaskID(rune('e'+i)), "x")
	}
	if len(m.byID) != 2 || len(m.order) > 4 {
		t.Errorf("after 100 more: %d tasks, %d in order; want 2 and at most 4", len(m.byID), len(m.order))
	}
}
