package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/status"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/a2a/internal/fixture"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/resilience"
	"github.com/agentweave/agentweave-go/transport"
)

// countingEnv is the test agent counting the gRPC and JSON-RPC calls it
// is sent.
func countingEnv(t *testing.T) (*env, *atomic.Int64, *atomic.Int64) {
	var grpcCalls, rpcCalls atomic.Int64
	e := newEnvWrapped(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		switch {
		case a2a.IsGRPC(r):
			grpcCalls.Add(1)
		case r.URL.Path == "/":
			rpcCalls.Add(1)
		}
		next.ServeHTTP(w, r)
	})
	return e, &grpcCalls, &rpcCalls
}

func grpcClient(e *env, id spiffeid.ID, bindings ...a2acore.TransportProtocol) *client.Client {
	e.T.Helper()
	c, err := client.New(e.CA.Source(e.CA.CreateX509SVID(id)), client.Options{
		Resolver: client.StaticResolver{agentID: e.Base}, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
		Bindings: bindings,
	})
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { _ = c.Close() })
	return c
}

// TestClientPrefersGRPC: with Options.Bindings preferring gRPC, every
// operation goes over the peer's gRPC interface, with the same mTLS (the
// callee sees the caller's SPIFFE ID) and the same meaning of errors;
// without it the client keeps JSON-RPC, the card's first binding. Close
// drops the gRPC connection and the client dials again.
func TestClientPrefersGRPC(t *testing.T) {
	t.Parallel()
	e, grpcCalls, rpcCalls := countingEnv(t)
	c := grpcClient(e, aliceID, a2acore.TransportProtocolGRPC)
	ctx := t.Context()

	task, err := c.Call(ctx, agentID, "echo", map[string]any{"n": 1})
	if err != nil || task.Status.State != a2acore.TaskStateCompleted {
		t.Fatalf("Call(echo) = %v, %v; want completed", task, err)
	}
	if caller := task.Artifacts[0].Parts[0].Data().(map[string]any)["caller"]; caller != aliceID.String() {
		t.Errorf("the callee saw caller %v, want %s", caller, aliceID)
	}
	var events int
	for ev, err := range c.Stream(ctx, agentID, "echo", nil) {
		if err != nil {
			t.Fatalf("Stream: %v", err)
		}
		if ev != nil {
			events++
		}
	}
	p, err := c.Peer(ctx, agentID)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := p.GetTask(ctx, &a2acore.GetTaskRequest{ID: task.ID}); err != nil || g.ID != task.ID {
		t.Errorf("GetTask = %v, %v", g, err)
	}
	if l, err := p.ListTasks(ctx, &a2acore.ListTasksRequest{}); err != nil || l.TotalSize != 2 {
		t.Errorf("ListTasks = %+v, %v; want 2 tasks", l, err)
	}
	if _, err := p.GetTask(ctx, &a2acore.GetTaskRequest{ID: "nope"}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("GetTask(unknown) error = %v, want TaskNotFound", err)
	}
	if _, err := p.CancelTask(ctx, &a2acore.CancelTaskRequest{ID: task.ID}); !errors.Is(err, a2acore.ErrTaskNotCancelable) {
		t.Errorf("CancelTask(finished) error = %v, want TaskNotCancelable", err)
	}
	if events == 0 || grpcCalls.Load() != 6 || rpcCalls.Load() != 0 {
		t.Errorf("%d stream events; %d gRPC and %d JSON-RPC calls, want the 6 operations over gRPC", events, grpcCalls.Load(), rpcCalls.Load())
	}

	// Close ends the gRPC connection; the next call dials again.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(ctx, agentID, "echo", nil); err != nil || grpcCalls.Load() != 7 {
		t.Errorf("Call after Close = %v (%d gRPC calls), want it served over gRPC", err, grpcCalls.Load())
	}

	// The default keeps JSON-RPC.
	before := grpcCalls.Load()
	if _, err := grpcClient(e, aliceID).Call(ctx, agentID, "echo", nil); err != nil || grpcCalls.Load() != before || rpcCalls.Load() != 1 {
		t.Errorf("default client: %v, %d more gRPC and %d JSON-RPC calls; want JSON-RPC", err, grpcCalls.Load()-before, rpcCalls.Load())
	}
}

