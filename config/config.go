package config

import "time"

// Config is an agent's configuration: the YAML file, then environment
// overrides, then defaults. Field comments give each key's default.
type Config struct {
	Agent         Agent         `yaml:"agent"`
	Identity      Identity      `yaml:"identity"`
	Authorization Authorization `yaml:"authorization"`
	Transport     Transport     `yaml:"transport"`
	Server        Server        `yaml:"server"`
	Peers         []Peer        `yaml:"peers"`
	Tasks         Tasks         `yaml:"tasks"`
	Observability Observability `yaml:"observability"`
}

// Environments.
const (
	Development = "development"
	Staging     = "staging"
	Production  = "production"
)

// Agent describes the agent.
type Agent struct {
	// Name matches ^[a-z][a-z0-9-]*$. Required.
	Name string `yaml:"name"`
	// TrustDomain is the agent's SPIFFE trust domain, e.g. example.org. Required.
	TrustDomain string `yaml:"trust_domain"`
	// Environment is development, staging or production (default). Outside
	// development (staging included), nothing can switch identity,
	// authorization or audit off: static identities, provider allow-all,
	// default_action log-only and audit enabled false are refused. mTLS is
	// never optional.
	Environment string `yaml:"environment"`
	// Description is the agent card's description. Default: "<name> agent".
	Description string `yaml:"description"`
	// Version is the agent card's version. Default "0.0.0".
	Version string `yaml:"version"`
	// Capabilities are listed as skills in the agent card; their handlers
	// are registered in code.
	Capabilities []Capability `yaml:"capabilities"`
}

// Capability names a capability and says what it does.
type Capability struct {
	Name        string   `yaml:"name"`        // ^[a-z][a-z0-9_]*$
	Description string   `yaml:"description"` // required
	Tags        []string `yaml:"tags"`
}

// Identity says where the agent's SVID comes from.
type Identity struct {
	// Provider is spiffe (default: the Workload API) or static (PEM files,
	// development only).
	Provider string `yaml:"provider"`
	// SPIFFEEndpoint is the Workload API address, unix:///path or
	// tcp://ip:port. Default: $SPIFFE_ENDPOINT_SOCKET.
	SPIFFEEndpoint string `yaml:"spiffe_endpoint"`
	// SPIFFEID picks the SVID when the Workload API serves several.
	// Default: spiffe://<trust_domain>/agent/<name>/<environment>.
	SPIFFEID string `yaml:"spiffe_id"`
	// AllowedTrustDomains are federated trust domains whose peers are
	// accepted besides the agent's own. Default: none.
	AllowedTrustDomains []string `yaml:"allowed_trust_domains"`
	// StartTimeout bounds the wait for the first SVID. Default 30s.
	StartTimeout time.Duration `yaml:"start_timeout"`
	// Static is the PEM files for provider static.
	Static StaticIdentity `yaml:"static"`
}

// StaticIdentity names PEM files.
type StaticIdentity struct {
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	BundleFile string `yaml:"bundle_file"`
}

// Authorization configures policy decisions.
type Authorization struct {
	// Provider is opa (default) or allow-all (development only).
	Provider string `yaml:"provider"`
	// OPAEndpoint is a remote OPA server (http(s)://host:port, without
	// /v1/data). Default: none, policies are evaluated in process.
	OPAEndpoint string `yaml:"opa_endpoint"`
	// PolicyDir holds the Rego policies for in-process evaluation.
	PolicyDir string `yaml:"policy_dir"`
	// PolicyPath is the decision's path. Default agentweave/authz
	// (package agentweave.authz).
	PolicyPath string `yaml:"policy_path"`
	// DefaultAction is deny (default) or log-only (development only: the
	// call proceeds and the audit record says it would have been denied).
	DefaultAction string `yaml:"default_action"`
	// Timeout bounds one decision; a decision that takes longer is a
	// denial. Default 1s.
	Timeout time.Duration `yaml:"timeout"`
	// ReloadInterval is how often policy_dir is checked for changes (hot
	// reload; a broken change is refused and the last good policy keeps
	// serving). Default 1s; a negative value turns reloading off.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// CacheSize keeps this many decisions per policy revision (in-process
	// policies only), keyed on the input fields the policy reads. Only
	// revisions whose decisions cannot depend on the time are cached: no
	// input.time, no builtin reading the clock, the network or a random
	// source (decided at load; a revision not cached says why in the log).
	// Default 10000 with policy_dir; 0 turns the cache off.
	CacheSize *int `yaml:"cache_size"`
	// CircuitBreaker guards a remote OPA (opa_endpoint): after
	// failure_threshold consecutive failures every decision is denied at
	// once for recovery_timeout, then probes decide whether OPA is back.
	// Defaults 5, 2s, 1: a returning sidecar is used again within seconds.
	CircuitBreaker CircuitBreaker `yaml:"circuit_breaker"`
	// Audit configures the decision log.
	Audit Audit `yaml:"audit"`
}

// Audit configures the audit trail.
type Audit struct {
	// Enabled defaults to true; false is refused outside development.
	Enabled *bool `yaml:"enabled"`
	// Destination is stdout (default) or a file path.
	Destination string `yaml:"destination"`
	// Sync says when a file destination is forced to disk: every (default:
	// before the call proceeds, so no decision is lost in a crash), none
	// (the operating system decides), or a Go duration such as 100ms
	// (a crash loses at most that much).
	Sync string `yaml:"sync"`
	// MaxBytes rotates a file destination before it would grow larger
	// (FILE.1, FILE.2, …; the hash chain continues across files).
	// Default 104857600 (100 MiB); 0 never rotates.
	MaxBytes *int64 `yaml:"max_bytes"`
}

