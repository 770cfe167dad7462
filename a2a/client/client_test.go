package client_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/a2a/internal/fixture"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/transport"
)

func agentClient(e *env, id spiffeid.ID, resolver client.Resolver, ttl time.Duration) *client.Client {
	e.T.Helper()
	c, err := client.New(e.CA.Source(e.CA.CreateX509SVID(id)), client.Options{Resolver: resolver, CardTTL: ttl, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}})
	if err != nil {
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() { _ = c.Close() })
	return c
}

func TestClientCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := agentClient(e, aliceID, client.StaticResolver{agentID: e.Base}, 0)
	task, err := c.Call(t.Context(), agentID, "echo", map[string]any{"n": 1})
	if err != nil || task.Status.State != a2acore.TaskStateCompleted {
		t.Fatalf("Call(echo) = %v, %v; want completed", task, err)
	}
	if _, err := c.Call(t.Context(), agentID, "echo", nil); err != nil {
		t.Fatal(err)
	}
	if n := e.CardGets.Load(); n != 1 {
		t.Errorf("card fetched %d times for two calls, want 1 (cached)", n)
	}
	_, err = c.Call(t.Context(), agentID, "fail", nil)
	var te *client.TaskError
	if !errors.As(err, &te) || te.Task.Status.State != a2acore.TaskStateFailed || err.Error() == "" {
		t.Errorf("Call(fail) error = %v, want a TaskError", err)
	}
	_, err = c.Call(t.Context(), agentID, "nope", nil)
	if !errors.Is(err, a2acore.ErrInvalidParams) {
		t.Errorf("Call(unknown capability) error = %v, want InvalidParams", err)
	}
	if _, err := c.Call(t.Context(), spiffeid.RequireFromString("spiffe://example.org/agent/ghost/dev"), "echo", nil); !errors.Is(err, client.ErrUnknownPeer) {
		t.Errorf("Call(unknown peer) error = %v, want ErrUnknownPeer", err)
	}
}

func TestClientRevalidatesCard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := agentClient(e, aliceID, client.StaticResolver{agentID: e.Base}, time.Nanosecond)
	for range 3 {
		if _, err := c.Peer(t.Context(), agentID); err != nil {
			t.Fatal(err)
		}
	}
	if got, reval := e.CardGets.Load(), e.CardRevalidations.Load(); got != 3 || reval != 2 {
		t.Errorf("card requests = %d (revalidations %d), want 3 (2)", got, reval)
	}
}

// TestClientVerifiesTargetIdentity: the resolver points at a server that is
// not the target; the client refuses it before sending anything.
func TestClientVerifiesTargetIdentity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	impostorID := spiffeid.RequireFromString("spiffe://example.org/agent/impostor/dev")
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{}, 1)
	srv, err := transport.NewServer(e.CA.Source(e.CA.CreateX509SVID(impostorID)), identity.MatchPatterns(everyone),
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { served <- struct{}{} }), transport.ServerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	c := agentClient(e, aliceID, client.StaticResolver{agentID: "https://" + ln.Addr().String()}, 0)
	_, err = c.Call(t.Context(), agentID, "echo", nil)
	if !errors.Is(err, transport.ErrPeerRejected) {
		t.Fatalf("Call to an impostor: error = %v, want ErrPeerRejected", err)
	}
	select {
	case <-served:
		t.Error("the impostor received a request")
	default:
	}
}

// TestRESTErrorsDecode: errors over the HTTP+JSON binding keep their A2A
// meaning on the client side.
func TestRESTErrorsDecode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.Client(aliceID, a2acore.TransportProtocolHTTPJSON)
	if _, err := c.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: "nope"}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("REST GetTask(unknown) error = %v, want TaskNotFound", err)
	}
	task := asTask(t)(c.SendMessage(t.Context(), fixture.CallRequest("echo", nil)))
	if _, err := c.CancelTask(t.Context(), &a2acore.CancelTaskRequest{ID: task.ID}); !errors.Is(err, a2acore.ErrTaskNotCancelable) {
		t.Errorf("REST CancelTask(finished) error = %v, want TaskNotCancelable", err)
	}
}