// TestClientGRPCDenial: the callee's policy refusal over gRPC is the same
// *authz.DenyError as over JSON-RPC, with the callee's reason and audit ID.
func TestClientGRPCDenial(t *testing.T) {
	t.Parallel()
	e := fixture.NewWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Enforcer = &authz.Enforcer{Authorizer: authz.AuthorizerFunc(func(_ context.Context, in *authz.Input) (authz.Decision, error) {
			return authz.Decision{Allow: in.Action != "boom", Reason: "boom is off limits"}, nil
		}), Auditor: &decisions{}}
	})
	c := grpcClient(e, aliceID, a2acore.TransportProtocolGRPC)
	_, err := c.Call(t.Context(), agentID, "boom", nil)
	var de *authz.DenyError
	if !errors.Is(err, authz.ErrDenied) || !errors.As(err, &de) || !de.Peer || de.Decision.Reason != "boom is off limits" || de.Decision.AuditID == "" {
		t.Fatalf("Call(boom) error = %#v, want the callee's DenyError with its reason and audit ID", err)
	}
}

// TestClientGRPCVerifiesServer: a card whose gRPC interface points at a
// server that is not the target is refused at the gRPC handshake, before
// any request is sent.
func TestClientGRPCVerifiesServer(t *testing.T) {
	t.Parallel()
	impostorID := spiffeid.RequireFromString("spiffe://example.org/agent/impostor/dev")
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	impostorURL := "https://" + ln.Addr().String()
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "a", Description: "a", URLs: []string{impostorURL}, Bindings: []a2acore.TransportProtocol{a2acore.TransportProtocolGRPC}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cardJSON, err := a2a.MarshalCard(card)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWrapped(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path == a2a.CardPath { // the real agent's card sends gRPC calls elsewhere
			_, _ = w.Write(cardJSON)
			return
		}
		next.ServeHTTP(w, r)
	})
	var served atomic.Int64
	srv, err := transport.NewServer(e.CA.Source(e.CA.CreateX509SVID(impostorID)), identity.MatchPatterns(everyone),
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served.Add(1) }), transport.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	_, err = grpcClient(e, aliceID, a2acore.TransportProtocolGRPC).Call(t.Context(), agentID, "echo", nil)
	if err == nil || !strings.Contains(err.Error(), transport.ErrPeerRejected.Error()) || !strings.Contains(err.Error(), impostorID.String()) {
		t.Fatalf("Call through an impostor's gRPC interface: error = %v, want the impostor rejected", err)
	}
	if served.Load() != 0 {
		t.Error("the impostor received a request")
	}
}

