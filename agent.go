package agentweave

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"sync"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/observe"
	"github.com/agentweave/agentweave-go/resilience"
	"github.com/agentweave/agentweave-go/transport"
)

// Config is an agent's configuration; see package config for every key.
type Config = config.Config

// LoadConfig reads, completes and validates a configuration file,
// reporting every problem at once (see config.Load).
func LoadConfig(path string) (*Config, error) { return config.Load(path) }

// ErrClosed is returned by an agent that has been shut down.
var ErrClosed = fmt.Errorf("agentweave: agent %w", net.ErrClosed)

// Agent is one AgentWeave agent: its identity, its policy and audit trail,
// the capabilities it serves over A2A with mutual TLS, and a client for
// calling other agents. Create it with [New], register capabilities, then
// [Agent.Start] or [Agent.Run]. Its methods are safe for concurrent use.
type Agent struct {
	cfg  *Config
	log  *slog.Logger
	opts options
	src  identity.Source
	id   spiffeid.ID

	enforcer *authz.Enforcer
	policy   policyState
	store    taskstore.Store
	client   *client.Client
	metrics  *observe.Metrics
	tracing  *observe.Tracing
	health   *observe.Health
	breakers *resilience.Breakers
	limiter  *resilience.RateLimiter
	retry    resilience.RetryOptions

	closers []func() error // run in reverse order by close

	mu      sync.Mutex // guards below
	caps    []Capability
	state   int // stateNew, stateStarted, stateClosed
	engine  *a2a.Engine
	server  *transport.Server
	ln      net.Listener
	url     string
	admin   *observe.AdminServer
	served  chan error // the A2A server's end
	stopped chan struct{}
}

const (
	stateNew = iota
	stateStarted
	stateClosed
)

// New builds an agent from cfg and opts. cfg comes from [LoadConfig] or
// config.Parse, or is built in Go: New applies the defaults to a copy
// ([config.Config.ApplyDefaults]) and refuses it with every problem
// ([config.Config.Validate]) before anything else. A configuration that
// names a task store the program does not link in (tasks.store: sqlite or
// postgres without its import, and no [WithStore]) is refused with the
// import to add. It waits, within identity.start_timeout, for the agent's SVID, and
// loads its policy; it fails rather than build an agent that could not
// authenticate or authorize. It does not listen yet: register
// capabilities, then call [Agent.Start] or [Agent.Run].
func New(ctx context.Context, cfg *Config, opts ...Option) (_ *Agent, err error) {
	if cfg == nil {
		return nil, errors.New("agentweave: no configuration")
	}
	c := *cfg
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("agentweave: %w", err)
	}
	a := &Agent{cfg: &c, stopped: make(chan struct{})}
	for _, o := range opts {
		o.apply(&a.opts)
	}
	if s := c.Tasks.Store; a.opts.store == nil && s != "" && s != "memory" {
		if err := taskstore.Linked(s); err != nil {
			return nil, fmt.Errorf("agentweave: %w", err)
		}
	}
	defer func() {
		if err != nil {
			_ = a.close()
		}
	}()
	if a.log, err = a.logger(); err != nil {
		return nil, err
	}
	if err := a.checkEnvironment(); err != nil {
		return nil, err
	}
	if err := a.buildObservability(ctx); err != nil {
		return nil, err
	}
	if err := a.buildIdentity(ctx); err != nil {
		return nil, err
	}
	if err := a.buildAuthorization(ctx); err != nil {
		return nil, err
	}
	if err := a.buildStore(ctx); err != nil {
		return nil, err
	}
	if err := a.buildClient(); err != nil {
		return nil, err
	}
	a.health.AddReadiness("identity", a.identityReady)
	a.health.AddReadiness("policy", a.policy.ready)
	a.health.AddReadiness("store", a.storeReady)
	return a, nil
}

func (a *Agent) logger() (*slog.Logger, error) {
	if a.opts.logger != nil {
		return a.opts.logger, nil
	}
	lc := a.cfg.Observability.Logging
	l, err := observe.NewLogger(os.Stderr, lc.Level, lc.Format)
	if err != nil {
		return nil, fmt.Errorf("agentweave: observability.logging: %w", err)
	}
	return l, nil
}

// checkEnvironment refuses Go options that would switch security off
// outside development (the configuration file's rules are checked when it
// loads).
func (a *Agent) checkEnvironment() error {
	if a.cfg.Agent.Environment == config.Development {
		return nil
	}
	if a.opts.authorizer != nil && authz.IsAllowAll(a.opts.authorizer) {
		return fmt.Errorf("agentweave: WithAuthorizer(authz.AllowAll()) is refused outside environment development (here %s)", a.cfg.Agent.Environment)
	}
	if a.cfg.Authorization.Provider == "allow-all" {
		return fmt.Errorf("agentweave: authorization.provider allow-all is refused outside environment development (here %s)", a.cfg.Agent.Environment)
	}
	return nil
}

// ID returns the agent's SPIFFE ID.
func (a *Agent) ID() spiffeid.ID { return a.id }

// Config returns the agent's configuration. Do not modify it.
func (a *Agent) Config() *Config { return a.cfg }

// Logger returns the agent's logger.
func (a *Agent) Logger() *slog.Logger { return a.log }

// Register adds a capability. It must be called before [Agent.Start].
func (a *Agent) Register(c Capability) error {
	if c.Handler == nil {
		return fmt.Errorf("agentweave: capability %q has no handler", c.Name)
	}
	for _, cc := range a.cfg.Agent.Capabilities {
		if cc.Name != c.Name {
			continue
		}
		if c.Description == "" {
			c.Description = cc.Description
		}
		if c.Tags == nil {
			c.Tags = cc.Tags
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.state != stateNew:
		return fmt.Errorf("agentweave: Register(%q) after Start", c.Name)
	case slices.ContainsFunc(a.caps, func(x Capability) bool { return x.Name == c.Name }):
		return fmt.Errorf("agentweave: capability %q registered twice", c.Name)
	}
	a.caps = append(a.caps, c)
	return nil
}

// URL returns the base URL the agent serves A2A on, once started.
func (a *Agent) URL() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.url
}

// Addr returns the address the agent listens on for A2A, once started.
func (a *Agent) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ln == nil {
		return nil
	}
	return a.ln.Addr()
}

// AdminAddr returns the address of the admin listener (/metrics,
// /healthz, /readyz), once started; "" when it is off.
func (a *Agent) AdminAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.admin == nil {
		return ""
	}
	return a.admin.Addr()
}

// close releases everything New built, in reverse order.
func (a *Agent) close() error {
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}
