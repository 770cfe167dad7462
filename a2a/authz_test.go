package a2a_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// TestPolicyOnEveryOperation: the policy is asked before anything else for
// every operation; a denial (or a failed decision) stops the call, with the
// reason, and every decision is recorded.
func TestPolicyOnEveryOperation(t *testing.T) {
	t.Parallel()
	audit := &decisions{}
	ran := make(chan string, 10)
	policy := authz.AuthorizerFunc(func(_ context.Context, in *authz.Input) (authz.Decision, error) {
		switch {
		case in.Direction != authz.Inbound || in.CalleeSPIFFEID != agentID.String() || in.CallerTrustDomain != "example.org":
			return authz.Decision{}, errors.New("malformed input")
		case in.Action == "fail":
			return authz.Decision{}, errors.New("policy engine exploded")
		case strings.HasSuffix(in.CallerSPIFFEID, "/bob/dev"):
			return authz.Decision{Allow: false, Reason: "bob may do nothing"}, nil
		case in.Action == "boom":
			return authz.Decision{Allow: false, Reason: "boom is off limits"}, nil
		}
		return authz.Decision{Allow: true, PolicyRevision: "test"}, nil
	})
	e := newEnvWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Enforcer = &authz.Enforcer{Authorizer: policy, Auditor: audit, RequireAudit: true}
		for i, c := range o.Capabilities {
			h := c.Handler
			name := c.Name
			o.Capabilities[i].Handler = func(ctx context.Context, call *a2a.Request) (any, error) {
				ran <- name
				return h(ctx, call)
			}
		}
	})
	alice, bob := e.Client(aliceID, a2acore.TransportProtocolJSONRPC), e.Client(bobID, a2acore.TransportProtocolJSONRPC)

	task := asTask(t)(alice.SendMessage(t.Context(), call("echo", nil)))
	if got := <-ran; got != "echo" {
		t.Fatalf("ran %s, want echo", got)
	}
	denied := func(what string, err error, reason string) {
		t.Helper()
		if !errors.Is(err, a2acore.ErrUnauthorized) || !strings.Contains(err.Error(), reason) {
			t.Errorf("%s: error = %v, want permission denied saying %q", what, err, reason)
		}
		// The caller gets the decision as data, not only as text.
		if d, ok := a2a.DenialOf(err); !ok || !strings.Contains(d.Reason, reason) || !strings.HasPrefix(d.AuditID, "a-") {
			t.Errorf("%s: DenialOf = %+v, %v; want the reason and the callee's audit ID", what, d, ok)
		}
	}
	_, err := alice.SendMessage(t.Context(), call("boom", nil))
	denied("alice boom", err, "boom is off limits")
	_, err = alice.SendMessage(t.Context(), call("fail", nil))
	denied("policy error", err, "policy decision failed: policy engine exploded")
	_, err = bob.SendMessage(t.Context(), call("echo", nil))
	denied("bob SendMessage", err, "bob may do nothing")
	_, err = bob.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: task.ID})
	denied("bob GetTask", err, "bob may do nothing")
	_, err = bob.ListTasks(t.Context(), &a2acore.ListTasksRequest{})
	denied("bob ListTasks", err, "bob may do nothing")
	_, err = bob.CancelTask(t.Context(), &a2acore.CancelTaskRequest{ID: task.ID})
	denied("bob CancelTask", err, "bob may do nothing")
	denied("bob SubscribeToTask", firstError(t, bob.SubscribeToTask(t.Context(), &a2acore.SubscribeToTaskRequest{ID: task.ID})), "bob may do nothing")
	denied("bob SendStreamingMessage", firstError(t, bob.SendStreamingMessage(t.Context(), call("echo", nil))), "bob may do nothing")
	_, err = bob.GetExtendedAgentCard(t.Context(), &a2acore.GetExtendedAgentCardRequest{})
	denied("bob GetExtendedAgentCard", err, "bob may do nothing")
	_, err = e.Client(bobID, a2acore.TransportProtocolHTTPJSON).SendMessage(t.Context(), call("echo", nil))
	denied("bob SendMessage over HTTP+JSON", err, "bob may do nothing")

	select {
	case name := <-ran:
		t.Errorf("handler %s ran for a denied call", name)
	default:
	}
	if l, err := alice.ListTasks(t.Context(), &a2acore.ListTasksRequest{}); err != nil || l.TotalSize != 1 {
		t.Errorf("alice's tasks = %+v, %v; want only the allowed one", l, err)
	}
	want := []string{
		"SendMessage echo alice/dev allowed", "SendMessage boom alice/dev denied", "SendMessage fail alice/dev denied",
		"SendMessage echo bob/dev denied", "GetTask  bob/dev denied", "ListTasks  bob/dev denied", "CancelTask  bob/dev denied",
		"SubscribeToTask  bob/dev denied", "SendStreamingMessage echo bob/dev denied", "GetExtendedAgentCard  bob/dev denied",
		"SendMessage echo bob/dev denied", "ListTasks  alice/dev allowed",
	}
	if got := audit.Snapshot(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audited decisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