// Transport configures connections.
type Transport struct {
	// TLSMinVersion is "1.3" (default) or "1.2".
	TLSMinVersion string `yaml:"tls_min_version"`
	// AllowedCallers are SPIFFE ID patterns (spiffe://td/agent/*) admitted
	// at the TLS handshake. Default: every workload of the agent's trust
	// domain and the allowed ones (spiffe://<td>/**).
	AllowedCallers []string `yaml:"allowed_callers"`
	// PreferredBindings order the A2A protocol bindings (jsonrpc,
	// http+json, grpc) used to call a peer whose card offers several, e.g.
	// [grpc]; bindings not listed follow in the card's order. Default:
	// none, the card's order (JSON-RPC first for AgentWeave agents).
	PreferredBindings []string       `yaml:"preferred_bindings"`
	ConnectionPool    ConnectionPool `yaml:"connection_pool"`
	CircuitBreaker    CircuitBreaker `yaml:"circuit_breaker"`
	Retry             Retry          `yaml:"retry"`
}

// ConnectionPool bounds outgoing connections.
type ConnectionPool struct {
	MaxConnections int           `yaml:"max_connections"` // per peer; default 100
	IdleTimeout    time.Duration `yaml:"idle_timeout"`    // default 60s
}

// CircuitBreaker is per target.
type CircuitBreaker struct {
	FailureThreshold int           `yaml:"failure_threshold"` // default 5
	RecoveryTimeout  time.Duration `yaml:"recovery_timeout"`  // default 30s
	SuccessThreshold int           `yaml:"success_threshold"` // default 2
}

// Retry applies only where a retry is safe.
type Retry struct {
	MaxAttempts int           `yaml:"max_attempts"` // default 3
	BaseDelay   time.Duration `yaml:"base_delay"`   // default 1s
	MaxDelay    time.Duration `yaml:"max_delay"`    // default 30s
	Factor      float64       `yaml:"factor"`       // default 2 (full jitter)
}

// Server configures the A2A listener.
type Server struct {
	Host string `yaml:"host"` // default 0.0.0.0
	Port int    `yaml:"port"` // default 8443
	// PublicURLs are the agent's https base URLs for its card.
	// Default: https://<host>:<port> (with 127.0.0.1 for 0.0.0.0).
	PublicURLs []string `yaml:"public_urls"`
	// Bindings are the A2A protocol bindings served, all on this one port
	// and its mutual TLS (gRPC too: a gRPC call is told apart by its
	// Content-Type), declared in the agent card in this order of
	// preference: jsonrpc, http+json, grpc. Default: all three, in that
	// order.
	Bindings          []string      `yaml:"bindings"`
	MaxBodyBytes      int64         `yaml:"max_body_bytes"`      // default 1048576
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"` // default 10s
	IdleTimeout       time.Duration `yaml:"idle_timeout"`        // default 120s
	// ShutdownTimeout bounds the graceful drain of in-flight tasks on
	// SIGTERM. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	RateLimit       RateLimit     `yaml:"rate_limit"`
}

// RateLimit limits each caller (by SPIFFE ID) with a token bucket. A
// refused request gets HTTP 429 with a Retry-After header.
type RateLimit struct {
	// RequestsPerSecond per caller. Default 0: no limit.
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	// Burst is the bucket size. Default: RequestsPerSecond rounded up.
	Burst int `yaml:"burst"`
}

// Peer is another agent the agent may call.
type Peer struct {
	SPIFFEID string `yaml:"spiffe_id"`
	URL      string `yaml:"url"`
}

// Tasks configures the task store and push notifications.
type Tasks struct {
	// Store is memory (default), sqlite or postgres.
	Store string `yaml:"store"`
	// SQLitePath is the database file for store sqlite.
	SQLitePath string `yaml:"sqlite_path"`
	// PostgresDSN is the connection string for store postgres.
	PostgresDSN string `yaml:"postgres_dsn"`
	// MemoryLimit bounds the in-memory store. Default 10000.
	MemoryLimit int  `yaml:"memory_limit"`
	Push        Push `yaml:"push"`
}

// Push configures push notifications.
type Push struct {
	Enabled bool `yaml:"enabled"` // default false
	// AllowedNetworks are CIDRs push URLs may reach although private,
	// loopback or link-local. Default: none.
	AllowedNetworks []string `yaml:"allowed_networks"`
}

// Observability configures metrics, tracing and logs.
type Observability struct {
	Metrics Metrics `yaml:"metrics"`
	Tracing Tracing `yaml:"tracing"`
	Logging Logging `yaml:"logging"`
}

// Metrics is the admin listener (/metrics, /healthz, /readyz).
type Metrics struct {
	Enabled *bool  `yaml:"enabled"` // default true
	Host    string `yaml:"host"`    // default 127.0.0.1
	Port    int    `yaml:"port"`    // default 9090
}

// Tracing exports OpenTelemetry traces.
type Tracing struct {
	Enabled     bool     `yaml:"enabled"`      // default false
	Exporter    string   `yaml:"exporter"`     // otlp (default)
	Endpoint    string   `yaml:"endpoint"`     // default localhost:4317
	SampleRatio *float64 `yaml:"sample_ratio"` // 0..1, default 0.1
}

// Logging configures slog.
type Logging struct {
	Level  string `yaml:"level"`  // debug, info (default), warn, error
	Format string `yaml:"format"` // json (default) or text
}
