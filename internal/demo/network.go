package demo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity/devca"
)

// The demo's workloads. intruder has an SVID of the trust domain but is
// not an agent: no agent admits it.
const (
	orchestrator = "orchestrator"
	search       = "search"
	summarizer   = "summarizer"
	reporter     = "reporter"
	intruder     = "intruder"
)

// workloads get a Workload API socket each, in this order.
var workloads = []string{orchestrator, search, summarizer, reporter, intruder}

// shutdownTimeout bounds the agents' graceful shutdown.
const shutdownTimeout = 5 * time.Second

// network is the demo's trust domain and agents.
type network struct {
	td      spiffeid.TrustDomain
	dir     string
	policy  string // the policy file
	log     *slog.Logger
	stopCA  context.CancelFunc
	sockets map[string]*devca.Server
	agents  map[string]*agentweave.Agent
	order   []string // agents, in start order

	searches   atomic.Int64 // runs of search's handler
	handshakes chan string  // details of the handshakes search refused

	mu   sync.Mutex
	urls map[spiffeid.ID]string // the resolver's map, filled as agents start
}

// startTrustDomain starts the development CA and one Workload API socket
// per workload in dir.
func startTrustDomain(ctx context.Context, t *transcript, dir string, td spiffeid.TrustDomain, ttl time.Duration, log *slog.Logger) (*network, error) {
	n := &network{
		td: td, dir: dir, log: log,
		sockets: map[string]*devca.Server{}, agents: map[string]*agentweave.Agent{},
		handshakes: make(chan string, 16), urls: map[spiffeid.ID]string{},
	}
	ca, err := devca.New(devca.Options{TrustDomain: td, TTL: ttl})
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	// The sockets outlive ctx: agents shut down first, then the CA.
	caCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	n.stopCA = stop
	t.line("CA for trust domain %q (SVID lifetime %s, rotated at half-life)", td.Name(), ttl)
	for _, name := range workloads {
		srv, err := ca.Serve(caCtx, name, filepath.Join(dir, name+".sock"))
		if err != nil {
			n.closeCA()
			return nil, fmt.Errorf("demo: %w", err)
		}
		n.sockets[name] = srv
		t.line("Workload API for %-12s at %s (serves %s)", name, srv.Addr(), srv.ID())
	}
	return n, nil
}

// id is the SPIFFE ID of the workload called name.
func (n *network) id(name string) string { return n.sockets[name].ID().String() }

// agentSpec says how to build one agent.
type agentSpec struct {
	name        string
	description string
	capability  string   // the capability it serves; "": it only calls
	callers     []string // names admitted at the TLS handshake; nil: the whole trust domain
}

// specs are the demo's agents, in start order.
var specs = []agentSpec{
	{name: summarizer, description: "Summarizes documents, streaming", capability: "summarize", callers: []string{orchestrator, search, reporter}},
	{name: search, description: "Searches the demo index", capability: "search", callers: []string{orchestrator, reporter}},
	{name: orchestrator, description: "Researches: searches, then has the findings summarized", capability: "research", callers: []string{reporter}},
	{name: reporter, description: "Reads summaries; serves nothing"},
}

// configYAML is an agent's configuration, as a file would hold it.
func (n *network) configYAML(s agentSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "agent:\n  name: %s\n  trust_domain: %s\n  environment: %s\n  description: %q\n", s.name, n.td.Name(), config.Production, s.description)
	fmt.Fprintf(&b, "identity:\n  spiffe_endpoint: %q\n  spiffe_id: %q\n  start_timeout: 10s\n", n.sockets[s.name].Addr(), n.id(s.name))
	fmt.Fprintf(&b, "authorization:\n  policy_dir: %q\n  audit: {destination: %q, sync: none}\n", filepath.Dir(n.policy), n.auditFile(s.name))
	if s.callers != nil {
		var pats []string
		for _, c := range s.callers {
			pats = append(pats, fmt.Sprintf("%q", "spiffe://"+n.td.Name()+"/agent/"+c+"/*"))
		}
		fmt.Fprintf(&b, "transport:\n  allowed_callers: [%s]\n", strings.Join(pats, ", "))
	}
	fmt.Fprintf(&b, "server:\n  shutdown_timeout: %s\n", shutdownTimeout)
	return b.String()
}

// auditFile is the path of an agent's audit trail.
func (n *network) auditFile(name string) string { return filepath.Join(n.dir, name+".audit.log") }

