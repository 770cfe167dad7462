package a2a_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2aclient"
	a2agrpcv0 "github.com/a2aproject/a2a-go/v2/a2agrpc/v0"
	a2apb "github.com/a2aproject/a2a-go/v2/a2apb/v1"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/transport"
)

// TestGRPCEveryOperation: every A2A operation works over the gRPC binding
// on the agent's one mTLS port, with a2a-go's own gRPC client, and the
// caller the engine sees is the SPIFFE ID of the client's certificate.
func TestGRPCEveryOperation(t *testing.T) {
	t.Parallel()
	e := pushEnv(t, netip.MustParsePrefix("127.0.0.0/8"))
	rcv := startReceiver(e)
	c := e.GRPCClient(aliceID)
	ctx := t.Context()

	// SendMessage: the caller is the client certificate's SPIFFE ID.
	task := asTask(t)(c.SendMessage(ctx, call("echo", map[string]any{"q": "spiffe"})))
	got, _ := json.Marshal(task.Artifacts[0].Parts[0].Data())
	if want := `{"caller":"spiffe://example.org/agent/alice/dev","echo":{"q":"spiffe"}}`; task.Status.State != a2acore.TaskStateCompleted || string(got) != want {
		t.Fatalf("SendMessage = %s %s, want completed with %s", task.Status.State, got, want)
	}
	// A direct reply is a message.
	if r, err := c.SendMessage(ctx, call("hello", nil)); err != nil {
		t.Errorf("SendMessage(hello) error = %v", err)
	} else if m, ok := r.(*a2acore.Message); !ok || m.Parts[0].Text() != "hello, "+aliceID.String() {
		t.Errorf("SendMessage(hello) = %#v, want the agent's message", r)
	}

	// SendStreamingMessage: the events in order.
	var kinds []string
	for ev, err := range c.SendStreamingMessage(ctx, call("slow", nil)) {
		if err != nil {
			t.Fatalf("stream error = %v", err)
		}
		switch v := ev.(type) {
		case *a2acore.Task:
			kinds = append(kinds, "task:"+string(v.Status.State))
		case *a2acore.TaskStatusUpdateEvent:
			kinds = append(kinds, "status:"+string(v.Status.State))
			if v.Status.State == a2acore.TaskStateWorking && v.Status.Message != nil {
				close(e.Release)
			}
		case *a2acore.TaskArtifactUpdateEvent:
			kinds = append(kinds, "artifact:"+v.Artifact.Name)
		default:
			kinds = append(kinds, fmt.Sprintf("%T", ev))
		}
	}
	want := "task:TASK_STATE_SUBMITTED status:TASK_STATE_WORKING status:TASK_STATE_WORKING artifact:out status:TASK_STATE_COMPLETED"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("stream events = %s\nwant            %s", got, want)
	}

	// GetTask, ListTasks.
	if g, err := c.GetTask(ctx, &a2acore.GetTaskRequest{ID: task.ID}); err != nil || g.ID != task.ID || g.Status.State != a2acore.TaskStateCompleted {
		t.Errorf("GetTask = %v, %v", g, err)
	}
	if l, err := c.ListTasks(ctx, &a2acore.ListTasksRequest{}); err != nil || l.TotalSize != 2 {
		t.Errorf("ListTasks = %+v, %v; want alice's 2 tasks", l, err)
	}
	if _, err := c.GetTask(ctx, &a2acore.GetTaskRequest{ID: "no-such-task"}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("GetTask(unknown) error = %v, want TaskNotFound", err)
	}

	// A task waiting for input: subscribe, push config CRUD, cancel.
	req := call("ask", nil)
	req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
	open := asTask(t)(c.SendMessage(ctx, req))
	cfg, err := c.CreateTaskPushConfig(ctx, &a2acore.PushConfig{TaskID: open.ID, URL: rcv.url, Token: "tok"})
	if err != nil || cfg.ID == "" || cfg.URL != rcv.url {
		t.Fatalf("CreateTaskPushConfig = %+v, %v", cfg, err)
	}
	if g, err := c.GetTaskPushConfig(ctx, &a2acore.GetTaskPushConfigRequest{TaskID: open.ID, ID: cfg.ID}); err != nil || g.URL != rcv.url {
		t.Errorf("GetTaskPushConfig = %+v, %v", g, err)
	}
	if l, err := c.ListTaskPushConfigs(ctx, &a2acore.ListTaskPushConfigRequest{TaskID: open.ID}); err != nil || len(l) != 1 || l[0].ID != cfg.ID {
		t.Errorf("ListTaskPushConfigs = %+v, %v; want the one config", l, err)
	}
	if err := c.DeleteTaskPushConfig(ctx, &a2acore.DeleteTaskPushConfigRequest{TaskID: open.ID, ID: cfg.ID}); err != nil {
		t.Errorf("DeleteTaskPushConfig error = %v", err)
	}
	if l, err := c.ListTaskPushConfigs(ctx, &a2acore.ListTaskPushConfigRequest{TaskID: open.ID}); err != nil || len(l) != 0 {
		t.Errorf("ListTaskPushConfigs after delete = %+v, %v; want none", l, err)
	}

	events := make(chan string, 10)
	go func() {
		defer close(events)
		for ev, err := range c.SubscribeToTask(ctx, &a2acore.SubscribeToTaskRequest{ID: open.ID}) {
			switch v := ev.(type) {
			case nil:
				events <- "error:" + err.Error()
			case *a2acore.Task:
				events <- "task"
			case *a2acore.TaskStatusUpdateEvent:
				events <- string(v.Status.State)
			}
		}
	}()
	if first := <-events; first != "task" {
		t.Fatalf("first subscription event = %s, want the task", first)
	}
	canceled, err := c.CancelTask(ctx, &a2acore.CancelTaskRequest{ID: open.ID})
	if err != nil || canceled.Status.State != a2acore.TaskStateCanceled {
		t.Fatalf("CancelTask = %v, %v; want canceled", canceled, err)
	}
	var rest []string
	for ev := range events {
		rest = append(rest, ev)
	}
	if len(rest) == 0 || rest[len(rest)-1] != string(a2acore.TaskStateCanceled) {
		t.Errorf("subscription after cancel = %v, want it to end with canceled", rest)
	}
	if _, err := c.CancelTask(ctx, &a2acore.CancelTaskRequest{ID: open.ID}); !errors.Is(err, a2acore.ErrTaskNotCancelable) {
		t.Errorf("second CancelTask error = %v, want TaskNotCancelable", err)
	}
	if err := firstError(t, c.SubscribeToTask(ctx, &a2acore.SubscribeToTaskRequest{ID: open.ID})); !errors.Is(err, a2acore.ErrUnsupportedOperation) {
		t.Errorf("SubscribeToTask(finished) error = %v, want UnsupportedOperation", err)
	}

	// GetExtendedAgentCard: admitted, then answered as the JSON bindings do
	// (the caller's card: every skill under allow-all).
	if card, err := c.GetExtendedAgentCard(ctx, &a2acore.GetExtendedAgentCardRequest{}); err != nil || !card.Capabilities.ExtendedAgentCard || len(card.Skills) != len(capabilities(nil)) {
		t.Errorf("GetExtendedAgentCard = %+v, %v; want the card with every skill", card, err)
	}
}

