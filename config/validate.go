package config

import (
	"fmt"
	"maps"
	"math"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/agentweave/agentweave-go/identity"
)

var (
	agentName      = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	capabilityName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

func oneOf(p *problems, key, v string, allowed ...string) {
	for _, a := range allowed {
		if v == a {
			return
		}
	}
	p.add(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
}

// The A2A protocol bindings, as server.bindings and
// transport.preferred_bindings name them.
const (
	BindingJSONRPC  = "jsonrpc"
	BindingHTTPJSON = "http+json"
	BindingGRPC     = "grpc"
)

// bindings checks a list of binding names: each known, none twice. (Not
// oneOf, whose calls deploy/internal/configschema reads as the enumeration
// of a plain string key.)
func bindings(p *problems, key string, list []string) {
	known := []string{BindingJSONRPC, BindingHTTPJSON, BindingGRPC}
	for i, b := range list {
		k := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case !slices.Contains(known, b):
			p.add(k, "%q is not one of %s", b, strings.Join(known, ", "))
		case slices.Contains(list[:i], b):
			p.add(k, "%q is listed twice", b)
		}
	}
}

func httpsURL(p *problems, key, raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		p.add(key, "%q is not an absolute https URL", raw)
	}
}

// Validate reports every problem of c, as Load and Parse do for a file
// (which call it after ApplyDefaults), in an *[Error] whose Details have
// no lines; nil when there is none. Call [Config.ApplyDefaults] first:
// Validate does not apply defaults, so a key left at its zero value is
// judged as set to it (a zero port is not a TCP port), except for pointer
// fields, where nil is judged as the default. It never panics, whatever c
// holds.
func (c *Config) Validate() error {
	if c == nil {
		return newError("", []Problem{{Message: "no configuration"}})
	}
	if p := c.validate(); len(p) > 0 {
		return newError("", p)
	}
	return nil
}

// inEnvironment names env for a refusal: "in production", "in staging",
// "in environment \"qa\"".
func inEnvironment(env string) string {
	switch env {
	case Development, Staging, Production:
		return "in " + env
	}
	return fmt.Sprintf("in environment %q", env)
}

