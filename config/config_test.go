package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/config"
)

const minimal = `
agent:
  name: search
  trust_domain: example.org
identity:
  spiffe_endpoint: unix:///run/spire/sockets/agent.sock
authorization:
  policy_dir: /etc/agentweave/policies
`

func parse(t *testing.T, yaml string, env map[string]string) (*config.Config, error) {
	t.Helper()
	return config.Parse([]byte(yaml), "test.yaml", func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
}

func problems(t *testing.T, err error) []string {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a *config.Error", err)
	}
	return ce.Problems
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := parse(t, minimal, nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string]bool{
		"environment production":       cfg.Agent.Environment == config.Production,
		"spiffe id from name":          cfg.Identity.SPIFFEID == "spiffe://example.org/agent/search/production",
		"authz opa, deny":              cfg.Authorization.Provider == "opa" && cfg.Authorization.DefaultAction == "deny",
		"audit on":                     *cfg.Authorization.Audit.Enabled,
		"tls 1.3":                      cfg.Transport.TLSMinVersion == "1.3",
		"callers: own trust domain":    len(cfg.Transport.AllowedCallers) == 1 && cfg.Transport.AllowedCallers[0] == "spiffe://example.org/**",
		"retry 3, 1s..30s":             cfg.Transport.Retry.MaxAttempts == 3 && cfg.Transport.Retry.BaseDelay == time.Second && cfg.Transport.Retry.MaxDelay == 30*time.Second,
		"breaker 5/30s/2":              cfg.Transport.CircuitBreaker.FailureThreshold == 5 && cfg.Transport.CircuitBreaker.RecoveryTimeout == 30*time.Second,
		"server 0.0.0.0:8443":          cfg.Server.Host == "0.0.0.0" && cfg.Server.Port == 8443,
		"public url":                   cfg.Server.PublicURLs[0] == "https://127.0.0.1:8443",
		"memory store":                 cfg.Tasks.Store == "memory",
		"metrics 127.0.0.1:9090":       cfg.Observability.Metrics.Host == "127.0.0.1" && cfg.Observability.Metrics.Port == 9090,
		"logging info json":            cfg.Observability.Logging.Level == "info" && cfg.Observability.Logging.Format == "json",
		"body limit 1 MiB":             cfg.Server.MaxBodyBytes == 1<<20,
		"description from name":        cfg.Agent.Description == "search agent",
		"audit fsync every, 100 MiB":   cfg.Authorization.Audit.Sync == "every" && *cfg.Authorization.Audit.MaxBytes == 100<<20,
		"decision 1s, reload 1s":       cfg.Authorization.Timeout == time.Second && cfg.Authorization.ReloadInterval == time.Second,
		"no rate limit, drain 30s":     cfg.Server.RateLimit.RequestsPerSecond == 0 && cfg.Server.ShutdownTimeout == 30*time.Second,
		"trace ratio 0.1":              *cfg.Observability.Tracing.SampleRatio == 0.1,
		"start timeout 30s":            cfg.Identity.StartTimeout == 30*time.Second,
		"push off":                     !cfg.Tasks.Push.Enabled,
		"idle pool timeout 60s":        cfg.Transport.ConnectionPool.IdleTimeout == 60*time.Second,
		"tracing off, otlp localhost":  !cfg.Observability.Tracing.Enabled && cfg.Observability.Tracing.Endpoint == "localhost:4317",
		"policy path agentweave/authz": cfg.Authorization.PolicyPath == "agentweave/authz",
		"decision cache 10000":         cfg.Authorization.CacheSize != nil && *cfg.Authorization.CacheSize == 10_000,
	}
	for name, ok := range checks {
		if !ok {
			t.Errorf("default %s does not hold: %+v", name, cfg)
		}
	}
}

