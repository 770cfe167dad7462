package config_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.yaml.in/yaml/v3"

	"github.com/agentweave/agentweave-go/config"
)

// details returns the problems err lists, checking that Problems are
// their strings; nil for a nil error.
func details(t *testing.T, err error) []config.Problem {
	t.Helper()
	if err == nil {
		return nil
	}
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error = %v, want a *config.Error", err)
	}
	if len(ce.Details) == 0 {
		t.Fatalf("*config.Error without problems: %v", err)
	}
	for i, p := range ce.Details {
		if ce.Problems[i] != p.String() {
			t.Errorf("Problems[%d] = %q, want Details[%d].String() = %q", i, ce.Problems[i], i, p.String())
		}
	}
	return ce.Details
}

// withoutLines returns ps with every Line 0: what Validate reports for the
// same content.
func withoutLines(ps []config.Problem) []config.Problem {
	var out []config.Problem
	for _, p := range ps {
		p.Line = 0
		out = append(out, p)
	}
	return out
}

func minimalGo() config.Config {
	return config.Config{
		Agent:         config.Agent{Name: "search", TrustDomain: "example.org"},
		Identity:      config.Identity{SPIFFEEndpoint: "unix:///run/spire/sockets/agent.sock"},
		Authorization: config.Authorization{PolicyDir: "/etc/agentweave/policies"},
	}
}

const fullYAML = `
agent:
  name: search
  trust_domain: example.org
  environment: staging
  description: Searches
  version: 1.2.3
  capabilities:
    - {name: search, description: Full-text search, tags: [text, search]}
identity:
  provider: spiffe
  spiffe_endpoint: tcp://127.0.0.1:8081
  spiffe_id: spiffe://example.org/search
  allowed_trust_domains: [partner.org]
  start_timeout: 5s
  static: {cert_file: c.pem, key_file: k.pem, bundle_file: b.pem}
authorization:
  provider: opa
  policy_dir: /etc/policies
  policy_path: acme/authz
  default_action: deny
  timeout: 250ms
  reload_interval: -1s
  cache_size: 0
  circuit_breaker: {failure_threshold: 7, recovery_timeout: 3s, success_threshold: 3}
  audit: {enabled: true, destination: /var/log/audit.log, sync: 100ms, max_bytes: 0}
transport:
  tls_min_version: "1.2"
  allowed_callers: ["spiffe://example.org/agent/*"]
  preferred_bindings: [grpc]
  connection_pool: {max_connections: 10, idle_timeout: 5s}
  circuit_breaker: {failure_threshold: 4, recovery_timeout: 10s, success_threshold: 1}
  retry: {max_attempts: 2, base_delay: 100ms, max_delay: 2s, factor: 1.5}
server:
  host: 127.0.0.1
  port: 9443
  public_urls: [https://search.example.org]
  bindings: [grpc, jsonrpc]
  max_body_bytes: 4096
  read_header_timeout: 2s
  idle_timeout: 30s
  shutdown_timeout: 5s
  rate_limit: {requests_per_second: 2.5, burst: 10}
peers:
  - {spiffe_id: spiffe://example.org/agent/plan, url: https://plan.example.org:8443}
tasks:
  store: postgres
  sqlite_path: /tmp/unused.db
  postgres_dsn: postgres://agent@db/agent
  memory_limit: 50
  push: {enabled: true, allowed_networks: [10.0.0.0/8]}
observability:
  metrics: {enabled: false, host: 0.0.0.0, port: 9091}
  tracing: {enabled: true, exporter: stdout, endpoint: collector:4317, sample_ratio: 1}
  logging: {level: debug, format: text}
`

