package agentweave

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/observe"
	"github.com/agentweave/agentweave-go/resilience"
	"github.com/agentweave/agentweave-go/transport"
)

// Start listens and serves the registered capabilities in the background:
// A2A over mutual TLS, and the admin endpoints (metrics, health). It
// returns once both listen. ctx bounds only the start. An agent needs at
// least one capability to start; an agent that only calls others needs
// no Start: New gives it its identity, policy and client.
func (a *Agent) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch a.state {
	case stateStarted:
		return errors.New("agentweave: agent already started")
	case stateClosed:
		return ErrClosed
	}
	if len(a.caps) == 0 {
		return errors.New("agentweave: no capabilities registered")
	}
	if err := a.identityReady(ctx); err != nil {
		return fmt.Errorf("agentweave: refusing to start: %w", err)
	}
	if err := a.policy.ready(ctx); err != nil {
		return fmt.Errorf("agentweave: refusing to start: %w", err)
	}
	engine, err := a.newEngine()
	if err != nil {
		return err
	}
	ln, given := a.opts.listener, a.opts.listener != nil
	a.opts.listener = nil // from here on, Start closes it on failure
	if ln == nil {
		sc := a.cfg.Server
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(sc.Host, strconv.Itoa(sc.Port))); err != nil {
			_ = engine.Close()
			return fmt.Errorf("agentweave: listen: %w", err)
		}
	}
	ln = &countingListener{Listener: ln, metrics: a.metrics}
	urls := a.publicURLs(ln.Addr(), given)
	bindings, err := a2a.ParseBindings(a.cfg.Server.Bindings)
	if err != nil {
		_ = engine.Close()
		_ = ln.Close()
		return fmt.Errorf("agentweave: server.bindings: %w", err)
	}
	card, err := a2a.BuildCard(a2a.CardOptions{
		Name: a.cfg.Agent.Name, Description: a.cfg.Agent.Description, Version: a.cfg.Agent.Version,
		URLs: urls, PushNotifications: engine.PushEnabled(), Bindings: bindings, WithoutExtendedCard: a.opts.withoutExtendedCard,
	}, engine.Capabilities())
	if err != nil {
		_ = engine.Close()
		_ = ln.Close()
		return fmt.Errorf("agentweave: agent card: %w", err)
	}
	h, err := a2a.NewHandler(engine, card, a2a.HandlerOptions{MaxBodyBytes: a.cfg.Server.MaxBodyBytes})
	if err != nil {
		_ = engine.Close()
		_ = ln.Close()
		return err
	}
	srv, err := a.newServer(a.tracing.Handler(a.rateLimit(h), "a2a"))
	if err != nil {
		_ = engine.Close()
		_ = ln.Close()
		return err
	}
	admin, err := a.serveAdmin(ctx)
	if err != nil {
		_ = engine.Close()
		_ = ln.Close()
		return err
	}
	a.engine, a.server, a.ln, a.admin, a.url = engine, srv, ln, admin, urls[0]
	a.served = make(chan error, 1)
	go func() { a.served <- srv.Serve(ln) }()
	a.state = stateStarted
	a.log.Info("agent serving", "spiffe_id", a.id.String(), "url", a.url, "listen", ln.Addr().String(),
		"policy", a.policy.describe, "environment", a.cfg.Agent.Environment, "admin", a.adminAddrLocked())
	return nil
}

func (a *Agent) adminAddrLocked() string {
	if a.admin == nil {
		return ""
	}
	return a.admin.Addr()
}

func (a *Agent) newEngine() (*a2a.Engine, error) {
	opts := a2a.EngineOptions{
		Capabilities: a.caps, Store: a.store, Logger: a.log, Enforcer: a.enforcer, Self: a.id,
		Observe: func(_ context.Context, op string, d time.Duration, err error) {
			a.metrics.ObserveRequest(observe.Inbound, op, outcome(err), d)
		},
	}
	if pc := a.cfg.Tasks.Push; pc.Enabled {
		push := &a2a.PushOptions{Source: a.src}
		for _, n := range pc.AllowedNetworks {
			push.AllowedNetworks = append(push.AllowedNetworks, netip.MustParsePrefix(n)) // validated by config
		}
		opts.Push = push
	}
	e, err := a2a.NewEngine(opts)
	if err != nil {
		return nil, fmt.Errorf("agentweave: %w", err)
	}
	return e, nil
}

