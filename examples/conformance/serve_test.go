package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
)

// TestServeFromConfig runs the agent as its configuration file describes:
// identity from a Workload API, mTLS, SQLite tasks.
func TestServeFromConfig(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "aw-cf-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ca, err := devca.New(devca.Options{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]string{}
	for _, name := range []string{"conformance", "tck"} {
		s, err := ca.Serve(t.Context(), name, filepath.Join(dir, name+".sock"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		addrs[name] = s.Addr()
	}
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	yaml := fmt.Sprintf(`
agent: {name: conformance, trust_domain: example.org, environment: development}
identity: {spiffe_endpoint: %q, spiffe_id: "spiffe://example.org/agent/conformance/dev"}
authorization: {provider: allow-all}
transport: {allowed_callers: ["spiffe://example.org/agent/tck/*"]}
server: {host: 127.0.0.1, port: %d}
tasks: {store: sqlite, sqlite_path: %q}
observability: {metrics: {enabled: false}}
`, addrs["conformance"], port, filepath.Join(dir, "tasks.db"))
	cfg, err := config.Parse([]byte(yaml), "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, ready) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve() = %v", err)
		}
	})
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("serve() ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("agent not ready after 30s")
	}

	src, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{Addr: addrs["tck"]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	agent := spiffeid.RequireFromString("spiffe://example.org/agent/conformance/dev")
	caller, err := client.New(src, client.Options{Resolver: client.StaticResolver{agent: base}, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caller.Close() })
	peer, err := caller.Peer(t.Context(), agent)
	if err != nil {
		t.Fatal(err)
	}
	r, err := peer.SendMessage(t.Context(), message("tck-complete-task"))
	if task, ok := r.(*a2acore.Task); err != nil || !ok || task.Status.State != a2acore.TaskStateCompleted {
		t.Fatalf("tck-complete-task over the configured agent = %#v, %v", r, err)
	}
}

// TestExampleConfig: the shipped agent.yaml loads.
func TestExampleConfig(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SPIFFE_ENDPOINT_SOCKET": "unix:///tmp/aw/conformance.sock"}
	if _, err := config.Parse(data, "agent.yaml", func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatalf("agent.yaml: %v", err)
	}
}