func fullGo() config.Config {
	return config.Config{
		Agent: config.Agent{
			Name: "search", TrustDomain: "example.org", Environment: config.Staging, Description: "Searches", Version: "1.2.3",
			Capabilities: []config.Capability{{Name: "search", Description: "Full-text search", Tags: []string{"text", "search"}}},
		},
		Identity: config.Identity{
			Provider: "spiffe", SPIFFEEndpoint: "tcp://127.0.0.1:8081", SPIFFEID: "spiffe://example.org/search",
			AllowedTrustDomains: []string{"partner.org"}, StartTimeout: 5 * time.Second,
			Static: config.StaticIdentity{CertFile: "c.pem", KeyFile: "k.pem", BundleFile: "b.pem"},
		},
		Authorization: config.Authorization{
			Provider: "opa", PolicyDir: "/etc/policies", PolicyPath: "acme/authz", DefaultAction: "deny",
			Timeout: 250 * time.Millisecond, ReloadInterval: -time.Second, CacheSize: new(0),
			CircuitBreaker: config.CircuitBreaker{FailureThreshold: 7, RecoveryTimeout: 3 * time.Second, SuccessThreshold: 3},
			Audit:          config.Audit{Enabled: new(true), Destination: "/var/log/audit.log", Sync: "100ms", MaxBytes: new(int64(0))},
		},
		Transport: config.Transport{
			TLSMinVersion: "1.2", AllowedCallers: []string{"spiffe://example.org/agent/*"}, PreferredBindings: []string{"grpc"},
			ConnectionPool: config.ConnectionPool{MaxConnections: 10, IdleTimeout: 5 * time.Second},
			CircuitBreaker: config.CircuitBreaker{FailureThreshold: 4, RecoveryTimeout: 10 * time.Second, SuccessThreshold: 1},
			Retry:          config.Retry{MaxAttempts: 2, BaseDelay: 100 * time.Millisecond, MaxDelay: 2 * time.Second, Factor: 1.5},
		},
		Server: config.Server{
			Host: "127.0.0.1", Port: 9443, PublicURLs: []string{"https://search.example.org"}, Bindings: []string{"grpc", "jsonrpc"}, MaxBodyBytes: 4096,
			ReadHeaderTimeout: 2 * time.Second, IdleTimeout: 30 * time.Second, ShutdownTimeout: 5 * time.Second,
			RateLimit: config.RateLimit{RequestsPerSecond: 2.5, Burst: 10},
		},
		Peers: []config.Peer{{SPIFFEID: "spiffe://example.org/agent/plan", URL: "https://plan.example.org:8443"}},
		Tasks: config.Tasks{
			Store: "postgres", SQLitePath: "/tmp/unused.db", PostgresDSN: "postgres://agent@db/agent", MemoryLimit: 50,
			Push: config.Push{Enabled: true, AllowedNetworks: []string{"10.0.0.0/8"}},
		},
		Observability: config.Observability{
			Metrics: config.Metrics{Enabled: new(false), Host: "0.0.0.0", Port: 9091},
			Tracing: config.Tracing{Enabled: true, Exporter: "stdout", Endpoint: "collector:4317", SampleRatio: new(1.0)},
			Logging: config.Logging{Level: "debug", Format: "text"},
		},
	}
}

