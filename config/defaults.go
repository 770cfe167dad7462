package config

import (
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"time"
)

// Defaults of the pointer fields, where nil means the default: Validate
// reads a nil field as its default, so that a Config that skipped
// ApplyDefaults is judged as it would run.
const (
	defaultAuditEnabled   = true
	defaultAuditMaxBytes  = int64(100 << 20)
	defaultCacheSize      = 10_000 // opa.DefaultCacheSize
	defaultMetricsEnabled = true
	defaultSampleRatio    = 0.1
)

// ApplyDefaults sets every key left at its zero value (nil for pointer
// fields) to the default its field documents; Load and Parse call it after
// the environment overrides, so a Config built in Go gets the very same
// defaults as a file. Call it, then [Config.Validate], before using a
// Config built in Go:
//
//	cfg := &config.Config{Agent: config.Agent{Name: "search", TrustDomain: "example.org"}}
//	cfg.ApplyDefaults()
//	if err := cfg.Validate(); err != nil {
//		return err // *config.Error
//	}
//
// It only fills zero values, so calling it again changes nothing, and it
// never writes through a slice or pointer the Config already holds, so a
// shallow copy keeps the original as it was. identity.spiffe_endpoint
// defaults to $SPIFFE_ENDPOINT_SOCKET, read from the process environment.
// A nil *Config is left alone.
func (c *Config) ApplyDefaults() {
	if c != nil {
		c.applyDefaults(os.LookupEnv)
	}
}

func orDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func ptrDefault[T any](v **T, def T) {
	if *v == nil {
		*v = &def
	}
}

// deref returns *p, or def when p is nil.
func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// applyDefaults is ApplyDefaults with lookupEnv for
// $SPIFFE_ENDPOINT_SOCKET (nil: not looked up).
func (c *Config) applyDefaults(lookupEnv func(string) (string, bool)) {
	orDefault(&c.Agent.Environment, Production)
	orDefault(&c.Agent.Version, "0.0.0")
	if c.Agent.Description == "" && c.Agent.Name != "" {
		c.Agent.Description = c.Agent.Name + " agent"
	}
	orDefault(&c.Identity.Provider, "spiffe")
	if c.Identity.SPIFFEEndpoint == "" && lookupEnv != nil {
		c.Identity.SPIFFEEndpoint, _ = lookupEnv("SPIFFE_ENDPOINT_SOCKET")
	}
	if c.Identity.SPIFFEID == "" && c.Agent.Name != "" && c.Agent.TrustDomain != "" {
		c.Identity.SPIFFEID = fmt.Sprintf("spiffe://%s/agent/%s/%s", c.Agent.TrustDomain, c.Agent.Name, c.Agent.Environment)
	}
	orDefault(&c.Identity.StartTimeout, 30*time.Second)

	az := &c.Authorization
	orDefault(&az.Provider, "opa")
	orDefault(&az.PolicyPath, "agentweave/authz")
	orDefault(&az.DefaultAction, "deny")
	ptrDefault(&az.Audit.Enabled, defaultAuditEnabled)
	orDefault(&az.Audit.Destination, "stdout")
	orDefault(&az.Audit.Sync, "every")
	ptrDefault(&az.Audit.MaxBytes, defaultAuditMaxBytes)
	orDefault(&az.Timeout, time.Second)
	orDefault(&az.ReloadInterval, time.Second)
	if az.OPAEndpoint == "" {
		ptrDefault(&az.CacheSize, defaultCacheSize)
	}
	orDefault(&az.CircuitBreaker.FailureThreshold, 5)
	orDefault(&az.CircuitBreaker.RecoveryTimeout, 2*time.Second)
	orDefault(&az.CircuitBreaker.SuccessThreshold, 1)

	tr := &c.Transport
	orDefault(&tr.TLSMinVersion, "1.3")
	if len(tr.AllowedCallers) == 0 && c.Agent.TrustDomain != "" {
		callers := []string{"spiffe://" + c.Agent.TrustDomain + "/**"}
		for _, td := range c.Identity.AllowedTrustDomains {
			callers = append(callers, "spiffe://"+td+"/**")
		}
		tr.AllowedCallers = callers
	}
	orDefault(&tr.ConnectionPool.MaxConnections, 100)
	orDefault(&tr.ConnectionPool.IdleTimeout, 60*time.Second)
	orDefault(&tr.CircuitBreaker.FailureThreshold, 5)
	orDefault(&tr.CircuitBreaker.RecoveryTimeout, 30*time.Second)
	orDefault(&tr.CircuitBreaker.SuccessThreshold, 2)
	orDefault(&tr.Retry.MaxAttempts, 3)
	orDefault(&tr.Retry.BaseDelay, time.Second)
	orDefault(&tr.Retry.MaxDelay, 30*time.Second)
	orDefault(&tr.Retry.Factor, 2)

	sv := &c.Server
	orDefault(&sv.Host, "0.0.0.0")
	orDefault(&sv.Port, 8443)
	if len(sv.PublicURLs) == 0 {
		host := sv.Host
		if host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		sv.PublicURLs = []string{"https://" + net.JoinHostPort(host, strconv.Itoa(sv.Port))}
	}
	if len(sv.Bindings) == 0 {
		sv.Bindings = []string{BindingJSONRPC, BindingHTTPJSON, BindingGRPC}
	}
	orDefault(&sv.MaxBodyBytes, 1<<20)
	orDefault(&sv.ReadHeaderTimeout, 10*time.Second)
	orDefault(&sv.IdleTimeout, 120*time.Second)
	orDefault(&sv.ShutdownTimeout, 30*time.Second)
	// An infinite or NaN rate is refused by validation; a huge one gets
	// the largest burst an int32 holds rather than an overflow.
	if rl := &sv.RateLimit; rl.Burst == 0 && rl.RequestsPerSecond > 0 && !math.IsInf(rl.RequestsPerSecond, 1) {
		rl.Burst = int(math.Min(math.Ceil(rl.RequestsPerSecond), math.MaxInt32))
	}

	orDefault(&c.Tasks.Store, "memory")
	orDefault(&c.Tasks.MemoryLimit, 10_000)

	ob := &c.Observability
	ptrDefault(&ob.Metrics.Enabled, defaultMetricsEnabled)
	orDefault(&ob.Metrics.Host, "127.0.0.1")
	orDefault(&ob.Metrics.Port, 9090)
	orDefault(&ob.Tracing.Exporter, "otlp")
	orDefault(&ob.Tracing.Endpoint, "localhost:4317")
	ptrDefault(&ob.Tracing.SampleRatio, defaultSampleRatio)
	orDefault(&ob.Logging.Level, "info")
	orDefault(&ob.Logging.Format, "json")
}
