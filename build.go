package agentweave

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/observe"
	"github.com/agentweave/agentweave-go/resilience"
)

func (a *Agent) buildObservability(ctx context.Context) error {
	m, err := observe.NewMetrics(a.opts.registerer)
	if err != nil {
		return fmt.Errorf("agentweave: metrics: %w", err)
	}
	a.metrics = m
	a.health = observe.NewHealth()
	m.ExportReadiness(a.health)
	tc := a.cfg.Observability.Tracing
	topts := observe.TracingOptions{
		Enabled: tc.Enabled, Exporter: tc.Exporter, Endpoint: tc.Endpoint,
		SampleRatio: *tc.SampleRatio, ServiceName: a.cfg.Agent.Name,
	}
	if a.opts.spans != nil {
		topts.Enabled, topts.SpanProcessor = true, a.opts.spans
	}
	t, err := observe.NewTracing(ctx, topts)
	if err != nil {
		return fmt.Errorf("agentweave: observability.tracing: %w", err)
	}
	a.tracing = t
	a.closers = append(a.closers, func() error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return t.Shutdown(ctx)
	})
	return nil
}

func (a *Agent) buildIdentity(ctx context.Context) error {
	if src := a.opts.source; src != nil {
		a.src, a.id = src, src.ID()
		return nil
	}
	ic := a.cfg.Identity
	allowed, err := identity.ParseTrustDomains(ic.AllowedTrustDomains)
	if err != nil {
		return fmt.Errorf("agentweave: identity.allowed_trust_domains: %w", err)
	}
	var src identity.Source
	if ic.Provider == "static" {
		src, err = identity.LoadStaticSource(ic.Static.CertFile, ic.Static.KeyFile, ic.Static.BundleFile, allowed)
	} else {
		var id spiffeid.ID
		if id, err = spiffeid.FromString(ic.SPIFFEID); err != nil {
			return fmt.Errorf("agentweave: identity.spiffe_id: %w", err)
		}
		a.log.Info("waiting for the agent's SVID", "spiffe_id", id.String(), "workload_api", ic.SPIFFEEndpoint, "timeout", ic.StartTimeout.String())
		src, err = identity.NewWorkloadSource(ctx, identity.WorkloadOptions{
			Addr: ic.SPIFFEEndpoint, ID: id, AllowedTrustDomains: allowed, StartTimeout: ic.StartTimeout, Logger: a.log,
		})
	}
	if err != nil {
		a.metrics.Error(observe.KindIdentity)
		return fmt.Errorf("agentweave: %w", err)
	}
	a.src, a.id = src, src.ID()
	a.closers = append(a.closers, src.Close)
	a.watchSVID(src)
	return nil
}

// watchSVID keeps the SVID metrics current.
func (a *Agent) watchSVID(src identity.Source) {
	if svid, err := src.GetX509SVID(); err == nil && len(svid.Certificates) > 0 {
		a.metrics.SVIDUpdated(svid.Certificates[0].NotAfter, false)
	}
	ws, ok := src.(*identity.WorkloadSource)
	if !ok {
		return
	}
	seen := ws.Rotations()
	stop := make(chan struct{})
	a.closers = append(a.closers, func() error { close(stop); return nil })
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-ws.Updated():
			}
			// Updates also bring new bundles or other SVIDs; a rotation is
			// a new certificate for this agent's SVID.
			n := ws.Rotations()
			rotated := n > seen
			seen = n
			if svid, err := ws.GetX509SVID(); err == nil && len(svid.Certificates) > 0 {
				a.metrics.SVIDUpdated(svid.Certificates[0].NotAfter, rotated)
				if rotated {
					a.log.Info("SVID rotated", "spiffe_id", svid.ID.String(), "expires", svid.Certificates[0].NotAfter)
				}
			}
		}
	}()
}