// TestGRPCPolicyAndOwnership: over gRPC, every operation is authorized and
// audited before anything else, a denial is PERMISSION_DENIED with the
// reason and the audit ID as the JSON bindings give them, and tasks
// belong to their creator.
func TestGRPCPolicyAndOwnership(t *testing.T) {
	t.Parallel()
	audit := &decisions{}
	ran := make(chan string, 10)
	policy := authz.AuthorizerFunc(func(_ context.Context, in *authz.Input) (authz.Decision, error) {
		switch {
		case in.Direction != authz.Inbound || in.CalleeSPIFFEID != agentID.String():
			return authz.Decision{}, errors.New("malformed input")
		case strings.HasSuffix(in.CallerSPIFFEID, "/bob/dev") && in.Operation != "ListTasks" && in.Operation != "GetTask":
			return authz.Decision{Allow: false, Reason: "bob may only read"}, nil
		}
		return authz.Decision{Allow: true}, nil
	})
	e := newEnvWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Enforcer = &authz.Enforcer{Authorizer: policy, Auditor: audit, RequireAudit: true}
		for i, c := range o.Capabilities {
			h, name := c.Handler, c.Name
			o.Capabilities[i].Handler = func(ctx context.Context, call *a2a.Request) (any, error) {
				ran <- name
				return h(ctx, call)
			}
		}
	})
	alice, bob := e.GRPCClient(aliceID), e.GRPCClient(bobID)
	ctx := t.Context()
	req := call("slow", nil)
	req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
	task := asTask(t)(alice.SendMessage(ctx, req))
	if got := <-ran; got != "slow" {
		t.Fatalf("ran %s, want slow", got)
	}

	denied := func(what string, err error) {
		t.Helper()
		if st, ok := status.FromError(errors.Unwrap(err)); ok && st.Code() != codes.PermissionDenied {
			t.Errorf("%s: gRPC code %s, want PermissionDenied", what, st.Code())
		}
		if !errors.Is(err, a2acore.ErrUnauthorized) || !strings.Contains(err.Error(), "bob may only read") {
			t.Errorf("%s: error = %v, want permission denied with the reason", what, err)
		}
		if d, ok := a2a.DenialOf(err); !ok || d.Reason != "bob may only read" || !strings.HasPrefix(d.AuditID, "a-") {
			t.Errorf("%s: DenialOf = %+v, %v; want the reason and the audit ID", what, d, ok)
		}
	}
	_, err := bob.SendMessage(ctx, call("echo", nil))
	denied("SendMessage", err)
	denied("SendStreamingMessage", firstError(t, bob.SendStreamingMessage(ctx, call("echo", nil))))
	_, err = bob.CancelTask(ctx, &a2acore.CancelTaskRequest{ID: task.ID})
	denied("CancelTask", err)
	denied("SubscribeToTask", firstError(t, bob.SubscribeToTask(ctx, &a2acore.SubscribeToTaskRequest{ID: task.ID})))
	_, err = bob.CreateTaskPushConfig(ctx, &a2acore.PushConfig{TaskID: task.ID, URL: "https://example.org/hook"})
	denied("CreateTaskPushConfig", err)
	_, err = bob.GetExtendedAgentCard(ctx, &a2acore.GetExtendedAgentCardRequest{})
	denied("GetExtendedAgentCard", err)

	// Allowed to read, bob still cannot see alice's task.
	if _, err := bob.GetTask(ctx, &a2acore.GetTaskRequest{ID: task.ID}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("bob GetTask error = %v, want TaskNotFound", err)
	}
	if l, err := bob.ListTasks(ctx, &a2acore.ListTasksRequest{}); err != nil || len(l.Tasks) != 0 {
		t.Errorf("bob ListTasks = %+v, %v; want none", l, err)
	}
	if g, err := alice.GetTask(ctx, &a2acore.GetTaskRequest{ID: task.ID}); err != nil || g.ID != task.ID {
		t.Errorf("alice GetTask = %v, %v", g, err)
	}
	select {
	case name := <-ran:
		t.Errorf("handler %s ran for a denied call", name)
	default:
	}
	want := []string{
		"SendMessage slow alice/dev allowed",
		"SendMessage echo bob/dev denied", "SendStreamingMessage echo bob/dev denied", "CancelTask  bob/dev denied",
		"SubscribeToTask  bob/dev denied", "CreateTaskPushNotificationConfig  bob/dev denied", "GetExtendedAgentCard  bob/dev denied",
		"GetTask  bob/dev allowed", "ListTasks  bob/dev allowed", "GetTask  alice/dev allowed",
	}
	if diff := cmp.Diff(want, audit.Snapshot()); diff != "" {
		t.Errorf("audited decisions (-want +got):\n%s", diff)
	}
}