// TestClientGRPCReportsSent: a gRPC call tells resilience.TrackSent what
// an HTTP request tells it, so that Options.Guard retries over gRPC
// exactly what it retries over HTTP: a call whose answer began was sent
// and answered (never repeated); a call to a gRPC interface nobody listens
// on was never sent (safe to repeat, even SendMessage).
func TestClientGRPCReportsSent(t *testing.T) {
	t.Parallel()
	type attempt struct {
		op             string
		sent, answered bool
	}
	var mu sync.Mutex
	var attempts []attempt
	guard := func(ctx context.Context, _ spiffeid.ID, op string, _ bool, exchange func(context.Context) error) error {
		tctx, s := resilience.TrackSent(ctx)
		err := exchange(tctx)
		mu.Lock()
		attempts = append(attempts, attempt{op, s.Sent(), s.Answered()})
		mu.Unlock()
		return err
	}
	call := func(e *env) error {
		c, err := client.New(e.CA.Source(e.CA.CreateX509SVID(aliceID)), client.Options{
			Resolver: client.StaticResolver{agentID: e.Base}, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
			Bindings: []a2acore.TransportProtocol{a2acore.TransportProtocolGRPC}, Guard: guard,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		_, err = c.Call(t.Context(), agentID, "echo", nil)
		return err
	}

	if err := call(newEnv(t)); err != nil {
		t.Fatal(err)
	}

	// A card whose gRPC interface is a closed port.
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + ln.Addr().String()
	_ = ln.Close()
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "a", Description: "a", URLs: []string{dead}, Bindings: []a2acore.TransportProtocol{a2acore.TransportProtocolGRPC}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cardJSON, err := a2a.MarshalCard(card)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvWrapped(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path == a2a.CardPath {
			_, _ = w.Write(cardJSON)
			return
		}
		next.ServeHTTP(w, r)
	})
	if err := call(e); err == nil {
		t.Fatal("a call to a closed port succeeded")
	}

	mu.Lock()
	defer mu.Unlock()
	want := []attempt{
		{"GetAgentCard", true, true},
		{"SendMessage", true, true},
		{"GetAgentCard", true, true},
		{"SendMessage", false, false},
	}
	if diff := cmp.Diff(want, attempts, cmp.AllowUnexported(attempt{})); diff != "" {
		t.Errorf("attempts (-want +got):\n%s", diff)
	}
}

// TestClientGRPCRefusedByPeer: a peer that refuses this agent's SVID at
// the gRPC handshake gives the error the HTTP path gives
// (transport.RefusedByPeer, with the advice), which the agent neither
// retries nor counts against the peer, whenever the client sees the
// peer's TLS alert. (With TLS 1.3 it may instead see only the broken
// connection, if it writes before the alert arrives: then it is an
// ordinary connection failure, and the call still never reaches the peer.)
func TestClientGRPCRefusedByPeer(t *testing.T) {
	t.Parallel()
	var cardJSON atomic.Pointer[[]byte]
	front := newEnvWrapped(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		if r.URL.Path == a2a.CardPath { // alice may read the card here; gRPC is at the strict agent
			_, _ = w.Write(*cardJSON.Load())
			return
		}
		next.ServeHTTP(w, r)
	})
	var reached atomic.Int64
	strict := a2atest.Serve(t, front.CA.Source(front.CA.CreateX509SVID(agentID)), a2atest.Options{
		Engine: a2a.EngineOptions{Capabilities: fixture.Capabilities(nil)}, Callers: spiffeid.MatchID(fixture.BobID),
		Wrap: func(http.Handler) http.Handler {
			return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached.Add(1) })
		},
	})
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "a", Description: "a", URLs: []string{strict.URL}, Bindings: []a2acore.TransportProtocol{a2acore.TransportProtocolGRPC}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a2a.MarshalCard(card)
	if err != nil {
		t.Fatal(err)
	}
	cardJSON.Store(&b)
	c := grpcClient(front, aliceID, a2acore.TransportProtocolGRPC)
	_, err = c.Call(t.Context(), agentID, "echo", nil)
	if err == nil || reached.Load() != 0 {
		t.Fatalf("Call to a peer refusing alice = %v (%d requests reached it), want it refused", err, reached.Load())
	}
	if strings.Contains(err.Error(), "remote error") && !transport.RefusedByPeer(err) {
		t.Errorf("Call error = %v: the peer's TLS alert is not reported as RefusedByPeer", err)
	}

	// The mapping itself, on the errors grpc-go gives.
	p, err := c.Peer(t.Context(), agentID)
	if err != nil {
		t.Fatal(err)
	}
	alert := status.Error(codes.Unavailable, `connection error: desc = "error reading server preface: remote error: tls: bad certificate"`)
	if got := client.RefusedOverGRPC(p, alert); !transport.RefusedByPeer(got) || !strings.Contains(got.Error(), "refused this agent") || !strings.Contains(got.Error(), "tls: bad certificate") {
		t.Errorf("the peer's alert reads %v, want RefusedByPeer with the advice and the alert", got)
	}
	for _, other := range []error{
		status.Error(codes.Unavailable, "write tcp 127.0.0.1:1->127.0.0.1:2: write: broken pipe"),
		status.Error(codes.Internal, "remote error: tls: bad certificate"), // an answer, whatever it says
		errors.New("remote error: tls: bad certificate"),                   // not gRPC's
		nil,
	} {
		if got := client.RefusedOverGRPC(p, other); got != other { //nolint:errorlint // the same error, unchanged
			t.Errorf("RefusedOverGRPC(%v) = %v, want it unchanged", other, got)
		}
	}
}

// recordingConn is the part of a gRPC channel a resolver reports to.
type recordingConn struct {
	resolver.ClientConn
	state resolver.State
}

func (c *recordingConn) UpdateState(s resolver.State) error { c.state = s; return nil }

// TestGRPCResolver: a card's gRPC URL, https://host[:port][/path], dials
// host:port (443 by default) with that as its authority; anything else is
// refused.
func TestGRPCResolver(t *testing.T) {
	t.Parallel()
	b := client.GRPCResolver()
	for _, tt := range []struct{ url, want string }{
		{"https://a.example.org", "a.example.org:443"},
		{"https://a.example.org:8443/a2a/grpc", "a.example.org:8443"},
		{"https://[::1]:9/", "[::1]:9"},
		{"http://a.example.org:80", ""},
		{"https:///nohost", ""},
	} {
		u, err := url.Parse(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		cc := &recordingConn{}
		r, err := b.Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
		if tt.want == "" {
			if err == nil {
				t.Errorf("Build(%s) succeeded, want an error", tt.url)
			}
			continue
		}
		if err != nil {
			t.Errorf("Build(%s) = %v", tt.url, err)
			continue
		}
		r.Close()
		if len(cc.state.Addresses) != 1 || cc.state.Addresses[0].Addr != tt.want {
			t.Errorf("Build(%s) resolved %+v, want %s", tt.url, cc.state.Addresses, tt.want)
		}
		if got := b.(resolver.AuthorityOverrider).OverrideAuthority(resolver.Target{URL: *u}); got != tt.want {
			t.Errorf("authority of %s = %q, want %q", tt.url, got, tt.want)
		}
	}
}
