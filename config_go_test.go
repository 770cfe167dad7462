package agentweave_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity/identitytest"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// goConfig is a production configuration written in Go: no YAML, only
// the keys that have no default.
func goConfig(name, policyDir, auditFile string) *agentweave.Config {
	return &agentweave.Config{
		Agent:    config.Agent{Name: name, TrustDomain: "example.org"},
		Identity: config.Identity{SPIFFEEndpoint: "unix:///nonexistent/workload.sock"},
		Authorization: config.Authorization{
			PolicyDir: policyDir,
			Audit:     config.Audit{Destination: auditFile},
		},
		Observability: config.Observability{Metrics: config.Metrics{Host: "127.0.0.1"}},
	}
}

// An agent built from a Config written in Go, with no YAML anywhere,
// serves and calls with the production defaults: policy decides, audit
// records.
func TestAgentFromGoConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	policy := "package agentweave.authz\n\nimport rego.v1\n\ndefault allow := false\n\nallow if input.caller_trust_domain == \"example.org\"\n"
	if err := os.WriteFile(filepath.Join(dir, "policy.rego"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	urls := map[spiffeid.ID]string{}
	start := func(name string, caps ...agentweave.Capability) *agentweave.Agent {
		t.Helper()
		cfg := goConfig(name, dir, filepath.Join(dir, name+".audit.log"))
		id := spiffeid.RequireFromString("spiffe://example.org/agent/" + name + "/production")
		ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		a, err := agentweave.New(t.Context(), cfg,
			agentweave.WithIdentitySource(ca.Source(ca.CreateX509SVID(id))),
			agentweave.WithResolver(client.StaticResolver(urls)),
			agentweave.WithListener(ln), agentweave.WithAdminAddr("127.0.0.1:0"))
		if err != nil {
			t.Fatalf("New(%s) from a Go Config: %v", name, err)
		}
		t.Cleanup(func() { _ = a.Close() })
		for _, c := range caps {
			if err := a.Register(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		if a.ID() != id {
			t.Fatalf("agent ID = %s, want the default %s", a.ID(), id)
		}
		urls[id] = a.URL()
		return a
	}
	start("search", search)
	orch := start("orchestrator", agentweave.Capability{Name: "plan", Description: "plans", Handler: func(context.Context, *agentweave.Request) (any, error) { return nil, nil }})
	res, err := orch.Call(t.Context(), "spiffe://example.org/agent/search/production", "search", query{Text: "go", Limit: 1})
	if err != nil {
		t.Fatalf("Call between Go-configured agents: %v", err)
	}
	var hits []hit
	if err := res.Decode(&hits); err != nil || len(hits) != 1 {
		t.Fatalf("result = %v, %v; want one hit", hits, err)
	}
	trail, err := os.ReadFile(filepath.Join(dir, "search.audit.log"))
	if err != nil || !strings.Contains(string(trail), `"action":"search"`) {
		t.Fatalf("the callee's audit trail lacks the call (%v):\n%s", err, trail)
	}
}

// A zero or partial Config is refused with its problems, never a panic.
func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	for name, cfg := range map[string]*agentweave.Config{
		"zero":         {},
		"no trust":     {Agent: config.Agent{Name: "a"}},
		"bad name":     {Agent: config.Agent{Name: "A B", TrustDomain: "example.org"}},
		"allow-all":    {Agent: config.Agent{Name: "a", TrustDomain: "example.org"}, Authorization: config.Authorization{Provider: "allow-all"}},
		"nil pointers": {Agent: config.Agent{Name: "a", TrustDomain: "example.org", Environment: "production"}, Tasks: config.Tasks{Store: "sqlite"}},
	} {
		a, err := agentweave.New(t.Context(), cfg)
		var ce *config.Error
		if err == nil || !errors.As(err, &ce) {
			if a != nil {
				_ = a.Close()
			}
			t.Errorf("%s: New = %v, want a *config.Error", name, err)
		}
	}
	if _, err := agentweave.New(t.Context(), nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

// The root links no durable store: a configuration naming one the program
// does not import is refused with the import to add.
func TestStoreNotLinked(t *testing.T) {
	t.Parallel()
	cfg := goConfig("a", t.TempDir(), "stdout")
	cfg.Tasks = config.Tasks{Store: "postgres", PostgresDSN: "postgres://agent@127.0.0.1:1/agent"}
	_, err := agentweave.New(t.Context(), cfg)
	if !errors.Is(err, taskstore.ErrNotLinked) || !strings.Contains(err.Error(), `_ "github.com/agentweave/agentweave-go/a2a/taskstore/postgres"`) {
		t.Fatalf("New with an unlinked store = %v, want ErrNotLinked naming the import", err)
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range []string{"modernc.org/sqlite", "github.com/jackc/pgx/v5", "a2a/taskstore/sqlite", "a2a/taskstore/postgres"} {
		if strings.Contains(string(out), dep) {
			t.Errorf("the root package links %s", dep)
		}
	}
}
