package a2a_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/transport"
)

// An agent served by hand: the engine runs the capability once the policy
// allows the call, the handler speaks A2A over HTTP, and the transport
// admits only callers with an SVID of the trust domain. A plain A2A
// JSON-RPC request, as any A2A client sends it, calls the capability: the
// message's metadata names it under [a2a.ExtensionURI].
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
	orchestrator, err := workload(ctx, ca, dir, "orchestrator")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer orchestrator.Close()

	// The search agent's policy: only the orchestrator may call search.
	// (authz/opa decides with Rego; any Authorizer will do.)
	policy := authz.AuthorizerFunc(func(_ context.Context, in *authz.Input) (authz.Decision, error) {
		if in.CallerSPIFFEID == orchestrator.ID().String() && in.Action == "search" {
			return authz.Decision{Allow: true, Reason: "the orchestrator searches"}, nil
		}
		return authz.Decision{Reason: "only the orchestrator may search"}, nil
	})
	engine, err := a2a.NewEngine(a2a.EngineOptions{
		Self:     search.ID(),
		Enforcer: &authz.Enforcer{Authorizer: policy},
		Capabilities: []a2a.Capability{{
			Name: "search", Description: "finds documents",
			Handler: a2a.Func(func(_ context.Context, req *a2a.Request, q struct{ Query string }) ([]string, error) {
				return []string{q.Query + " for " + req.Caller.String()}, nil
			}),
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer engine.Close()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	url := "https://" + ln.Addr().String()
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "search", Description: "searches", URLs: []string{url}}, engine.Capabilities())
	if err != nil {
		fmt.Println(err)
		return
	}
	handler, err := a2a.NewHandler(engine, card, a2a.HandlerOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	server, err := transport.NewServer(search, spiffeid.MatchMemberOf(ca.TrustDomain()), handler, transport.ServerOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = server.Serve(ln) }()
	defer server.Close()

	// The orchestrator's side: mutual TLS, accepting only the search
	// agent's SPIFFE ID, and an A2A SendMessage.
	client, err := transport.NewClient(orchestrator, spiffeid.MatchID(search.ID()), transport.ClientOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.CloseIdleConnections()
	body := `{"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": {
		"messageId": "m1", "role": "ROLE_USER",
		"metadata": {"` + a2a.ExtensionURI + `": "search"},
		"parts": [{"data": {"query": "spiffe"}}]}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		fmt.Println(err)
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("A2A-Version", "1.0")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	var out struct {
		Result struct {
			Task struct {
				Status    struct{ State string }
				Artifacts []struct {
					Name  string
					Parts []struct{ Data any }
				}
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		fmt.Println(err)
		return
	}
	task := out.Result.Task
	fmt.Println(task.Status.State)
	for _, a := range task.Artifacts {
		fmt.Println(a.Name, a.Parts[0].Data)
	}
	// Output:
	// TASK_STATE_COMPLETED
	// result [spiffe for spiffe://example.org/agent/orchestrator/dev]
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