// identityReady: the agent holds an SVID that is valid now.
func (a *Agent) identityReady(context.Context) error {
	svid, err := a.src.GetX509SVID()
	if err != nil {
		return err
	}
	now := time.Now()
	if leaf := svid.Certificates[0]; now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return fmt.Errorf("SVID %s is not valid now (valid %s to %s)", svid.ID, leaf.NotBefore.Format(time.RFC3339), leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// policyState says whether a policy is loaded, for readiness.
type policyState struct {
	describe string
	loaded   func() error
}

func (p policyState) ready(context.Context) error {
	if p.loaded == nil {
		return nil
	}
	return p.loaded()
}

func (a *Agent) buildAuthorization(ctx context.Context) error {
	az := a.cfg.Authorization
	var authorizer authz.Authorizer
	switch {
	case a.opts.authorizer != nil:
		authorizer, a.policy.describe = a.opts.authorizer, "WithAuthorizer"
		rev := revisionCustom
		if authz.IsAllowAll(authorizer) {
			rev = revisionAllowAll
		}
		a.metrics.PolicyRevision(rev)
	case az.Provider == "allow-all":
		authorizer, a.policy.describe = authz.AllowAll(), "allow-all (development)"
		a.metrics.PolicyRevision(revisionAllowAll)
	case az.OPAEndpoint != "":
		cb := az.CircuitBreaker
		r, err := opa.NewRemote(opa.RemoteOptions{
			Endpoint: az.OPAEndpoint, PolicyPath: az.PolicyPath, Timeout: az.Timeout, Logger: a.log,
			FailureThreshold: cb.FailureThreshold, RecoveryTimeout: cb.RecoveryTimeout, SuccessThreshold: cb.SuccessThreshold,
			OnBreakerChange: a.metrics.BreakerState,
		})
		if err != nil {
			return fmt.Errorf("agentweave: authorization: %w", err)
		}
		a.closers = append(a.closers, r.Close)
		a.metrics.BreakerState("opa "+az.OPAEndpoint, observe.BreakerClosed) // exported from the start
		if err := a.probePolicy(ctx, r); err != nil {
			return err
		}
		authorizer, a.policy.describe = r, "OPA at "+az.OPAEndpoint
		a.metrics.PolicyRevision(revisionRemote)
	default:
		cacheSize := 0 // unset: opa.DefaultCacheSize, as configuration's default
		if az.CacheSize != nil {
			cacheSize = *az.CacheSize
			if cacheSize == 0 {
				cacheSize = -1 // 0 turns the cache off
			}
		}
		e, err := opa.NewEmbedded(ctx, opa.EmbeddedOptions{
			Paths: []string{az.PolicyDir}, PolicyPath: az.PolicyPath, ReloadInterval: az.ReloadInterval,
			CacheSize: cacheSize, Logger: a.log,
		})
		if err != nil {
			a.metrics.Error(observe.KindPolicy)
			return fmt.Errorf("agentweave: authorization.policy_dir: %w", err)
		}
		a.closers = append(a.closers, e.Close)
		a.watchReloads(e)
		authorizer, a.policy.describe = e, "policy "+az.PolicyDir
		a.policy.loaded = func() error {
			if e.Revision() == "" {
				return errors.New("no policy loaded")
			}
			return nil
		}
	}
	var auditor authz.Auditor
	if *az.Audit.Enabled {
		l, err := a.auditLogger()
		if err != nil {
			return err
		}
		a.closers = append(a.closers, l.Close)
		auditor = l
	}
	requireAudit := a.cfg.Agent.Environment != config.Development // staging too: nothing outside development runs a call it could not audit
	a.enforcer = &authz.Enforcer{
		Authorizer:   authorizer,
		Auditor:      meteredAuditor{next: auditor, metrics: a.metrics, log: a.log, requireAudit: requireAudit},
		RequireAudit: requireAudit,
		LogOnly:      az.DefaultAction == "log-only",
		Timeout:      az.Timeout,
		Logger:       a.log,
	}
	return nil
}

// probePolicy asks a remote OPA for one decision until it answers (within
// identity.start_timeout): an agent does not start against an OPA that is
// not there or has no policy.
func (a *Agent) probePolicy(ctx context.Context, r *opa.Remote) error {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Identity.StartTimeout)
	defer cancel()
	in := &authz.Input{
		Direction: authz.Inbound, Operation: "GetAgentCard", Time: time.Now().UTC(),
		CallerSPIFFEID: a.id.String(), CallerTrustDomain: a.id.TrustDomain().Name(),
		CalleeSPIFFEID: a.id.String(), CalleeTrustDomain: a.id.TrustDomain().Name(),
	}
	var last error
	for {
		d, err := r.Authorize(ctx, in)
		switch {
		case err == nil && !d.Allow && strings.HasPrefix(d.Reason, "no decision:"):
			return fmt.Errorf("agentweave: OPA at %s has no policy at %s: %s", a.cfg.Authorization.OPAEndpoint, a.cfg.Authorization.PolicyPath, d.Reason)
		case err == nil:
			a.log.Info("OPA answers", "endpoint", a.cfg.Authorization.OPAEndpoint)
			return nil
		}
		if last == nil {
			a.log.Info("waiting for OPA", "endpoint", a.cfg.Authorization.OPAEndpoint, "error", err)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("agentweave: OPA at %s did not answer within %s: %w", a.cfg.Authorization.OPAEndpoint, a.cfg.Identity.StartTimeout, last)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// The revision agentweave_policy_revision_info names when no embedded
// policy has one.
const (
	revisionRemote   = "remote"    // opa_endpoint: the OPA server knows its revision
	revisionAllowAll = "allow-all" // provider allow-all, or WithAuthorizer(authz.AllowAll())
	revisionCustom   = "custom"    // WithAuthorizer
)

// watchReloads counts policy reloads and refused changes, and keeps
// agentweave_policy_revision_info on the revision serving (within a
// second of a reload).
func (a *Agent) watchReloads(e *opa.Embedded) {
	revision := e.Revision()
	a.metrics.PolicyRevision(revision)
	stop := make(chan struct{})
	a.closers = append(a.closers, func() error { close(stop); return nil })
	go func() {
		var okSeen, failedSeen uint64
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if r := e.Revision(); r != revision {
				revision = r
				a.metrics.PolicyRevision(r)
			}
			ok, failed := e.Stats()
			for ; okSeen < ok; okSeen++ {
				a.metrics.PolicyReload(true)
			}
			for ; failedSeen < failed; failedSeen++ {
				a.metrics.PolicyReload(false)
			}
		}
	}()
}

func (a *Agent) auditLogger() (*audit.Logger, error) {
	ac := a.cfg.Authorization.Audit
	sink := a.opts.auditSink
	if sink == nil {
		if ac.Destination == "stdout" {
			sink = audit.NewStdout(os.Stdout)
		} else {
			interval, err := config.AuditSync(ac.Sync)
			if err != nil {
				return nil, fmt.Errorf("agentweave: authorization.audit.sync: %w", err)
			}
			policy := audit.SyncInterval(interval)
			if interval < 0 {
				policy = audit.SyncNone
			}
			f, err := audit.NewFile(ac.Destination, audit.FileOptions{Sync: policy, MaxBytes: *ac.MaxBytes, OnSync: a.metrics.AuditSync})
			if err != nil {
				return nil, fmt.Errorf("agentweave: authorization.audit.destination: %w", err)
			}
			sink = f
		}
	}
	l, err := audit.New(sink, audit.Options{})
	if err != nil {
		_ = sink.Close()
		return nil, fmt.Errorf("agentweave: audit: %w", err)
	}
	return l, nil
}

// meteredAuditor counts every decision, records it (when audit is on) and
// logs denials with their audit ID.
type meteredAuditor struct {
	next         authz.Auditor
	metrics      *observe.Metrics
	log          *slog.Logger
	requireAudit bool // the Enforcer's RequireAudit: a decision not recorded is denied
}

// reasonNotAudited is the denials' reason label for an allowed decision
// the Enforcer denies because its record could not be written (its
// Reason goes on with the error, which the label leaves out).
const reasonNotAudited = "audit record could not be written"

func (m meteredAuditor) Audit(ctx context.Context, in *authz.Input, d authz.Decision, latency time.Duration) (string, error) {
	var id string
	var err error
	if m.next != nil {
		if id, err = m.next.Audit(ctx, in, d, latency); err != nil {
			m.metrics.Error(observe.KindAudit)
		}
	}
	// Counted as the Enforcer will decide: an allowed decision whose
	// record failed is denied when audit is required.
	allowed, reason := d.Allow, d.Reason
	if allowed && err != nil && m.requireAudit {
		allowed, reason = false, reasonNotAudited
	}
	m.metrics.ObserveDecision(string(in.Direction), allowed, latency)
	if !allowed {
		peer, action := in.CallerSPIFFEID, in.Action
		if in.Direction == authz.Outbound {
			peer = in.CalleeSPIFFEID
		}
		if action == "" {
			action = in.Operation
		}
		m.metrics.Denied(string(in.Direction), peer, action, reason)
	}
	if !d.Allow {
		m.log.InfoContext(ctx, "call denied", "direction", string(in.Direction), "operation", in.Operation, "action", in.Action,
			"caller", in.CallerSPIFFEID, "callee", in.CalleeSPIFFEID, "reason", d.Reason, "audit_id", id)
	}
	return id, err
}

func (a *Agent) buildStore(ctx context.Context) error {
	if a.opts.store != nil {
		a.store = a.opts.store
		return nil
	}
	tc := a.cfg.Tasks
	source := map[string]string{"sqlite": tc.SQLitePath, "postgres": tc.PostgresDSN}
	if tc.Store == "" || tc.Store == "memory" {
		a.store = taskstore.NewMemory(tc.MemoryLimit)
		return nil
	}
	s, err := taskstore.Open(ctx, tc.Store, source[tc.Store])
	if err != nil {
		return fmt.Errorf("agentweave: tasks.store %s: %w", tc.Store, err)
	}
	a.store = s
	a.closers = append(a.closers, s.Close)
	return nil
}

// storeProbe is a task ID no task has: reading it proves the store answers.
const storeProbe = "agentweave-readiness-probe"

func (a *Agent) storeReady(ctx context.Context) error {
	_, _, err := a.store.Get(ctx, a.id, storeProbe)
	if err == nil || errors.Is(err, a2acore.ErrTaskNotFound) {
		return nil
	}
	return err
}

func (a *Agent) buildClient() error {
	tc := a.cfg.Transport
	a.breakers = resilience.NewBreakers(resilience.BreakerOptions{
		FailureThreshold: tc.CircuitBreaker.FailureThreshold,
		RecoveryTimeout:  tc.CircuitBreaker.RecoveryTimeout,
		SuccessThreshold: tc.CircuitBreaker.SuccessThreshold,
		IsFailure:        peerFault,
		OnStateChange: func(target string, from, to resilience.State) {
			a.metrics.BreakerState(target, int(to))
			a.log.Warn("circuit breaker", "target", target, "from", from.String(), "to", to.String())
		},
	})
	a.retry = resilience.RetryOptions{
		MaxAttempts: tc.Retry.MaxAttempts, BaseDelay: tc.Retry.BaseDelay, MaxDelay: tc.Retry.MaxDelay, Factor: tc.Retry.Factor,
	}
	if rl := a.cfg.Server.RateLimit; rl.RequestsPerSecond > 0 {
		a.limiter = resilience.NewRateLimiter(resilience.RateOptions{PerSecond: rl.RequestsPerSecond, Burst: rl.Burst})
	}
	peers := client.StaticResolver{}
	for _, p := range a.cfg.Peers {
		peers[spiffeid.RequireFromString(p.SPIFFEID)] = p.URL // validated by config
	}
	resolvers := client.Resolvers{peers}
	if a.opts.resolver != nil {
		resolvers = append(resolvers, a.opts.resolver)
	}
	minTLS, err := tlsVersion(tc.TLSMinVersion)
	if err != nil {
		return err
	}
	prefer, err := a2a.ParseBindings(tc.PreferredBindings)
	if err != nil {
		return fmt.Errorf("agentweave: transport.preferred_bindings: %w", err)
	}
	c, err := client.New(a.src, client.Options{
		Resolver: resolvers,
		Enforcer: a.enforcer,
		Transport: clientTransport(minTLS, tc.ConnectionPool.MaxConnections, tc.ConnectionPool.IdleTimeout, a.log, func(error) {
			a.metrics.Error(observe.KindTransport)
		}),
		WrapTransport:   a.tracing.Transport,
		Bindings:        prefer,
		GRPCDialOptions: grpcTracing(a.tracing.Propagator()),
		Guard:           a.guard,
	})
	if err != nil {
		return fmt.Errorf("agentweave: client: %w", err)
	}
	a.client = c
	a.closers = append(a.closers, c.Close)
	return nil
}