// TestGoConfigMatchesYAML: a Config built in Go, after ApplyDefaults and
// Validate, is what Parse makes of the same content: the same problems
// (without lines), or the same Config.
func TestGoConfigMatchesYAML(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		yaml      string
		cfg       func() config.Config
		wantValid bool
	}{
		{name: "zero", yaml: "", cfg: func() config.Config { return config.Config{} }},
		{name: "minimal", yaml: minimal, cfg: minimalGo, wantValid: true},
		{name: "full", yaml: fullYAML, cfg: fullGo, wantValid: true},
		{name: "partial, invalid", yaml: `
agent: {name: Search, trust_domain: Example.org, capabilities: [{name: a}, {name: a, description: x}]}
server: {port: 70000, public_urls: ["http://x"], rate_limit: {requests_per_second: -1}}
transport: {retry: {factor: 0.5}, allowed_callers: ["spiffe://example.org/a*"]}
tasks: {store: sqlite, push: {allowed_networks: [10.0.0.0/99]}}
peers: [{spiffe_id: nope, url: https://x}]
observability: {tracing: {sample_ratio: 2}, logging: {level: loud}}
`, cfg: func() config.Config {
			return config.Config{
				Agent:     config.Agent{Name: "Search", TrustDomain: "Example.org", Capabilities: []config.Capability{{Name: "a"}, {Name: "a", Description: "x"}}},
				Server:    config.Server{Port: 70000, PublicURLs: []string{"http://x"}, RateLimit: config.RateLimit{RequestsPerSecond: -1}},
				Transport: config.Transport{Retry: config.Retry{Factor: 0.5}, AllowedCallers: []string{"spiffe://example.org/a*"}},
				Tasks:     config.Tasks{Store: "sqlite", Push: config.Push{AllowedNetworks: []string{"10.0.0.0/99"}}},
				Peers:     []config.Peer{{SPIFFEID: "nope", URL: "https://x"}},
				Observability: config.Observability{
					Tracing: config.Tracing{SampleRatio: new(2.0)}, Logging: config.Logging{Level: "loud"},
				},
			}
		}},
		{name: "security off in staging", yaml: strings.Replace(minimal, "example.org\n", "example.org\n  environment: staging\n", 1) +
			"  provider: allow-all\n  default_action: log-only\n  audit: {enabled: false}\n", cfg: func() config.Config {
			c := minimalGo()
			c.Agent.Environment = config.Staging
			c.Authorization.Provider = "allow-all"
			c.Authorization.DefaultAction = "log-only"
			c.Authorization.Audit.Enabled = new(false)
			return c
		}},
		{name: "static identity in development", yaml: `
agent: {name: dev, trust_domain: example.org, environment: development}
identity: {provider: static, static: {key_file: k.pem}}
authorization: {provider: allow-all}
`, cfg: func() config.Config {
			return config.Config{
				Agent:         config.Agent{Name: "dev", TrustDomain: "example.org", Environment: config.Development},
				Identity:      config.Identity{Provider: "static", Static: config.StaticIdentity{KeyFile: "k.pem"}},
				Authorization: config.Authorization{Provider: "allow-all"},
			}
		}},
		{name: "remote OPA with a cache", yaml: `
agent: {name: search, trust_domain: example.org}
identity: {spiffe_endpoint: "unix:///run/agent.sock"}
authorization: {opa_endpoint: "http://127.0.0.1:8181/v1/data", cache_size: 5}
`, cfg: func() config.Config {
			return config.Config{
				Agent:         config.Agent{Name: "search", TrustDomain: "example.org"},
				Identity:      config.Identity{SPIFFEEndpoint: "unix:///run/agent.sock"},
				Authorization: config.Authorization{OPAEndpoint: "http://127.0.0.1:8181/v1/data", CacheSize: new(5)},
			}
		}},
		{name: "null pointers are defaults", yaml: minimal + "  cache_size: null\n  audit: {enabled: null, max_bytes: null}\nobservability: {metrics: {enabled: null}, tracing: {sample_ratio: null}}\n", cfg: minimalGo, wantValid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fromYAML, errYAML := config.Parse([]byte(tt.yaml), "test.yaml", nil)
			fromGo := tt.cfg()
			fromGo.ApplyDefaultsEnv(nil)
			errGo := fromGo.Validate()
			if tt.wantValid != (errYAML == nil) {
				t.Fatalf("Parse() error = %v, want valid %t", errYAML, tt.wantValid)
			}
			if diff := cmp.Diff(withoutLines(details(t, errYAML)), details(t, errGo)); diff != "" {
				t.Errorf("Validate() problems differ from Parse()'s (-yaml +go):\n%s", diff)
			}
			for _, p := range details(t, errGo) {
				if p.Line != 0 {
					t.Errorf("Validate() problem %v has line %d, want 0", p, p.Line)
				}
			}
			if errYAML == nil {
				if diff := cmp.Diff(*fromYAML, fromGo); diff != "" {
					t.Errorf("Config from Go after ApplyDefaults differs from Parse()'s (-yaml +go):\n%s", diff)
				}
			}
		})
	}
}

// TestZeroConfig: a zero Config, with or without defaults, is invalid and
// says why; nothing panics.
func TestZeroConfig(t *testing.T) {
	t.Parallel()
	var zero config.Config
	if got := keys(details(t, zero.Validate())); !strings.Contains(got, "server.port") || !strings.Contains(got, "agent.name") {
		t.Errorf("Validate() of a zero Config without defaults: keys %s, want server.port and agent.name among them", got)
	}
	zero.ApplyDefaultsEnv(nil)
	want := []config.Problem{
		{Key: "agent.name", Message: `"" must match ^[a-z][a-z0-9-]*$`},
		{Key: "agent.trust_domain", Message: `"" is not a lowercase trust domain name`},
		{Key: "identity.spiffe_endpoint", Message: "is required (or set SPIFFE_ENDPOINT_SOCKET)"},
		{Key: "authorization", Message: "provider opa needs exactly one of policy_dir (in process) and opa_endpoint (an OPA server)"},
	}
	if diff := cmp.Diff(want, details(t, zero.Validate())); diff != "" {
		t.Errorf("Validate() of a zero Config after ApplyDefaults (-want +got):\n%s", diff)
	}
	var nilConfig *config.Config
	nilConfig.ApplyDefaults()
	if got := details(t, nilConfig.Validate()); len(got) != 1 || got[0].Message != "no configuration" {
		t.Errorf("(*Config)(nil).Validate() = %v, want no configuration", got)
	}
}

