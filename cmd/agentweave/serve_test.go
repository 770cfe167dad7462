package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/identity/devca"
)

// TestServe runs `agentweave serve` from a configuration (identity from a
// real Workload API socket, the example RBAC policy, an audit file), calls
// it with `agentweave call`, checks it with `agentweave health`, and stops
// it by canceling its context, as SIGTERM does.
func TestServe(t *testing.T) {
	t.Parallel()
	dir := shortDir(t)
	ca, err := devca.New(devca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	socks := map[string]*devca.Server{}
	for _, name := range []string{"echo", "orchestrator", "reporter"} {
		srv, err := ca.Serve(t.Context(), name, filepath.Join(dir, name+".sock"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		socks[name] = srv
	}
	port, admin := freePort(t), freePort(t)
	policy := filepath.Join(dir, "policy")
	if err := os.MkdirAll(policy, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policy, "p.rego"), []byte(`package agentweave.authz

default decision := {"allow": false, "reason": "only the orchestrator may call echo"}

decision := {"allow": true} if {
	input.caller_spiffe_id == "spiffe://example.org/agent/orchestrator/dev"
	input.action == "echo"
}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "echo.yaml")
	yaml := fmt.Sprintf(`agent:
  name: echo
  trust_domain: %s
  capabilities: [{name: echo, description: Answers with its input}]
identity: {spiffe_endpoint: %q, spiffe_id: %q}
authorization:
  policy_dir: %q
  audit: {destination: audit.log}
server: {host: 127.0.0.1, port: %d}
observability: {metrics: {port: %d}}
`, ca.TrustDomain().Name(), socks["echo"].Addr(), socks["echo"].ID(), policy, port, admin)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, stop := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, "serve", "--config", cfg)
		done <- err
	}()
	health := fmt.Sprintf("http://127.0.0.1:%d/readyz", admin)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := run(t.Context(), "health", health); err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("serve not ready within 20s: %v", <-done)
		}
		time.Sleep(20 * time.Millisecond)
	}

	call := func(who string) (string, error) {
		return run(t.Context(), "call", "--socket", socks[who].Addr(), "--url", fmt.Sprintf("https://127.0.0.1:%d", port),
			"--target", socks["echo"].ID().String(), "--capability", "echo", "--data", `{"q":"spiffe"}`, "--timeout", "20s")
	}
	if out, err := call("orchestrator"); err != nil || !strings.Contains(out, `"q":"spiffe"`) {
		t.Fatalf("orchestrator's call: %v\n%s", err, out)
	}
	if out, err := call("reporter"); err == nil || !strings.Contains(err.Error(), "only the orchestrator may call echo") {
		t.Fatalf("reporter's call: %v\n%s; want the policy's denial", err, out)
	}

	stop()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("serve ended with %v, want a clean shutdown", err)
	}
	rep, err := audit.VerifyFiles(filepath.Join(dir, "audit.log"))
	if err != nil || rep.Records != 2 {
		t.Errorf("audit trail of serve: %+v, %v; want both decisions, intact", rep, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