// TestClientAuthorizesBeforeConnecting: an outbound call the policy denies
// opens no connection; the decision is recorded.
func TestClientAuthorizesBeforeConnecting(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	audit := &decisions{}
	policy := authz.AuthorizerFunc(func(_ context.Context, in *authz.Input) (authz.Decision, error) {
		if in.Direction != authz.Outbound || in.CallerSPIFFEID != aliceID.String() || in.CalleeSPIFFEID != agentID.String() {
			return authz.Decision{}, errors.New("malformed input")
		}
		return authz.Decision{Allow: in.Action != "boom", Reason: "no booms"}, nil
	})
	c, err := client.New(e.CA.Source(e.CA.CreateX509SVID(aliceID)), client.Options{
		Resolver: client.StaticResolver{agentID: e.Base},
		Enforcer: &authz.Enforcer{Authorizer: policy, Auditor: audit},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Call(t.Context(), agentID, "boom", nil)
	if !errors.Is(err, authz.ErrDenied) || !strings.Contains(err.Error(), "no booms") {
		t.Fatalf("Call(boom) error = %v, want an authorization denial", err)
	}
	if n := e.CardGets.Load(); n != 0 {
		t.Errorf("a denied call reached the server (%d card requests)", n)
	}
	if _, err := c.Call(t.Context(), agentID, "echo", nil); err != nil {
		t.Fatalf("Call(echo): %v", err)
	}
	// One call, one decision: the card fetch is part of the call.
	if got := strings.Join(audit.Snapshot(), "; "); got != "SendMessage boom alice/dev denied; SendMessage echo alice/dev allowed" {
		t.Errorf("outbound decisions = %s", got)
	}
	if _, err := client.New(e.CA.Source(e.CA.CreateX509SVID(aliceID)), client.Options{Resolver: client.StaticResolver{}}); err == nil {
		t.Error("New without an Enforcer succeeded")
	}
}

// A stream cut in the middle (a connection closed at a certificate's
// expiry, a proxy restarting) is resumed: the client resubscribes to the
// task and the caller sees it through to its end; if the task ended
// meanwhile, the resumed stream ends with the task as it ended.
func TestStreamResumesAfterACut(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		cutAt a2acore.TaskState // the stream is cut when it carries this state
		early bool              // the task may finish from the start
	}{
		{"while working", a2acore.TaskStateWorking, false},
		{"at the end", a2acore.TaskStateCompleted, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var cut atomic.Int32 // streams left to cut
			cut.Store(1)
			var cuts atomic.Int32
			e := newEnvWrapped(t, func(w http.ResponseWriter, r *http.Request, next http.Handler) {
				if r.Header.Get("Accept") == "text/event-stream" && cut.Add(-1) >= 0 {
					next.ServeHTTP(&cutWriter{ResponseWriter: w, at: string(tt.cutAt), cuts: &cuts}, r)
					return
				}
				next.ServeHTTP(w, r)
			})
			var release sync.Once
			if tt.early {
				release.Do(func() { close(e.Release) })
			}
			c := agentClient(e, aliceID, client.StaticResolver{agentID: e.Base}, 0)
			var states []a2acore.TaskState
			var last error
			tasks := 0
			for ev, err := range c.Stream(t.Context(), agentID, "slow", nil) {
				if err != nil {
					last = err
					break
				}
				switch ev := ev.(type) {
				case *a2acore.Task:
					states = append(states, ev.Status.State)
					if tasks++; tasks == 2 { // the resumed stream's first event
						release.Do(func() { close(e.Release) })
					}
				case *a2acore.TaskStatusUpdateEvent:
					states = append(states, ev.Status.State)
				}
			}
			t.Logf("states %v, cuts %d, error %v", states, cuts.Load(), last)
			if last != nil || cuts.Load() != 1 || tasks != 2 || states[len(states)-1] != a2acore.TaskStateCompleted {
				t.Fatalf("stream ended with %v after states %v, %d cuts, %d task snapshots; want it resumed (a second snapshot) to completed after 1 cut", last, states, cuts.Load(), tasks)
			}
		})
	}
}

// cutWriter aborts the response at the flush of the event that carries
// the state at.
type cutWriter struct {
	http.ResponseWriter
	at   string
	cuts *atomic.Int32
	seen bool
}

func (w *cutWriter) Write(b []byte) (int, error) {
	if strings.Contains(string(b), w.at) {
		w.seen = true
	}
	return w.ResponseWriter.Write(b)
}

func (w *cutWriter) Flush() {
	if w.seen {
		w.cuts.Add(1)
		panic(http.ErrAbortHandler)
	}
	w.ResponseWriter.(http.Flusher).Flush()
}
