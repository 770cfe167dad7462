// Package agentweavetest runs AgentWeave agents on loopback for tests:
// real agents (mutual TLS, embedded OPA, hash-chained audit files) whose
// SVIDs come from an in-memory test CA instead of SPIRE.
//
//	net := agentweavetest.New(t, agentweavetest.Options{})
//	search := net.Agent("search", agentweave.Capability{Name: "search", Description: "…", Handler: h})
//	orch := net.Agent("orchestrator")
//	res, err := orch.Call(ctx, net.ID("search"), "search", query)
package agentweavetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity/identitytest"
)

// DefaultPolicy lets every workload of the trust domain call every
// capability and task operation; a test that is about policy gives its
// own.
const DefaultPolicy = `package agentweave.authz

default allow := false

allow if input.caller_trust_domain == input.callee_trust_domain
`

// Options configures a [Network]. The zero value works.
type Options struct {
	// TrustDomain of every agent. Default example.org.
	TrustDomain string
	// Policy is the Rego source every agent decides with (package
	// agentweave.authz). Default [DefaultPolicy].
	Policy string
	// Config, when set, adjusts each agent's configuration YAML before it
	// loads (name is the agent's name).
	Config func(name string, yaml string) string
	// AgentOptions are added to every agent's options.
	AgentOptions []agentweave.Option
}

// Network is a set of agents on loopback sharing a test trust domain. It
// is safe for concurrent use.
type Network struct {
	tb     testing.TB
	ca     *identitytest.CA
	td     spiffeid.TrustDomain
	dir    string
	policy string
	opts   Options

	mu   sync.Mutex
	urls map[spiffeid.ID]string
}

// New returns an empty network; agents stop when the test ends.
func New(tb testing.TB, opts Options) *Network {
	tb.Helper()
	if opts.TrustDomain == "" {
		opts.TrustDomain = "example.org"
	}
	if opts.Policy == "" {
		opts.Policy = DefaultPolicy
	}
	td, err := spiffeid.TrustDomainFromString(opts.TrustDomain)
	if err != nil {
		tb.Fatalf("agentweavetest: trust domain: %v", err)
	}
	n := &Network{tb: tb, ca: identitytest.NewCA(tb, td), td: td, dir: tb.TempDir(), opts: opts, urls: map[spiffeid.ID]string{}}
	n.policy = filepath.Join(n.dir, "policy")
	if err := os.MkdirAll(n.policy, 0o700); err != nil {
		tb.Fatal(err)
	}
	n.SetPolicy(opts.Policy)
	return n
}

// SetPolicy replaces the network's policy; agents reload it within their
// reload interval.
func (n *Network) SetPolicy(rego string) {
	n.tb.Helper()
	if err := os.WriteFile(filepath.Join(n.policy, "policy.rego"), []byte(rego), 0o600); err != nil {
		n.tb.Fatal(err)
	}
}

// CA returns the network's test CA, to mint other identities (impostors,
// expired SVIDs).
func (n *Network) CA() *identitytest.CA { return n.ca }

// ID returns the SPIFFE ID an agent called name has:
// spiffe://<trust domain>/agent/<name>/production.
func (n *Network) ID(name string) string { return n.id(name).String() }

func (n *Network) id(name string) spiffeid.ID {
	return spiffeid.RequireFromSegments(n.td, "agent", name, config.Production)
}

// AuditFile is the path of an agent's audit trail.
func (n *Network) AuditFile(name string) string { return filepath.Join(n.dir, name+".audit.log") }

// Agent starts an agent called name, in environment production, serving
// caps (it may serve none and only call), and returns it.
func (n *Network) Agent(name string, caps ...agentweave.Capability) *agentweave.Agent {
	n.tb.Helper()
	a, err := n.Start(name, caps...)
	if err != nil {
		n.tb.Fatalf("agentweavetest: agent %s: %v", name, err)
	}
	return a
}

// Start is [Network.Agent] returning the error.
func (n *Network) Start(name string, caps ...agentweave.Capability) (*agentweave.Agent, error) {
	return n.StartAt(name, "127.0.0.1:0", caps...)
}

// StartAt is [Network.Start] listening on addr, e.g. to bring an agent
// back on the address it had.
func (n *Network) StartAt(name, addr string, caps ...agentweave.Capability) (*agentweave.Agent, error) {
	yaml := fmt.Sprintf(`agent: {name: %s, trust_domain: %s, environment: production}
identity: {spiffe_endpoint: "unix:///nonexistent/agentweavetest.sock"}
authorization:
  policy_dir: %q
  reload_interval: 100ms
  audit: {destination: %q, sync: none}
observability:
  metrics: {host: 127.0.0.1, port: 1}
  logging: {level: warn}
`, name, n.td.Name(), n.policy, n.AuditFile(name))
	if n.opts.Config != nil {
		yaml = n.opts.Config(name, yaml)
	}
	cfg, err := config.Parse([]byte(yaml), name+".yaml", nil)
	if err != nil {
		return nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	opts := append([]agentweave.Option{
		agentweave.WithIdentitySource(n.ca.Source(n.ca.CreateX509SVID(n.id(name)))),
		agentweave.WithResolver(client.ResolverFunc(n.resolve)),
		agentweave.WithListener(ln),
		agentweave.WithAdminAddr("127.0.0.1:0"),
	}, n.opts.AgentOptions...)
	a, err := agentweave.New(context.Background(), cfg, opts...)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	n.tb.Cleanup(func() { _ = a.Close() })
	if len(caps) == 0 { // a caller only: it still serves, with a capability that says so
		caps = []agentweave.Capability{{Name: "ping", Description: "answers pong", Handler: func(context.Context, *agentweave.Request) (any, error) {
			return "pong", nil
		}}}
	}
	for _, c := range caps {
		if err := a.Register(c); err != nil {
			return nil, err
		}
	}
	if err := a.Start(context.Background()); err != nil {
		return nil, err
	}
	n.mu.Lock()
	n.urls[n.id(name)] = a.URL()
	n.mu.Unlock()
	return a, nil
}

func (n *Network) resolve(_ context.Context, id spiffeid.ID) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if u, ok := n.urls[id]; ok {
		return u, nil
	}
	return "", fmt.Errorf("agentweavetest: no agent %s in this network: %w", id, client.ErrUnknownPeer)
}
