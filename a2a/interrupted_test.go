package a2a_test

import (
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// describe names a stream event for comparisons: "task:<state>",
// "<state>" for a status update, "artifact", or its type.
func describe(ev a2acore.Event) string {
	switch v := ev.(type) {
	case *a2acore.Task:
		return "task:" + strings.TrimPrefix(string(v.Status.State), "TASK_STATE_")
	case *a2acore.TaskStatusUpdateEvent:
		return strings.TrimPrefix(string(v.Status.State), "TASK_STATE_")
	case *a2acore.TaskArtifactUpdateEvent:
		return "artifact"
	}
	return fmt.Sprintf("%T", ev)
}

// waitingTask returns the task an event says is waiting for input.
func waitingTask(ev a2acore.Event) (a2acore.TaskInfo, bool) {
	switch v := ev.(type) {
	case *a2acore.Task:
		return v.TaskInfo(), v.Status.State == a2acore.TaskStateInputRequired
	case *a2acore.TaskStatusUpdateEvent:
		return v.TaskInfo(), v.Status.State == a2acore.TaskStateInputRequired
	}
	return a2acore.TaskInfo{}, false
}

// TestStreamsStayOpenWhileInterrupted: a task that asks for input keeps
// its streams open until it reaches a terminal state, on both bindings:
// SubscribeToTask's (A2A §3.1.6: "The stream MUST terminate when the task
// reaches a terminal state") and SendStreamingMessage's (§3.1.2: "The
// stream MUST close when the task reaches a terminal state"; §7.6.1: an
// agent "SHOULD maintain any active response streams" while it waits). The
// answer, sent on the task with SendMessage, continues the open stream.
func TestStreamsStayOpenWhileInterrupted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, b := range []a2acore.TransportProtocol{a2acore.TransportProtocolJSONRPC, a2acore.TransportProtocolHTTPJSON} {
		c := e.Client(aliceID, b)
		// answering reads a stream; at the question it answers the task
		// with SendMessage (the stream stays open meanwhile) and reads on.
		answering := func(t *testing.T, events iter.Seq2[a2acore.Event, error]) []string {
			t.Helper()
			var got []string
			for ev, err := range events {
				if err != nil {
					t.Fatalf("stream error after %v: %v", got, err)
				}
				got = append(got, describe(ev))
				if task, waiting := waitingTask(ev); waiting {
					answer := a2acore.NewMessageForTask(a2acore.MessageRoleUser, task, a2acore.NewTextPart("42"))
					done := asTask(t)(c.SendMessage(t.Context(), &a2acore.SendMessageRequest{Message: answer}))
					if done.Status.State != a2acore.TaskStateCompleted {
						t.Fatalf("the answer left the task %s", done.Status.State)
					}
				}
			}
			return got
		}
		t.Run(string(b)+"/SendStreamingMessage", func(t *testing.T) {
			t.Parallel()
			got := strings.Join(answering(t, c.SendStreamingMessage(t.Context(), call("ask", nil))), " ")
			if want := "task:SUBMITTED WORKING INPUT_REQUIRED WORKING COMPLETED"; got != want {
				t.Errorf("events = %s\nwant     %s", got, want)
			}
		})
		t.Run(string(b)+"/SubscribeToTask", func(t *testing.T) {
			t.Parallel()
			task := asTask(t)(c.SendMessage(t.Context(), call("ask", nil)))
			if task.Status.State != a2acore.TaskStateInputRequired {
				t.Fatalf("state = %s, want input-required", task.Status.State)
			}
			got := strings.Join(answering(t, c.SubscribeToTask(t.Context(), &a2acore.SubscribeToTaskRequest{ID: task.ID})), " ")
			if want := "task:INPUT_REQUIRED WORKING COMPLETED"; got != want {
				t.Errorf("events = %s\nwant     %s", got, want)
			}
		})
	}
}

// TestInterruptedStreamEndsAtClose: the stream of a task waiting for input
// ends when the engine closes (nothing more can come), rather than holding
// its connection and the server's shutdown.
func TestInterruptedStreamEndsAtClose(t *testing.T) {
	t.Parallel()
	e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: capabilities(nil)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := identity.WithPeerID(t.Context(), aliceID)
	task := asTask(t)(e.SendMessage(ctx, call("ask", nil)))
	events := make(chan string)
	go func() {
		defer close(events)
		for ev, err := range e.SubscribeToTask(ctx, &a2acore.SubscribeToTaskRequest{ID: task.ID}) {
			if err != nil {
				events <- "error: " + err.Error()
				return
			}
			events <- describe(ev)
		}
	}()
	if first := <-events; first != "task:INPUT_REQUIRED" {
		t.Fatalf("first event = %s, want the waiting task", first)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case ev, open := <-events:
		if open {
			t.Errorf("after Close the stream yielded %s, want its end", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the stream of a task waiting for input did not end at Close")
	}
}
