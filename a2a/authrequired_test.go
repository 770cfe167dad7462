package a2a_test

import (
	"context"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/identity"
)

// A handler that needs the caller's authorization moves the task to
// auth-required (Request.RequireAuth); the caller's next message on the
// task runs it again, on both bindings.
func TestAuthRequiredThenResume(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Capabilities = append(o.Capabilities, a2a.Capability{
			Name: "login", Description: "needs a token first",
			Handler: func(ctx context.Context, r *a2a.Request) (any, error) {
				if r.Text() == "token" {
					return "in", nil
				}
				return nil, r.RequireAuth(ctx, "send a token")
			},
		})
	})
	for _, binding := range []a2acore.TransportProtocol{a2acore.TransportProtocolJSONRPC, a2acore.TransportProtocolHTTPJSON} {
		c := e.Client(aliceID, binding)
		req := call("login", nil)
		req.Message.Parts = a2acore.ContentParts{a2acore.NewTextPart("hello")}
		task := asTask(t)(c.SendMessage(t.Context(), req))
		if task.Status.State != a2acore.TaskStateAuthRequired || task.Status.Message == nil || task.Status.Message.Parts[0].Text() != "send a token" {
			t.Fatalf("%s: status = %+v, want auth-required asking for a token", binding, task.Status)
		}
		answer := a2acore.NewMessageForTask(a2acore.MessageRoleUser, task, a2acore.NewTextPart("token"))
		done := asTask(t)(c.SendMessage(t.Context(), &a2acore.SendMessageRequest{Message: answer}))
		if done.ID != task.ID || done.Status.State != a2acore.TaskStateCompleted || len(done.Artifacts) != 1 {
			t.Fatalf("%s: after the token: %s %s with %d artifacts, want %s completed with the result", binding, done.ID, done.Status.State, len(done.Artifacts), task.ID)
		}
	}
}