func (c *Config) validate() problems {
	var p problems
	a := c.Agent
	if !agentName.MatchString(a.Name) {
		p.add("agent.name", "%q must match %s", a.Name, agentName)
	}
	if td, err := spiffeid.TrustDomainFromString(a.TrustDomain); err != nil || td.Name() != a.TrustDomain {
		p.add("agent.trust_domain", "%q is not a lowercase trust domain name", a.TrustDomain)
	}
	oneOf(&p, "agent.environment", a.Environment, Development, Staging, Production)
	seen := map[string]bool{}
	for i, cp := range a.Capabilities {
		key := fmt.Sprintf("agent.capabilities[%d]", i)
		if !capabilityName.MatchString(cp.Name) {
			p.add(key+".name", "%q must match %s", cp.Name, capabilityName)
		}
		if seen[cp.Name] {
			p.add(key+".name", "%q is listed twice", cp.Name)
		}
		seen[cp.Name] = true
		if strings.TrimSpace(cp.Description) == "" {
			p.add(key+".description", "is required")
		}
	}
	// Every rule that keeps the secure path the only path holds in every
	// environment but development: staging, production, and any other
	// value (which oneOf refuses too).
	dev := a.Environment == Development
	where := inEnvironment(a.Environment)

	id := c.Identity
	oneOf(&p, "identity.provider", id.Provider, "spiffe", "static")
	switch id.Provider {
	case "spiffe":
		if id.SPIFFEEndpoint == "" {
			p.add("identity.spiffe_endpoint", "is required (or set SPIFFE_ENDPOINT_SOCKET)")
		} else if err := workloadapi.ValidateAddress(id.SPIFFEEndpoint); err != nil {
			p.add("identity.spiffe_endpoint", "%q: %v", id.SPIFFEEndpoint, err)
		}
	case "static":
		if !dev {
			p.add("identity.provider", "static identities are for environment development only (here %s)", a.Environment)
		}
		for _, f := range []struct{ key, v string }{
			{"cert_file", id.Static.CertFile}, {"key_file", id.Static.KeyFile}, {"bundle_file", id.Static.BundleFile},
		} {
			if f.v == "" {
				p.add("identity.static."+f.key, "is required with provider static")
			}
		}
	}
	if id.SPIFFEID != "" {
		sid, err := spiffeid.FromString(id.SPIFFEID)
		switch {
		case err != nil:
			p.add("identity.spiffe_id", "%q: %v", id.SPIFFEID, err)
		case sid.TrustDomain().Name() != a.TrustDomain:
			p.add("identity.spiffe_id", "%q is not in trust domain %q", id.SPIFFEID, a.TrustDomain)
		}
	}
	if _, err := identity.ParseTrustDomains(id.AllowedTrustDomains); err != nil {
		p.add("identity.allowed_trust_domains", "%v", err)
	}
	if id.StartTimeout < 0 {
		p.add("identity.start_timeout", "must not be negative")
	}

	az := c.Authorization
	oneOf(&p, "authorization.provider", az.Provider, "opa", "allow-all")
	if az.Provider == "allow-all" && !dev {
		p.add("authorization.provider", "allow-all is refused outside environment development (here %s)", a.Environment)
	}
	oneOf(&p, "authorization.default_action", az.DefaultAction, "deny", "log-only")
	if az.DefaultAction == "log-only" && !dev {
		p.add("authorization.default_action", "log-only is refused %s: use deny", where)
	}
	if az.OPAEndpoint != "" {
		u, err := url.Parse(az.OPAEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.add("authorization.opa_endpoint", "%q is not an http(s) URL", az.OPAEndpoint)
		} else if strings.Contains(u.Path, "/v1/data") {
			p.add("authorization.opa_endpoint", "%q must not include /v1/data (policy_path is appended)", az.OPAEndpoint)
		}
	}
	if strings.HasPrefix(az.PolicyPath, "/") || strings.Contains(az.PolicyPath, "..") {
		p.add("authorization.policy_path", "%q must be a relative path like agentweave/authz", az.PolicyPath)
	}
	if !deref(az.Audit.Enabled, defaultAuditEnabled) && !dev {
		p.add("authorization.audit.enabled", "must be true %s", where)
	}
	if _, err := AuditSync(az.Audit.Sync); err != nil {
		p.add("authorization.audit.sync", "%v", err)
	}
	if az.Audit.MaxBytes != nil && *az.Audit.MaxBytes < 0 {
		p.add("authorization.audit.max_bytes", "must not be negative")
	}
	if az.Timeout < 0 {
		p.add("authorization.timeout", "must not be negative")
	}
	if az.CacheSize != nil && *az.CacheSize < 0 {
		p.add("authorization.cache_size", "must not be negative")
	}
	if az.CacheSize != nil && *az.CacheSize > 0 && az.OPAEndpoint != "" {
		p.add("authorization.cache_size", "applies to in-process policies (policy_dir), not to opa_endpoint")
	}
	if az.Provider == "opa" && (az.PolicyDir == "") == (az.OPAEndpoint == "") {
		p.add("authorization", "provider opa needs exactly one of policy_dir (in process) and opa_endpoint (an OPA server)")
	}

	tr := c.Transport
	oneOf(&p, "transport.tls_min_version", tr.TLSMinVersion, "1.3", "1.2")
	if _, err := identity.ParsePatterns(tr.AllowedCallers); err != nil {
		p.add("transport.allowed_callers", "%v", err)
	}
	positive := map[string]int64{
		"transport.connection_pool.max_connections":       int64(tr.ConnectionPool.MaxConnections),
		"transport.connection_pool.idle_timeout":          int64(tr.ConnectionPool.IdleTimeout),
		"authorization.circuit_breaker.failure_threshold": int64(az.CircuitBreaker.FailureThreshold),
		"authorization.circuit_breaker.recovery_timeout":  int64(az.CircuitBreaker.RecoveryTimeout),
		"authorization.circuit_breaker.success_threshold": int64(az.CircuitBreaker.SuccessThreshold),
		"transport.circuit_breaker.failure_threshold":     int64(tr.CircuitBreaker.FailureThreshold),
		"transport.circuit_breaker.recovery_timeout":      int64(tr.CircuitBreaker.RecoveryTimeout),
		"transport.circuit_breaker.success_threshold":     int64(tr.CircuitBreaker.SuccessThreshold),
		"transport.retry.max_attempts":                    int64(tr.Retry.MaxAttempts),
		"transport.retry.base_delay":                      int64(tr.Retry.BaseDelay),
		"transport.retry.max_delay":                       int64(tr.Retry.MaxDelay),
		"server.max_body_bytes":                           c.Server.MaxBodyBytes,
		"server.read_header_timeout":                      int64(c.Server.ReadHeaderTimeout),
		"server.idle_timeout":                             int64(c.Server.IdleTimeout),
		"server.shutdown_timeout":                         int64(c.Server.ShutdownTimeout),
		"tasks.memory_limit":                              int64(c.Tasks.MemoryLimit),
	}
	for _, k := range sortedKeys(positive) {
		if positive[k] <= 0 {
			p.add(k, "must be positive")
		}
	}
	if f := tr.Retry.Factor; !(f >= 1) || math.IsInf(f, 1) { // NaN too
		p.add("transport.retry.factor", "must be a finite number of at least 1 (here %v)", f)
	}

	if rl := c.Server.RateLimit; !(rl.RequestsPerSecond >= 0) || math.IsInf(rl.RequestsPerSecond, 1) || rl.Burst < 0 {
		p.add("server.rate_limit", "requests_per_second and burst must not be negative (requests_per_second a finite number)")
	}
	if c.Server.Port < 1 || c.Server.Port > 65535 {
		p.add("server.port", "%d is not a TCP port", c.Server.Port)
	}
	for i, u := range c.Server.PublicURLs {
		httpsURL(&p, fmt.Sprintf("server.public_urls[%d]", i), u)
	}
	if len(c.Server.Bindings) == 0 {
		p.add("server.bindings", "must name at least one of %s, %s, %s", BindingJSONRPC, BindingHTTPJSON, BindingGRPC)
	}
	bindings(&p, "server.bindings", c.Server.Bindings)
	bindings(&p, "transport.preferred_bindings", tr.PreferredBindings)
	peerSeen := map[string]bool{}
	for i, peer := range c.Peers {
		key := fmt.Sprintf("peers[%d]", i)
		if _, err := spiffeid.FromString(peer.SPIFFEID); err != nil {
			p.add(key+".spiffe_id", "%q: %v", peer.SPIFFEID, err)
		} else if peerSeen[peer.SPIFFEID] {
			p.add(key+".spiffe_id", "%q is listed twice (one URL per peer)", peer.SPIFFEID)
		}
		peerSeen[peer.SPIFFEID] = true
		httpsURL(&p, key+".url", peer.URL)
	}

	ts := c.Tasks
	oneOf(&p, "tasks.store", ts.Store, "memory", "sqlite", "postgres")
	if ts.Store == "sqlite" && ts.SQLitePath == "" {
		p.add("tasks.sqlite_path", "is required with store sqlite")
	}
	if ts.Store == "postgres" && ts.PostgresDSN == "" {
		p.add("tasks.postgres_dsn", "is required with store postgres")
	}
	for i, n := range ts.Push.AllowedNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			p.add(fmt.Sprintf("tasks.push.allowed_networks[%d]", i), "%q is not a CIDR prefix", n)
		}
	}

	ob := c.Observability
	if ob.Metrics.Port < 1 || ob.Metrics.Port > 65535 {
		p.add("observability.metrics.port", "%d is not a TCP port", ob.Metrics.Port)
	}
	oneOf(&p, "observability.tracing.exporter", ob.Tracing.Exporter, "otlp", "stdout")
	if r := deref(ob.Tracing.SampleRatio, defaultSampleRatio); !(r >= 0 && r <= 1) { // NaN too
		p.add("observability.tracing.sample_ratio", "%v is not between 0 and 1", r)
	}
	oneOf(&p, "observability.logging.level", ob.Logging.Level, "debug", "info", "warn", "error")
	oneOf(&p, "observability.logging.format", ob.Logging.Format, "json", "text")
	return p
}

// AuditSync parses authorization.audit.sync: "every", "none" or a
// positive Go duration. It returns the interval: 0 for every, -1 for none.
func AuditSync(s string) (time.Duration, error) {
	switch s {
	case "every":
		return 0, nil
	case "none":
		return -1, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not every, none or a positive duration such as 100ms", s)
	}
	return d, nil
}

func sortedKeys(m map[string]int64) []string { return slices.Sorted(maps.Keys(m)) }
