package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/transport"
)

// The orchestrator calls the search agent by SPIFFE ID: the resolver says
// where it listens, the connection is accepted only if the server presents
// exactly that ID, and the orchestrator's own policy decides each call
// before any network I/O, so a call it forbids never leaves the process.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dir, err := os.MkdirTemp("", "aw-ex-") // short: unix socket paths are limited
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ca, err := devca.New(devca.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	search, err := workload(ctx, ca, dir, "search")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer search.Close()
	url, stop, err := serveSearch(ctx, search)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	orchestrator, err := workload(ctx, ca, dir, "orchestrator")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer orchestrator.Close()

	// The orchestrator's outbound policy: it may search, nothing else.
	// (authz/opa decides with Rego; any Authorizer will do.)
	policy := authz.AuthorizerFunc(func(_ context.Context, in *authz.Input) (authz.Decision, error) {
		if in.Action == "search" {
			return authz.Decision{Allow: true, Reason: "searching is allowed"}, nil
		}
		return authz.Decision{Reason: "the orchestrator only searches"}, nil
	})
	c, err := client.New(orchestrator, client.Options{
		Resolver: client.StaticResolver{search.ID(): url},
		Enforcer: &authz.Enforcer{Authorizer: policy},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	task, err := c.Call(ctx, search.ID(), "search", map[string]string{"query": "spiffe"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(task.Status.State)
	for _, a := range task.Artifacts {
		if d, ok := a.Parts[0].Content.(a2acore.Data); ok {
			fmt.Println(a.Name, d.Value)
		}
	}

	_, err = c.Call(ctx, search.ID(), "delete", nil)
	var denied *authz.DenyError
	if errors.As(err, &denied) {
		fmt.Println("delete denied:", denied.Decision.Reason)
	}
	// Output:
	// TASK_STATE_COMPLETED
	// result [spiffe for spiffe://example.org/agent/orchestrator/dev]
	// delete denied: the orchestrator only searches
}

// serveSearch serves a search capability as src on a loopback port,
// admitting callers of src's trust domain, and returns its URL.
func serveSearch(ctx context.Context, src identity.Source) (url string, stop func(), err error) {
	engine, err := a2a.NewEngine(a2a.EngineOptions{
		Self:     src.ID(),
		Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, // development: see the a2a example for a policy
		Capabilities: []a2a.Capability{{
			Name: "search", Description: "finds documents",
			Handler: a2a.Func(func(_ context.Context, req *a2a.Request, q struct{ Query string }) ([]string, error) {
				return []string{q.Query + " for " + req.Caller.String()}, nil
			}),
		}},
	})
	if err != nil {
		return "", nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	url = "https://" + ln.Addr().String()
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "search", Description: "searches", URLs: []string{url}}, engine.Capabilities())
	if err != nil {
		return "", nil, err
	}
	handler, err := a2a.NewHandler(engine, card, a2a.HandlerOptions{})
	if err != nil {
		return "", nil, err
	}
	server, err := transport.NewServer(src, spiffeid.MatchMemberOf(src.ID().TrustDomain()), handler, transport.ServerOptions{})
	if err != nil {
		return "", nil, err
	}
	go func() { _ = server.Serve(ln) }()
	return url, func() { _ = server.Close(); _ = engine.Close() }, nil
}

// workload serves the development identity of the workload name on a
// Workload API socket in dir, and returns a source reading it, as an agent
// reads its SVID from the SPIRE agent.
func workload(ctx context.Context, ca *devca.CA, dir, name string) (*identity.WorkloadSource, error) {
	srv, err := ca.Serve(ctx, name, filepath.Join(dir, name+".sock")) // stops with ctx
	if err != nil {
		return nil, err
	}
	return identity.NewWorkloadSource(ctx, identity.WorkloadOptions{Addr: srv.Addr(), Logger: slog.New(slog.DiscardHandler)})
}
