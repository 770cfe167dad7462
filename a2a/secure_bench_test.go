package a2a_test

import (
	"context"
	"net"
	"path/filepath"
	"runtime"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// adminID may call any capability under the example RBAC policy.
var adminID = spiffeid.RequireFromString("spiffe://example.org/admin/bench")

// BenchmarkSecureCall measures one capability call through client.Client over
// mTLS (warm connection, 16 concurrent callers), with both sides deciding
// and auditing, against the same call with authorization off:
//
//	authz-off           allow-all on both sides, no audit
//	rbac-audit-fsync    embedded OPA with examples/policies/rbac on both
//	                    sides, every decision to a hash-chained audit file,
//	                    fsync before the call proceeds (the default)
//	rbac-audit-nosync   the same, the operating system flushes the file
func BenchmarkSecureCall(b *testing.B) {
	ca := identitytest.NewCA(b, td)
	for _, bc := range []struct {
		name    string
		secured bool
		sync    audit.SyncPolicy
	}{
		{"authz-off", false, 0},
		{"rbac-audit-fsync", true, audit.SyncEvery},
		{"rbac-audit-nosync", true, audit.SyncNone},
	} {
		b.Run(bc.name, func(b *testing.B) {
			enforcer := func(name string) *authz.Enforcer {
				if !bc.secured {
					return &authz.Enforcer{Authorizer: authz.AllowAll()}
				}
				return secureEnforcer(b, filepath.Join(b.TempDir(), name+".audit"), bc.sync)
			}
			e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: enforcer("server"), Capabilities: []a2a.Capability{{
				Name: "echo", Description: "echo",
				Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
					v, _ := c.Data()
					return nil, c.Result(ctx, v)
				},
			}}})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = e.Close() })
			ln, err := (&net.ListenConfig{}).Listen(b.Context(), "tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			base := "https://" + ln.Addr().String()
			card, err := a2a.BuildCard(a2a.CardOptions{Name: "bench", Description: "bench", URLs: []string{base}}, e.Capabilities())
			if err != nil {
				b.Fatal(err)
			}
			h, err := a2a.NewHandler(e, card, a2a.HandlerOptions{})
			if err != nil {
				b.Fatal(err)
			}
			srv, err := transport.NewServer(ca.Source(ca.CreateX509SVID(agentID)), identity.MatchPatterns(identity.MustParsePattern("spiffe://example.org/**")), h, transport.ServerOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = srv.Close() })
			go func() { _ = srv.Serve(ln) }()
			c, err := client.New(ca.Source(ca.CreateX509SVID(adminID)), client.Options{
				Resolver: client.StaticResolver{agentID: base},
				Enforcer: enforcer("client"),
			})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = c.Close() })
			payload := map[string]any{"query": "spiffe", "limit": 3}
			call := func() error {
				task, err := c.Call(b.Context(), agentID, "echo", payload)
				if err == nil && task.Status.State != a2acore.TaskStateCompleted {
					b.Fatalf("task %s", task.Status.State)
				}
				return err
			}
			runParallel(b, call)
		})
	}
}

// secureEnforcer decides with the example RBAC policy and audits to a file
// whose failure denies the call, as production agents do.
func secureEnforcer(b *testing.B, path string, sync audit.SyncPolicy) *authz.Enforcer {
	b.Helper()
	_, here, _, _ := runtime.Caller(0) // the policy is found from any working directory (make bench)
	rbac := filepath.Join(filepath.Dir(here), "..", "examples", "policies", "rbac")
	pol, err := opa.NewEmbedded(b.Context(), opa.EmbeddedOptions{Paths: []string{rbac}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pol.Close() })
	sink, err := audit.NewFile(path, audit.FileOptions{Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	log, err := audit.New(sink, audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = log.Close()
		if _, err := audit.VerifyFiles(path); err != nil {
			b.Errorf("audit trail of the benchmark: %v", err)
		}
	})
	return &authz.Enforcer{Authorizer: pol, Auditor: log, RequireAudit: true}
}