// startAgents writes the policy and starts the agents, each with its
// capabilities.
func (n *network) startAgents(ctx context.Context, t *transcript) error {
	policy, err := writePolicy(n.dir)
	if err != nil {
		return err
	}
	n.policy = policy
	t.line("policy (embedded OPA, reloaded when the file changes): %s", policy)
	for _, s := range specs {
		a, err := n.startAgent(ctx, s)
		if err != nil {
			return fmt.Errorf("demo: agent %s: %w", s.name, err)
		}
		t.line("%-12s %s", s.name, a.ID())
		if s.capability == "" {
			t.line("%-12s calls only: serves nothing", "")
			continue
		}
		t.line("%-12s serves %q at %s to %s; admin http://%s", "", s.capability, a.URL(), strings.Join(s.callers, ", "), a.AdminAddr())
	}
	for _, s := range specs {
		if s.capability == "" {
			continue
		}
		status, err := readyz(ctx, n.agents[s.name].AdminAddr())
		t.expect(err == nil && status == http.StatusOK, "%s is ready: /readyz answers %s (SVID valid, policy loaded, task store up)", s.name, statusOr(status, err))
	}
	return nil
}

// readyz asks an agent's admin listener whether it is ready.
func readyz(ctx context.Context, admin string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin+"/readyz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func statusOr(status int, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d %s", status, http.StatusText(status))
}

// startAgent builds the agent of s from its configuration and, if it
// serves, registers its capabilities and starts it.
func (n *network) startAgent(ctx context.Context, s agentSpec) (*agentweave.Agent, error) {
	cfg, err := config.Parse([]byte(n.configYAML(s)), s.name+".yaml", nil)
	if err != nil {
		return nil, err
	}
	log := n.log.With("agent", s.name)
	if s.name == search {
		log = slog.New(&handshakeWatch{next: log.Handler(), refused: n.handshakes})
	}
	opts := []agentweave.Option{agentweave.WithLogger(log), agentweave.WithResolver(client.ResolverFunc(n.resolve))}
	var ln net.Listener
	serve := s.capability != ""
	if serve {
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
		opts = append(opts, agentweave.WithListener(ln), agentweave.WithAdminAddr("127.0.0.1:0"))
	}
	a, err := agentweave.New(ctx, cfg, opts...)
	if err != nil {
		if ln != nil {
			_ = ln.Close()
		}
		return nil, err
	}
	n.agents[s.name] = a
	n.order = append(n.order, s.name)
	if !serve {
		return a, nil
	}
	var c agentweave.Capability
	switch s.name {
	case search:
		c = searchCapability(&n.searches)
	case summarizer:
		c = summarizeCapability()
	case orchestrator:
		c = researchCapability(a, n.id(search), n.id(summarizer))
	}
	if err := a.Register(c); err != nil {
		return nil, err
	}
	if err := a.Start(ctx); err != nil {
		_ = ln.Close()
		return nil, err
	}
	n.mu.Lock()
	n.urls[a.ID()] = a.URL()
	n.mu.Unlock()
	return a, nil
}

// resolve finds the URL of a started agent.
func (n *network) resolve(_ context.Context, id spiffeid.ID) (string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if u, ok := n.urls[id]; ok {
		return u, nil
	}
	return "", fmt.Errorf("demo: no agent %s is running: %w", id, client.ErrUnknownPeer)
}

// shutdown stops the agents gracefully (in-flight tasks finish), all at
// once, then the trust domain.
func (n *network) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	errs := make([]error, len(n.order))
	var wg sync.WaitGroup
	for i, name := range n.order {
		wg.Go(func() {
			if err := n.agents[name].Shutdown(ctx); err != nil && !errors.Is(err, agentweave.ErrClosed) {
				errs[i] = fmt.Errorf("demo: agent %s: %w", name, err)
			}
		})
	}
	wg.Wait()
	n.closeCA()
	return errors.Join(errs...)
}

func (n *network) closeCA() {
	n.stopCA()
	for _, name := range workloads {
		if s := n.sockets[name]; s != nil {
			_ = s.Close()
		}
	}
}

// handshakeWatch passes an agent's log records on, and reports the details
// of the mTLS handshakes its server refused (logged at warn level by
// package transport), which the agent logs whatever the level.
type handshakeWatch struct {
	next    slog.Handler
	refused chan<- string
}

func (h *handshakeWatch) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn || h.next.Enabled(ctx, l)
}

func (h *handshakeWatch) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "mTLS handshake refused" {
		r.Attrs(func(a slog.Attr) bool {
			if a.Key != "detail" {
				return true
			}
			select {
			case h.refused <- a.Value.String():
			default: // nobody is watching: drop it
			}
			return false
		})
	}
	if !h.next.Enabled(ctx, r.Level) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

func (h *handshakeWatch) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &handshakeWatch{next: h.next.WithAttrs(attrs), refused: h.refused}
}

func (h *handshakeWatch) WithGroup(name string) slog.Handler {
	return &handshakeWatch{next: h.next.WithGroup(name), refused: h.refused}
}
