package agentweavetest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/internal/pki"
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
	// Config, when set, edits each agent's configuration before the agent
	// is built (name is the agent's name). cfg is the network's
	// configuration for that agent (see the package documentation); what
	// Config leaves zero gets its default, and the result is validated as
	// any configuration is, so a test can set any key a YAML file could.
	Config func(name string, cfg *agentweave.Config)
	// AgentOptions are added to every agent's options, after the
	// network's own (identity source, listener, admin address, resolver),
	// so they can replace them.
	AgentOptions []agentweave.Option
}

// Network is a set of agents on loopback sharing a trust domain and a
// policy. It is safe for concurrent use.
type Network struct {
	tb     testing.TB       // nil for a network from Open
	ca     *identitytest.CA // nil for a network from Open
	issuer *pki.CA          // nil for a network from New
	td     spiffeid.TrustDomain
	dir    string
	policy string
	opts   Options

	mu     sync.Mutex
	urls   map[spiffeid.ID]string
	agents []*agentweave.Agent
	closed bool
}

// New returns an empty network for the test tb; its agents stop and its
// files are removed when the test ends. Failures fail the test.
func New(tb testing.TB, opts Options) *Network {
	tb.Helper()
	td, err := trustDomain(&opts)
	if err != nil {
		tb.Fatalf("agentweavetest: %v", err)
	}
	n := newNetwork(opts, td, tb.TempDir())
	n.tb, n.ca = tb, identitytest.NewCA(tb, td)
	tb.Cleanup(func() { _ = n.Close() })
	if err := n.writePolicy(opts.Policy); err != nil {
		tb.Fatalf("agentweavetest: %v", err)
	}
	return n
}

// Open returns an empty network for code that has no test to fail: an
// Example, a demonstration program. The caller must [Network.Close] it,
// which stops its agents and removes its files. Start agents with
// [Network.Start]: on such a network the methods that fail a test
// ([Network.Agent], [Network.SetPolicy]) panic instead, and [Network.CA]
// is nil.
func Open(opts Options) (*Network, error) {
	td, err := trustDomain(&opts)
	if err != nil {
		return nil, fmt.Errorf("agentweavetest: %w", err)
	}
	now := time.Now()
	issuer, err := pki.NewCA(td, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		return nil, fmt.Errorf("agentweavetest: %w", err)
	}
	dir, err := os.MkdirTemp("", "agentweavetest-")
	if err != nil {
		return nil, fmt.Errorf("agentweavetest: %w", err)
	}
	n := newNetwork(opts, td, dir)
	n.issuer = issuer
	if err := n.writePolicy(opts.Policy); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("agentweavetest: %w", err)
	}
	return n, nil
}

// trustDomain applies the defaults of opts and parses its trust domain.
func trustDomain(opts *Options) (spiffeid.TrustDomain, error) {
	if opts.TrustDomain == "" {
		opts.TrustDomain = "example.org"
	}
	if opts.Policy == "" {
		opts.Policy = DefaultPolicy
	}
	td, err := spiffeid.TrustDomainFromString(opts.TrustDomain)
	if err != nil {
		return spiffeid.TrustDomain{}, fmt.Errorf("trust domain: %w", err)
	}
	return td, nil
}

func newNetwork(opts Options, td spiffeid.TrustDomain, dir string) *Network {
	return &Network{td: td, dir: dir, policy: filepath.Join(dir, "policy"), opts: opts, urls: map[spiffeid.ID]string{}}
}