// TestGRPCVersionNegotiation: a2a-version in gRPC metadata picks the
// version as A2A-Version does for the JSON bindings (missing = 0.3), and
// the service called must serve it; anything else is
// VersionNotSupportedError as gRPC carries it: FAILED_PRECONDITION with
// ErrorInfo VERSION_NOT_SUPPORTED, before the engine (and its policy) sees
// the call.
func TestGRPCVersionNegotiation(t *testing.T) {
	t.Parallel()
	audit := &decisions{}
	e := newEnvWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Enforcer = &authz.Enforcer{Authorizer: authz.AllowAll(), Auditor: audit}
	})
	v1 := a2apb.NewA2AServiceClient(e.GRPCConn(aliceID))
	send := &a2apb.SendMessageRequest{Message: &a2apb.Message{
		MessageId: "m-1", Role: a2apb.Role_ROLE_USER, Parts: []*a2apb.Part{{Content: &a2apb.Part_Text{Text: "hi"}}},
		Metadata: mustStruct(t, map[string]any{a2a.ExtensionURI: "hello"}),
	}}
	for _, tt := range []struct {
		name    string
		md      []string
		refused bool
	}{
		{"1.0", []string{"a2a-version", "1.0"}, false},
		{"1.0 with spaces", []string{"a2a-version", " 1.0 "}, false},
		{"missing is 0.3", nil, true},
		{"0.3 on the 1.0 service", []string{"a2a-version", "0.3"}, true},
		{"unknown", []string{"a2a-version", "2.0"}, true},
	} {
		ctx := t.Context()
		if tt.md != nil {
			ctx = metadata.NewOutgoingContext(ctx, metadata.Pairs(tt.md...))
		}
		resp, err := v1.SendMessage(ctx, send)
		if !tt.refused {
			if err != nil || resp.GetMessage() == nil {
				t.Errorf("%s: SendMessage = %v, %v; want the agent's message", tt.name, resp, err)
			}
			continue
		}
		assertVersionRefused(t, tt.name+": SendMessage", err)
		stream, err := v1.SendStreamingMessage(ctx, send)
		if err == nil {
			_, err = stream.Recv()
		}
		assertVersionRefused(t, tt.name+": SendStreamingMessage", err)
	}
	if got := audit.Snapshot(); len(got) != 2 {
		t.Errorf("decisions = %v, want only the two served calls", got)
	}

	// a2a-go's client sends a2a-version itself, and reads the refusal as
	// VersionNotSupportedError.
	c := e.GRPCClient(aliceID)
	if _, err := c.SendMessage(t.Context(), call("hello", nil)); err != nil {
		t.Errorf("a2a-go client: %v", err)
	}

	// 0.3 clients, which send no version or 0.3, call the 0.3 service.
	v03 := e.GRPCInterfaces("0.3")
	old, err := a2aclient.NewFromEndpoints(t.Context(), v03, a2agrpcv0.WithGRPCTransport(e.GRPCDialOptions(aliceID)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Destroy() })
	if r, err := old.SendMessage(t.Context(), call("echo", nil)); err != nil {
		t.Errorf("0.3 SendMessage error = %v", err)
	} else if task, ok := r.(*a2acore.Task); !ok || task.Status.State != a2acore.TaskStateCompleted {
		t.Errorf("0.3 SendMessage = %#v, want a completed task", r)
	}
	for ev, err := range old.SendStreamingMessage(t.Context(), call("echo", nil)) {
		if err != nil || ev == nil {
			t.Errorf("0.3 stream: %v, %v", ev, err)
		}
	}
}