// TestEveryProblemAtOnce: a typo'd key (with its line), an invalid SPIFFE
// ID, allow-all and log-only in production all fail one load, each named.
func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	_, err := parse(t, `
agent:
  name: search
  trust_domain: example.org
  stage_name: staging
identity:
  spiffe_endpoint: unix:///run/spire/sockets/agent.sock
  spiffe_id: "spiffe://example.org/Bad ID"
authorization:
  provider: allow-all
  default_action: log-only
transport:
  peer_verification: log-only
  allowed_callers: ["spiffe://example.org/agent-*"]
peers:
  - spiffe_id: nope
    url: http://insecure
`, nil)
	got := strings.Join(problems(t, err), "\n")
	for _, want := range []string{
		`line 5: field stage_name not found`,
		`identity.spiffe_id: "spiffe://example.org/Bad ID"`,
		`authorization.provider: allow-all is refused outside environment development`,
		`authorization.default_action: log-only is refused in production`,
		`transport.peer_verification: was removed: every peer is verified by mutual TLS`,
		`transport.allowed_callers:`,
		`peers[0].spiffe_id: "nope"`,
		`peers[0].url: "http://insecure" is not an absolute https URL`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

func TestProductionRules(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		yaml string
		want string
	}{
		"audit off":       {"authorization:\n  audit:\n    enabled: false\n", "authorization.audit.enabled: must be true in production"},
		"static id":       {"identity:\n  provider: static\n", "static identities are for environment development only"},
		"tls 1.1":         {"transport:\n  tls_min_version: \"1.1\"\n", `transport.tls_min_version: "1.1" is not one of 1.3, 1.2`},
		"bad env":         {"agent:\n  environment: prod\n", `agent.environment: "prod" is not one of`},
		"sqlite no path":  {"tasks:\n  store: sqlite\n", "tasks.sqlite_path: is required"},
		"bad cidr":        {"tasks:\n  push:\n    allowed_networks: [10.0.0.0/99]\n", "tasks.push.allowed_networks[0]"},
		"two policies":    {"authorization:\n  opa_endpoint: http://127.0.0.1:8181\n", "needs exactly one of policy_dir"},
		"audit sync":      {"authorization:\n  audit:\n    sync: sometimes\n", `authorization.audit.sync: "sometimes" is not every, none or a positive duration`},
		"rate negative":   {"server:\n  rate_limit: {requests_per_second: -1}\n", "server.rate_limit: requests_per_second and burst must not be negative"},
		"sample ratio":    {"observability:\n  tracing: {sample_ratio: 1.5}\n", "observability.tracing.sample_ratio: 1.5 is not between 0 and 1"},
		"cache negative":  {"authorization:\n  cache_size: -1\n", "authorization.cache_size: must not be negative"},
		"binding unknown": {"server:\n  bindings: [jsonrpc, soap]\n", `server.bindings[1]: "soap" is not one of jsonrpc, http+json, grpc`},
		"binding twice":   {"server:\n  bindings: [grpc, grpc]\n", `server.bindings[1]: "grpc" is listed twice`},
		"preferred gRPC":  {"transport:\n  preferred_bindings: [GRPC]\n", `transport.preferred_bindings[0]: "GRPC" is not one of jsonrpc, http+json, grpc`},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := parse(t, mergeYAML(minimal, tt.yaml), nil)
			if got := strings.Join(problems(t, err), "\n"); !strings.Contains(got, tt.want) {
				t.Errorf("problems = %s\nwant one containing %q", got, tt.want)
			}
		})
	}
}