func keys(ps []config.Problem) string {
	var ks []string
	for _, p := range ps {
		ks = append(ks, p.Key)
	}
	return strings.Join(ks, " ")
}

// TestApplyDefaultsIdempotent: defaults fill zero values only, a second
// call changes nothing, and a shallow copy leaves the original alone.
func TestApplyDefaultsIdempotent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		cfg  config.Config
	}{
		{name: "zero"},
		{name: "minimal", cfg: minimalGo()},
		{name: "full", cfg: fullGo()},
		{name: "empty lists", cfg: config.Config{Agent: config.Agent{TrustDomain: "example.org"}, Transport: config.Transport{AllowedCallers: []string{}}, Server: config.Server{PublicURLs: []string{}}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			original := tt.cfg
			before := deepCopy(t, original)
			once := original // a shallow copy
			once.ApplyDefaultsEnv(nil)
			if diff := cmp.Diff(before, original); diff != "" {
				t.Errorf("ApplyDefaults on a shallow copy changed the original (-before +after):\n%s", diff)
			}
			twice := deepCopy(t, once)
			twice.ApplyDefaultsEnv(nil)
			if diff := cmp.Diff(once, twice); diff != "" {
				t.Errorf("a second ApplyDefaults changed the Config (-once +twice):\n%s", diff)
			}
		})
	}
	full := fullGo()
	full.ApplyDefaultsEnv(nil)
	if diff := cmp.Diff(fullGo(), full); diff != "" {
		t.Errorf("ApplyDefaults changed keys that were set (-set +after):\n%s", diff)
	}
}

// deepCopy copies c, nil and empty lists as they are.
func deepCopy(t *testing.T, c config.Config) config.Config {
	t.Helper()
	return copyValue(reflect.ValueOf(c)).Interface().(config.Config)
}

func copyValue(v reflect.Value) reflect.Value {
	out := reflect.New(v.Type()).Elem()
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			out.Field(i).Set(copyValue(v.Field(i)))
		}
	case reflect.Slice:
		if !v.IsNil() {
			out.Set(reflect.MakeSlice(v.Type(), v.Len(), v.Len()))
			for i := range v.Len() {
				out.Index(i).Set(copyValue(v.Index(i)))
			}
		}
	case reflect.Pointer:
		if !v.IsNil() {
			out.Set(reflect.New(v.Type().Elem()))
			out.Elem().Set(copyValue(v.Elem()))
		}
	default:
		out.Set(v)
	}
	return out
}

// TestApplyDefaultsSetsEveryKey: after ApplyDefaults, every key of a
// Config with a name and trust domain has a value, except those listed
// here as having none by default. A new key must be added to one or the
// other.
func TestApplyDefaultsSetsEveryKey(t *testing.T) {
	t.Parallel()
	noDefault := map[string]bool{
		"agent.capabilities": true, "identity.spiffe_endpoint": true, "identity.allowed_trust_domains": true,
		"identity.static.cert_file": true, "identity.static.key_file": true, "identity.static.bundle_file": true,
		"authorization.opa_endpoint": true, "authorization.policy_dir": true, "transport.preferred_bindings": true,
		"server.rate_limit.requests_per_second": true, "server.rate_limit.burst": true, "peers": true,
		"tasks.sqlite_path": true, "tasks.postgres_dsn": true, "tasks.push.enabled": true, "tasks.push.allowed_networks": true,
		"observability.tracing.enabled": true,
	}
	c := config.Config{Agent: config.Agent{Name: "search", TrustDomain: "example.org"}}
	c.ApplyDefaultsEnv(nil)
	seen := map[string]bool{}
	walkKeys(reflect.ValueOf(c), "", func(key string, v reflect.Value) {
		seen[key] = true
		if v.IsZero() != noDefault[key] {
			t.Errorf("%s after ApplyDefaults = %v; listed as without default: %t", key, v, noDefault[key])
		}
	})
	for key := range noDefault {
		if !seen[key] {
			t.Errorf("%s is listed as without default but is not a key", key)
		}
	}
}

