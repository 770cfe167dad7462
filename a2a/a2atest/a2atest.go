// Package a2atest serves AgentWeave A2A agents on loopback for tests —
// this project's and its users' — with the real engine, bindings and mTLS
// transport.
//
//	ca := identitytest.NewCA(t, td)
//	agent := a2atest.Serve(t, ca.Source(ca.CreateX509SVID(id)), a2atest.Options{
//		Engine: a2a.EngineOptions{Capabilities: caps},
//	})
//	// agent.URL is https://127.0.0.1:PORT; stopped at the end of the test.
package a2atest

import (
	"net"
	"net/http"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/transport"
)

// Options shape a test agent. The zero value serves a working agent once
// Engine.Capabilities is set.
type Options struct {
	// Name and Description go into the agent card. Default "agent".
	Name, Description string
	// Engine configures the engine. Self defaults to the source's ID and
	// Enforcer to authz.AllowAll(), so tests that are not about policy
	// need not set them.
	Engine a2a.EngineOptions
	// Callers admits clients at the TLS handshake. Default: every workload
	// of the agent's trust domain.
	Callers spiffeid.Matcher
	// Wrap, if set, wraps the A2A handler (to observe requests).
	Wrap func(http.Handler) http.Handler
	// Server configures the transport.
	Server transport.ServerOptions
	// Bindings are the protocol bindings the agent declares and serves
	// (a2a.CardOptions.Bindings). Default: JSON-RPC, HTTP+JSON and gRPC.
	Bindings []a2acore.TransportProtocol
}

// Agent is a running test agent.
type Agent struct {
	URL    string // https://127.0.0.1:PORT
	ID     spiffeid.ID
	Engine *a2a.Engine
}

// Serve starts an agent presenting src's SVID on a loopback port. The test
// fails if it cannot start; the agent stops when the test ends.
func Serve(tb testing.TB, src identity.Source, opts Options) *Agent {
	tb.Helper()
	if opts.Engine.Self.IsZero() {
		opts.Engine.Self = src.ID()
	}
	if opts.Engine.Enforcer == nil {
		opts.Engine.Enforcer = &authz.Enforcer{Authorizer: authz.AllowAll()}
	}
	if opts.Name == "" {
		opts.Name = "agent"
	}
	if opts.Description == "" {
		opts.Description = opts.Name + " (test agent)"
	}
	if opts.Callers == nil {
		opts.Callers = spiffeid.MatchMemberOf(src.ID().TrustDomain())
	}
	engine, err := a2a.NewEngine(opts.Engine)
	if err != nil {
		tb.Fatalf("a2atest: %v", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("a2atest: %v", err)
	}
	url := "https://" + ln.Addr().String()
	card, err := a2a.BuildCard(a2a.CardOptions{Name: opts.Name, Description: opts.Description, URLs: []string{url}, PushNotifications: engine.PushEnabled(), Bindings: opts.Bindings}, engine.Capabilities())
	if err != nil {
		tb.Fatalf("a2atest: %v", err)
	}
	h, err := a2a.NewHandler(engine, card, a2a.HandlerOptions{})
	if err != nil {
		tb.Fatalf("a2atest: %v", err)
	}
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	srv, err := transport.NewServer(src, opts.Callers, h, opts.Server)
	if err != nil {
		tb.Fatalf("a2atest: %v", err)
	}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() {
		_ = srv.Close()
		_ = engine.Close()
	})
	return &Agent{URL: url, ID: src.ID(), Engine: engine}
}