func assertVersionRefused(t *testing.T, what string, err error) {
	t.Helper()
	st, _ := status.FromError(err)
	if st.Code() != codes.FailedPrecondition {
		t.Errorf("%s: error = %v, want FAILED_PRECONDITION", what, err)
		return
	}
	var reason string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == a2acore.ProtocolDomain {
			reason = info.Reason
		}
	}
	if reason != "VERSION_NOT_SUPPORTED" || !strings.Contains(st.Message(), "a2a-version: 1.0") {
		t.Errorf("%s: refusal = %q (reason %q), want VERSION_NOT_SUPPORTED saying what to send", what, st.Message(), reason)
	}
}

// TestGRPCMessageLimit: the gRPC message limit is the JSON bindings' body
// limit: a message over it is refused with RESOURCE_EXHAUSTED before it
// reaches the engine (or its policy); one under it is served.
func TestGRPCMessageLimit(t *testing.T) {
	t.Parallel()
	audit := &decisions{}
	e := newEnvWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Enforcer = &authz.Enforcer{Authorizer: authz.AllowAll(), Auditor: audit}
	})
	c := e.GRPCClient(aliceID)
	sized := func(n int) *a2acore.SendMessageRequest {
		return call("echo", map[string]any{"pad": strings.Repeat("x", n)})
	}
	if _, err := c.SendMessage(t.Context(), sized(a2a.DefaultMaxBodyBytes+1)); !errors.Is(err, a2acore.ErrInternalError) ||
		!strings.Contains(err.Error(), "larger than max") {
		// a2a-go reads RESOURCE_EXHAUSTED as an internal error; the raw
		// status is checked below.
		t.Errorf("SendMessage over the limit: error = %v, want the limit's refusal", err)
	}
	v1 := a2apb.NewA2AServiceClient(e.GRPCConn(aliceID))
	ctx := metadata.NewOutgoingContext(t.Context(), metadata.Pairs("a2a-version", "1.0"))
	big := &a2apb.SendMessageRequest{Message: &a2apb.Message{
		MessageId: "m-big", Role: a2apb.Role_ROLE_USER,
		Parts: []*a2apb.Part{{Content: &a2apb.Part_Text{Text: strings.Repeat("x", a2a.DefaultMaxBodyBytes)}}},
	}}
	if _, err := v1.SendMessage(ctx, big); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("raw SendMessage over the limit: %v, want RESOURCE_EXHAUSTED", err)
	}
	stream, err := v1.SendStreamingMessage(ctx, big)
	if err == nil {
		_, err = stream.Recv()
	}
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("raw SendStreamingMessage over the limit: %v, want RESOURCE_EXHAUSTED", err)
	}
	if got := audit.Snapshot(); len(got) != 0 {
		t.Errorf("decisions = %v; want none for refused messages", got)
	}
	task := asTask(t)(c.SendMessage(t.Context(), sized(a2a.DefaultMaxBodyBytes-4<<10)))
	if task.Status.State != a2acore.TaskStateCompleted {
		t.Errorf("SendMessage under the limit: %s, want completed", task.Status.State)
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestGRPCDataPartsAnyJSON: over gRPC a data part holds any JSON value, as
// A2A's proto types it (google.protobuf.Value), in both directions,
// although a2a-go v2.4.0's conversion takes objects only (pbdata): the
// engine gets the array a caller sent, and a result that is not an object
// reaches the caller as the value, not an INTERNAL error.
func TestGRPCDataPartsAnyJSON(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Capabilities = append(o.Capabilities, a2a.Capability{
			Name: "list", Description: "answers a list",
			Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
				return nil, c.Result(ctx, []any{1, "two", nil})
			},
		})
	})
	v1 := a2apb.NewA2AServiceClient(e.GRPCConn(aliceID))
	ctx := metadata.NewOutgoingContext(t.Context(), metadata.Pairs("a2a-version", "1.0"))
	send := func(capability string, data *structpb.Value) *a2apb.Task {
		t.Helper()
		resp, err := v1.SendMessage(ctx, &a2apb.SendMessageRequest{Message: &a2apb.Message{
			MessageId: "m-" + capability, Role: a2apb.Role_ROLE_USER,
			Parts:    []*a2apb.Part{{Content: &a2apb.Part_Data{Data: data}}},
			Metadata: mustStruct(t, map[string]any{a2a.ExtensionURI: capability}),
		}})
		if err != nil {
			t.Fatalf("SendMessage(%s) = %v", capability, err)
		}
		return resp.GetTask()
	}
	list, err := structpb.NewValue([]any{1, "two", nil})
	if err != nil {
		t.Fatal(err)
	}
	echoed := send("echo", list).GetArtifacts()[0].GetParts()[0].GetData().GetStructValue().GetFields()["echo"]
	if !proto.Equal(echoed, list) {
		t.Errorf("the engine got %v, want the array sent", echoed)
	}
	if got := send("list", structpb.NewStructValue(&structpb.Struct{})).GetArtifacts()[0].GetParts()[0].GetData(); !proto.Equal(got, list) {
		t.Errorf("a list result arrived as %v, want the array", got)
	}
}