// Close stops every agent of the network and, for a network from [Open],
// removes its files. It is idempotent; a network from [New] is closed
// when its test ends. Starting an agent afterwards fails.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	agents := n.agents
	n.agents = nil
	n.mu.Unlock()
	var errs []error
	for i := len(agents) - 1; i >= 0; i-- {
		errs = append(errs, agents[i].Close())
	}
	if n.tb == nil {
		errs = append(errs, os.RemoveAll(n.dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("agentweavetest: %w", err)
	}
	return nil
}

// fatalf fails the test, or panics on a network from Open.
func (n *Network) fatalf(format string, args ...any) {
	if n.tb != nil {
		n.tb.Helper()
		n.tb.Fatalf(format, args...)
	}
	panic(fmt.Sprintf(format, args...))
}

// SetPolicy replaces the network's policy; agents reload it within their
// reload interval (100ms).
func (n *Network) SetPolicy(rego string) {
	if n.tb != nil {
		n.tb.Helper()
	}
	if err := n.writePolicy(rego); err != nil {
		n.fatalf("agentweavetest: %v", err)
	}
}

func (n *Network) writePolicy(rego string) error {
	if err := os.MkdirAll(n.policy, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(n.policy, "policy.rego"), []byte(rego), 0o600)
}

// CA returns the network's test CA, to mint other identities (impostors,
// expired SVIDs) its agents trust. It is nil on a network from [Open].
func (n *Network) CA() *identitytest.CA { return n.ca }

// ID returns the SPIFFE ID an agent called name has:
// spiffe://<trust domain>/agent/<name>/production.
func (n *Network) ID(name string) string { return n.id(name).String() }

func (n *Network) id(name string) spiffeid.ID {
	return spiffeid.RequireFromSegments(n.td, "agent", name, config.Production)
}

// AuditFile is the path of an agent's audit trail.
func (n *Network) AuditFile(name string) string { return filepath.Join(n.dir, name+".audit.log") }

// config is the configuration the network gives an agent called name,
// before Options.Config.
func (n *Network) config(name string) *agentweave.Config {
	return &agentweave.Config{
		Agent: config.Agent{Name: name, TrustDomain: n.td.Name(), Environment: config.Production},
		// The SVID comes from WithIdentitySource: nothing dials this.
		Identity: config.Identity{SPIFFEEndpoint: "unix:///nonexistent/agentweavetest.sock"},
		Authorization: config.Authorization{
			PolicyDir:      n.policy,
			ReloadInterval: 100 * time.Millisecond,
			Audit:          config.Audit{Destination: n.AuditFile(name), Sync: "none"},
		},
		Observability: config.Observability{
			// The admin listener is WithAdminAddr's; the port is never bound.
			Metrics: config.Metrics{Host: "127.0.0.1", Port: 1},
			Logging: config.Logging{Level: "warn"},
		},
	}
}

// source is the identity of the agent called name: an SVID of the
// network's CA.
func (n *Network) source(name string) (identity.Source, error) {
	id := n.id(name)
	if n.ca != nil {
		return n.ca.Source(n.ca.CreateX509SVID(id)), nil
	}
	now := time.Now()
	svid, err := n.issuer.IssueSVID(id, now.Add(-time.Minute), now.Add(identitytest.DefaultTTL))
	if err != nil {
		return nil, err
	}
	return identity.NewStaticSource(svid, []*x509bundle.Bundle{n.issuer.Bundle()}, nil)
}

// Agent starts an agent called name, in environment production, serving
// caps (it may serve none and only call), and returns it. A failure fails
// the test (on a network from [Open], it panics: use [Network.Start]).
func (n *Network) Agent(name string, caps ...agentweave.Capability) *agentweave.Agent {
	if n.tb != nil {
		n.tb.Helper()
	}
	a, err := n.Start(name, caps...)
	if err != nil {
		n.fatalf("agentweavetest: agent %s: %v", name, err)
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
	ctx := context.Background()
	cfg := n.config(name)
	if n.opts.Config != nil {
		n.opts.Config(name, cfg)
	}
	src, err := n.source(name)
	if err != nil {
		return nil, err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	opts := append([]agentweave.Option{
		agentweave.WithIdentitySource(src),
		agentweave.WithResolver(client.ResolverFunc(n.resolve)),
		agentweave.WithListener(ln),
		agentweave.WithAdminAddr("127.0.0.1:0"),
	}, n.opts.AgentOptions...)
	a, err := agentweave.New(ctx, cfg, opts...)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	if err := n.track(a); err != nil {
		return nil, err
	}
	if len(caps) == 0 { // a caller only: it still serves, with a capability that says so
		caps = []agentweave.Capability{{Name: "ping", Description: "answers pong", Handler: func(context.Context, *agentweave.Request) (any, error) {
			return "pong", nil
		}}}
	}
	for _, c := range caps {
		if err := a.Register(c); err != nil {
			_ = a.Close()
			return nil, err
		}
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Close()
		return nil, err
	}
	n.mu.Lock()
	n.urls[n.id(name)] = a.URL()
	n.mu.Unlock()
	return a, nil
}

// track has Close stop a; a network already closed refuses it.
func (n *Network) track(a *agentweave.Agent) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		_ = a.Close()
		return fmt.Errorf("agentweavetest: %w", net.ErrClosed)
	}
	n.agents = append(n.agents, a)
	if n.tb != nil {
		// Each agent stops in its own cleanup, so it stops before what the
		// test registered before starting it.
		n.tb.Cleanup(func() { _ = a.Close() })
	}
	return nil
}

func (n *Network) resolve(_ context.Context, id spiffeid.ID) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if u, ok := n.urls[id]; ok {
		return u, nil
	}
	return "", fmt.Errorf("agentweavetest: no agent %s in this network: %w", id, client.ErrUnknownPeer)
}