// publicURLs are the configured ones, or the listener's address when the
// configuration left them to their default and the port was chosen at
// listen time.
func (a *Agent) publicURLs(addr net.Addr, given bool) []string {
	sc := a.cfg.Server
	if !given {
		return sc.PublicURLs
	}
	if len(sc.PublicURLs) > 0 && !strings.HasSuffix(sc.PublicURLs[0], ":"+strconv.Itoa(sc.Port)) {
		return sc.PublicURLs // set by hand
	}
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil || ap.Addr().IsUnspecified() {
		_, port, _ := net.SplitHostPort(addr.String())
		return []string{"https://" + net.JoinHostPort("127.0.0.1", port)}
	}
	return []string{"https://" + ap.String()}
}

func (a *Agent) newServer(h http.Handler) (*transport.Server, error) {
	tc, sc := a.cfg.Transport, a.cfg.Server
	callers, err := identity.ParsePatterns(tc.AllowedCallers)
	if err != nil {
		return nil, fmt.Errorf("agentweave: transport.allowed_callers: %w", err)
	}
	minTLS, err := tlsVersion(tc.TLSMinVersion)
	if err != nil {
		return nil, err
	}
	srv, err := transport.NewServer(a.src, identity.MatchPatterns(callers...), h, transport.ServerOptions{
		TLSOptions:        transport.TLSOptions{MinVersion: minTLS, Logger: a.log},
		ReadHeaderTimeout: sc.ReadHeaderTimeout,
		IdleTimeout:       sc.IdleTimeout,
		OnHandshakeError:  func(detail string) { a.metrics.HandshakeFailed(handshakeReason(detail)) },
	})
	if err != nil {
		return nil, fmt.Errorf("agentweave: %w", err)
	}
	return srv, nil
}

// handshakeReason classifies a failed handshake for its metric, from the
// description net/http logs (the TLS stack's own refusals never reach our
// verifier): a certificate that does not verify is checked before an
// identity that verifies but is not admitted.
func handshakeReason(detail string) string {
	d := strings.ToLower(detail)
	has := func(subs ...string) bool {
		return slices.ContainsFunc(subs, func(s string) bool { return strings.Contains(d, s) })
	}
	switch {
	case has("didn't provide a certificate", "no certificate"):
		return observe.ReasonNoCertificate
	case has("not a valid x509-svid", "x509svid", "x509:", "expired", "unknown authority", "trust domain not allowed"):
		return observe.ReasonBadCertificate
	case has("not authorized", "peer not allowed"):
		return observe.ReasonUnauthorized
	case has("timeout", "deadline"):
		return observe.ReasonTimeout
	case has("version", "protocol", "cipher"):
		return observe.ReasonProtocol
	case has("certificate"):
		return observe.ReasonBadCertificate
	}
	return "other"
}

func tlsVersion(s string) (uint16, error) {
	v, err := transport.ParseTLSVersion(s)
	if err != nil {
		return 0, fmt.Errorf("agentweave: transport.tls_min_version: %w", err)
	}
	return v, nil
}

func clientTransport(minTLS uint16, maxConns int, idle time.Duration, log *slog.Logger, onReject func(error)) transport.ClientOptions {
	return transport.ClientOptions{
		TLSOptions:      transport.TLSOptions{MinVersion: minTLS, Logger: log, OnReject: onReject},
		MaxConnsPerHost: maxConns,
		IdleConnTimeout: idle,
	}
}