// TestCacheSize: the decision cache is on by default for in-process
// policies, 0 turns it off, and a remote OPA has none.
func TestCacheSize(t *testing.T) {
	t.Parallel()
	remote := strings.Replace(minimal, "policy_dir: /etc/agentweave/policies", "opa_endpoint: http://127.0.0.1:8181", 1)
	for _, tt := range []struct {
		name    string
		yaml    string
		env     map[string]string
		want    *int
		problem string
	}{
		{name: "default", yaml: minimal, want: ptr(10_000)},
		{name: "off", yaml: minimal + "  cache_size: 0\n", want: ptr(0)},
		{name: "set", yaml: minimal + "  cache_size: 500\n", want: ptr(500)},
		{name: "off from the environment", yaml: minimal, env: map[string]string{"AGENTWEAVE_AUTHORIZATION_CACHE_SIZE": "0"}, want: ptr(0)},
		{name: "remote", yaml: remote},
		{name: "remote, off", yaml: remote + "  cache_size: 0\n", want: ptr(0)},
		{name: "remote, set", yaml: remote + "  cache_size: 100\n", problem: "authorization.cache_size: applies to in-process policies"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parse(t, tt.yaml, tt.env)
			if tt.problem != "" {
				if got := strings.Join(problems(t, err), "\n"); !strings.Contains(got, tt.problem) {
					t.Errorf("problems = %s\nwant one containing %q", got, tt.problem)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Authorization.CacheSize; (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("cache_size = %v, want %v", deref(got), deref(tt.want))
			}
		})
	}
}

func ptr(n int) *int { return &n }

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

// mergeYAML adds extra to base: keys of agent, identity or authorization
// go into base's section of that name, other sections are appended.
func mergeYAML(base, extra string) string {
	for _, section := range []string{"agent:\n", "identity:\n", "authorization:\n"} {
		if strings.HasPrefix(extra, section) {
			return strings.Replace(base, section, extra, 1)
		}
	}
	return base + extra
}

func TestDevelopmentAllowsWhatProductionRefuses(t *testing.T) {
	t.Parallel()
	_, err := parse(t, `
agent: {name: dev, trust_domain: example.org, environment: development}
identity: {provider: static, static: {cert_file: a, key_file: b, bundle_file: c}}
authorization: {provider: allow-all, default_action: log-only, audit: {enabled: false}}
transport: {tls_min_version: 1.2}
`, nil)
	if err != nil {
		t.Fatalf("development config refused: %v", err)
	}
}

func TestEnvironmentOverrides(t *testing.T) {
	t.Parallel()
	cfg, err := parse(t, minimal, map[string]string{
		"AGENTWEAVE_SERVER_PORT":                    "9443",
		"AGENTWEAVE_AGENT_ENVIRONMENT":              "staging",
		"AGENTWEAVE_TRANSPORT_RETRY_MAX_ATTEMPTS":   "5",
		"AGENTWEAVE_TRANSPORT_RETRY_BASE_DELAY":     "250ms",
		"AGENTWEAVE_IDENTITY_ALLOWED_TRUST_DOMAINS": "partner.org, other.org",
		"AGENTWEAVE_AUTHORIZATION_AUDIT_ENABLED":    "true",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Port != 9443 || cfg.Agent.Environment != config.Staging || cfg.Transport.Retry.MaxAttempts != 5 ||
		cfg.Transport.Retry.BaseDelay != 250*time.Millisecond || len(cfg.Identity.AllowedTrustDomains) != 2 {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	_, err = parse(t, minimal, map[string]string{"AGENTWEAVE_SERVER_PORT": "eighty", "AGENTWEAVE_SERVER_IDLE_TIMEOUT": "soon"})
	got := strings.Join(problems(t, err), "\n")
	if !strings.Contains(got, "AGENTWEAVE_SERVER_PORT") || !strings.Contains(got, "AGENTWEAVE_SERVER_IDLE_TIMEOUT") {
		t.Errorf("bad overrides not both reported: %s", got)
	}
}

func TestUnquotedTLSVersion(t *testing.T) {
	t.Parallel()
	cfg, err := parse(t, minimal+"transport:\n  tls_min_version: 1.2\n", nil)
	if err != nil || cfg.Transport.TLSMinVersion != "1.2" {
		t.Fatalf("tls_min_version: 1.2 (a YAML float) = %v, %v", cfg, err)
	}
}

func TestLoadFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "agent.yaml")
	relative := strings.Replace(minimal, "/etc/agentweave/policies", "policies", 1) +
		"  audit: {destination: audit/decisions.log}\ntasks: {store: sqlite, sqlite_path: /var/lib/tasks.db}\n"
	if err := os.WriteFile(p, []byte(relative), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(p)
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if a := cfg.Authorization; a.PolicyDir != filepath.Join(dir, "policies") || a.Audit.Destination != filepath.Join(dir, "audit", "decisions.log") || cfg.Tasks.SQLitePath != "/var/lib/tasks.db" {
		t.Errorf("paths not resolved against the file's directory: policy_dir %q, audit %q, sqlite %q", a.PolicyDir, a.Audit.Destination, cfg.Tasks.SQLitePath)
	}
	if _, err := config.Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("Load(missing) succeeded")
	}
	if _, err := parse(t, "agent: [", nil); err == nil {
		t.Error("malformed YAML accepted")
	}
	if _, err := parse(t, minimal+"---\nagent: {}\n", nil); err == nil || !strings.Contains(err.Error(), "more than one YAML document") {
		t.Errorf("two documents: %v", err)
	}
}

// FuzzParse: configuration files come from operators and CI; any bytes
// either load or fail with a *config.Error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte("agent: {name: x, trust_domain: t}\n"))
	f.Add([]byte("agent:\n  capabilities:\n    - {name: Bad, description: ''}\n"))
	f.Add([]byte("transport: {retry: {factor: -1}}"))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse(data, "fuzz", nil)
		if err == nil {
			if cfg == nil || cfg.Agent.Environment == "" {
				t.Fatalf("loaded a config without defaults: %+v", cfg)
			}
			return
		}
		var ce *config.Error
		if !errors.As(err, &ce) || len(ce.Problems) == 0 {
			t.Fatalf("error %v is not a *config.Error with problems", err)
		}
	})
}