// walkKeys calls f with the dotted key and value of each leaf of v.
func walkKeys(v reflect.Value, prefix string, f func(string, reflect.Value)) {
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		key := tag
		if prefix != "" {
			key = prefix + "." + tag
		}
		if fv := v.Field(i); fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Duration]() {
			walkKeys(fv, key, f)
		} else {
			f(key, fv)
		}
	}
}

// TestNonFiniteNumbers: NaN and infinities are refused, not taken for
// valid limits.
func TestNonFiniteNumbers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		set  func(*config.Config)
		key  string
	}{
		{"retry factor NaN", func(c *config.Config) { c.Transport.Retry.Factor = math.NaN() }, "transport.retry.factor"},
		{"retry factor +Inf", func(c *config.Config) { c.Transport.Retry.Factor = math.Inf(1) }, "transport.retry.factor"},
		{"rate NaN", func(c *config.Config) { c.Server.RateLimit.RequestsPerSecond = math.NaN() }, "server.rate_limit"},
		{"rate +Inf", func(c *config.Config) { c.Server.RateLimit.RequestsPerSecond = math.Inf(1) }, "server.rate_limit"},
		{"sample ratio NaN", func(c *config.Config) { c.Observability.Tracing.SampleRatio = new(math.NaN()) }, "observability.tracing.sample_ratio"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := minimalGo()
			tt.set(&c)
			c.ApplyDefaultsEnv(nil)
			if got := keys(details(t, c.Validate())); got != tt.key {
				t.Errorf("Validate() problem keys = %q, want %q", got, tt.key)
			}
		})
	}
	c := minimalGo()
	c.Server.RateLimit.RequestsPerSecond = 1e300
	c.ApplyDefaultsEnv(nil)
	if c.Server.RateLimit.Burst != math.MaxInt32 {
		t.Errorf("burst for 1e300 requests per second = %d, want %d", c.Server.RateLimit.Burst, math.MaxInt32)
	}
}

// FuzzApplyDefaults: whatever a Config holds (decoded leniently from
// arbitrary YAML: nil pointers, NaN, negative numbers, any string),
// ApplyDefaults and Validate never panic, a second ApplyDefaults changes
// nothing, and Validate reports exactly the validation problems Parse
// reports for the same bytes.
func FuzzApplyDefaults(f *testing.F) {
	f.Add([]byte(minimal))
	f.Add([]byte(fullYAML))
	f.Add([]byte("observability: {tracing: {sample_ratio: .nan}}\ntransport: {retry: {factor: .inf}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var once, twice config.Config
		err := yaml.Unmarshal(data, &once)
		var te *yaml.TypeError
		if err != nil && !errors.As(err, &te) {
			return // not YAML
		}
		_ = yaml.Unmarshal(data, &twice)
		_ = once.Validate() // without defaults: must not panic

		once.ApplyDefaultsEnv(nil)
		twice.ApplyDefaultsEnv(nil)
		twice.ApplyDefaultsEnv(nil)
		if diff := cmp.Diff(once, twice, cmpopts.EquateNaNs()); diff != "" {
			t.Fatalf("a second ApplyDefaults changed the Config (-once +twice):\n%s", diff)
		}
		goProblems := details(t, once.Validate())

		_, err = config.Parse(data, "fuzz", nil)
		var yamlProblems []config.Problem
		for _, p := range details(t, err) {
			// Validation's, not the strict decoder's (which has no key, or
			// names a removed key).
			if p.Key != "" && !strings.HasPrefix(p.Message, "was removed: ") {
				p.Line = 0
				yamlProblems = append(yamlProblems, p)
			}
		}
		if diff := cmp.Diff(yamlProblems, goProblems); diff != "" {
			t.Fatalf("Validate() and Parse() disagree (-yaml +go):\n%s", diff)
		}
	})
}