// rateLimit refuses a caller over its rate with 429 and Retry-After
// (RESOURCE_EXHAUSTED to a gRPC call).
func (a *Agent) rateLimit(next http.Handler) http.Handler {
	if a.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := identity.PeerIDFromContext(r.Context())
		err := a.limiter.Allow(id.String())
		var rl *resilience.RateLimitError
		if errors.As(err, &rl) {
			a.metrics.RateLimited(observe.Inbound)
			secs := int((rl.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			a2a.Refuse(w, r, http.StatusTooManyRequests, err.Error())
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (a *Agent) serveAdmin(ctx context.Context) (*observe.AdminServer, error) {
	mc := a.cfg.Observability.Metrics
	addr := net.JoinHostPort(mc.Host, strconv.Itoa(mc.Port))
	switch {
	case a.opts.adminAddr != nil:
		addr = *a.opts.adminAddr
	case !*mc.Enabled:
		addr = ""
	}
	if addr == "" {
		return nil, nil
	}
	s, err := observe.ServeAdmin(ctx, addr, observe.AdminHandler(a.metrics, a.health))
	if err != nil {
		return nil, fmt.Errorf("agentweave: admin listener: %w", err)
	}
	return s, nil
}

// Run starts the agent (unless it was started) and serves until ctx ends
// (e.g. on SIGTERM via signal.NotifyContext), then shuts down gracefully
// within server.shutdown_timeout. It returns nil after a clean shutdown.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	started := a.state == stateStarted
	a.mu.Unlock()
	if !started {
		if err := a.Start(ctx); err != nil {
			_ = a.Close()
			return err
		}
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-a.served:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		return err
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("agentweave: serve: %w", serveErr)
	}
	return nil
}

// Shutdown stops the agent gracefully: readiness turns false, the
// listener stops accepting, in-flight requests and running tasks finish
// (until ctx ends; then they are canceled and fail), and everything is
// released. Later calls return [ErrClosed].
func (a *Agent) Shutdown(ctx context.Context) error {
	engine, srv, admin, started, err := a.stopping()
	switch {
	case err != nil:
		return err
	case !started:
		return a.finish()
	}
	a.log.Info("agent shutting down: draining in-flight tasks")
	var errs []error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // requests waiting on tasks end as the tasks do
		defer wg.Done()
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("agentweave: A2A server: %w", err))
			_ = srv.Close()
		}
	}()
	if err := engine.Shutdown(ctx); err != nil {
		a.log.Warn("tasks still running at the end of the drain were canceled", "error", err)
	}
	wg.Wait()
	_ = engine.Close()
	if admin != nil {
		_ = admin.Shutdown(ctx)
	}
	return errors.Join(append(errs, a.finish())...)
}

// Close stops the agent at once: running tasks are canceled.
func (a *Agent) Close() error {
	engine, srv, admin, started, err := a.stopping()
	if errors.Is(err, ErrClosed) {
		return nil
	}
	if started {
		_ = srv.Close()
		_ = engine.Close()
		if admin != nil {
			_ = admin.Close()
		}
	}
	return a.finish()
}

// stopping marks the agent closed and hands over what runs.
func (a *Agent) stopping() (*a2a.Engine, *transport.Server, *observe.AdminServer, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state == stateClosed {
		return nil, nil, nil, false, ErrClosed
	}
	started := a.state == stateStarted
	a.state = stateClosed
	a.health.SetShuttingDown()
	return a.engine, a.server, a.admin, started, nil
}

// finish releases what New built and reports the agent done.
func (a *Agent) finish() error {
	if a.opts.listener != nil { // given, never started
		_ = a.opts.listener.Close()
	}
	err := a.close()
	close(a.stopped)
	a.log.Info("agent stopped", "spiffe_id", a.id.String(), "error", err)
	return err
}

// Done is closed when the agent has shut down.
func (a *Agent) Done() <-chan struct{} { return a.stopped }

// countingListener keeps agentweave_active_connections.
type countingListener struct {
	net.Listener
	metrics *observe.Metrics
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.metrics.ConnOpened()
	return &countedConn{Conn: c, metrics: l.metrics}, nil
}

type countedConn struct {
	net.Conn
	metrics *observe.Metrics
	once    sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(c.metrics.ConnClosed)
	return c.Conn.Close()
}