// TestGRPCStreamLimit: gRPC calls are HTTP/2 streams of the agent's one
// port, so the transport's limit of concurrent streams per connection
// (transport.ServerOptions.MaxConcurrentStreams) bounds them as it bounds
// the JSON bindings': with a limit of 1, a call waits while a stream is
// open on the connection, and goes through once it ends.
func TestGRPCStreamLimit(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	e := newEnv(t)
	agent := a2atest.Serve(t, e.CA.Source(e.CA.CreateX509SVID(agentID)), a2atest.Options{
		Engine: a2a.EngineOptions{Capabilities: capabilities(release)},
		Server: transport.ServerOptions{MaxConcurrentStreams: 1},
	})
	conn, err := grpc.NewClient(agent.URL, e.GRPCDialOptions(aliceID)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	v1 := a2apb.NewA2AServiceClient(conn)
	ctx := metadata.NewOutgoingContext(t.Context(), metadata.Pairs("a2a-version", "1.0"))
	stream, err := v1.SendStreamingMessage(ctx, &a2apb.SendMessageRequest{Message: &a2apb.Message{
		MessageId: "m-slow", Role: a2apb.Role_ROLE_USER, Metadata: mustStruct(t, map[string]any{a2a.ExtensionURI: "slow"}),
		Parts: []*a2apb.Part{{Content: &a2apb.Part_Data{Data: structpb.NewStructValue(&structpb.Struct{})}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv() // the stream is open: it holds the one slot
	if err != nil {
		t.Fatal(err)
	}
	id := first.GetTask().GetId()

	waiting, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := v1.GetTask(waiting, &a2apb.GetTaskRequest{Id: id}); status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("GetTask beside an open stream = %v, want it to wait (DEADLINE_EXCEEDED)", err)
	}
	close(release)
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	if task, err := v1.GetTask(ctx, &a2apb.GetTaskRequest{Id: id}); err != nil || task.GetStatus().GetState() != a2apb.TaskState_TASK_STATE_COMPLETED {
		t.Errorf("GetTask after the stream = %v, %v; want the completed task", task, err)
	}
}
