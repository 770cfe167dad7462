package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
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

// TestServeHelpExampleRuns runs what `agentweave serve --help` shows, as a
// user would: the built command, dev up as the example's comment says, then
// each example line that names a file of this repository. Ports and the
// task database are moved by environment overrides, so that the test runs
// beside others.
func TestServeHelpExampleRuns(t *testing.T) {
	t.Parallel()
	help := runCLI(t, nil, "serve", "--help")
	_, examples, ok := strings.Cut(help.stdout, "Examples:\n")
	if help.code != 0 || !ok {
		t.Fatalf("serve --help has no examples:\n%s", help)
	}
	examples, _, _ = strings.Cut(examples, "\n\nFlags:")
	var runnable [][]string
	for line := range strings.SplitSeq(examples, "\n") {
		fields := strings.Fields(line)
		if i := slices.Index(fields, "--config"); i >= 0 && i+1 < len(fields) {
			if _, err := os.Stat(filepath.Join(repoRoot, fields[i+1])); err == nil {
				runnable = append(runnable, fields)
			}
		}
	}
	if len(runnable) == 0 {
		t.Fatalf("no example of serve --help names a configuration of this repository:\n%s", examples)
	}
	wantDevUp := "agentweave dev up --dir /tmp/aw --workload "
	if !strings.Contains(examples, wantDevUp) {
		t.Fatalf("serve --help does not say where the SVID comes from (%q…):\n%s", wantDevUp, examples)
	}

	for _, fields := range runnable {
		// VAR=value… agentweave serve --config FILE
		var env []string
		for len(fields) > 0 && strings.Contains(fields[0], "=") {
			env, fields = append(env, fields[0]), fields[1:]
		}
		if len(fields) < 2 || fields[0] != "agentweave" || fields[1] != "serve" {
			t.Fatalf("example %q is not an agentweave serve command", strings.Join(fields, " "))
		}
		args := fields[1:]
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Parallel()
			// The example names its socket /tmp/aw/WORKLOAD.sock, served by
			// dev up --dir /tmp/aw; here dev up serves it in a directory of
			// the test's own, and a client too.
			workload := ""
			for i, kv := range env {
				if sock, ok := strings.CutPrefix(kv, "SPIFFE_ENDPOINT_SOCKET=unix:///tmp/aw/"); ok {
					workload = strings.TrimSuffix(sock, ".sock")
					env = slices.Delete(env, i, i+1)
					break
				}
			}
			if workload == "" {
				t.Fatalf("example sets no SPIFFE_ENDPOINT_SOCKET=unix:///tmp/aw/WORKLOAD.sock: %v", env)
			}
			dir := shortDir(t)
			dev := startCLI(t, nil, "dev", "up", "--dir", dir, "--workload", workload, "--workload", "client")
			dev.waitFor(t, "serving; press Ctrl-C to stop", 30*time.Second)

			port, admin := freePort(t), freePort(t)
			env = append(env, "SPIFFE_ENDPOINT_SOCKET=unix://"+filepath.Join(dir, workload+".sock"),
				fmt.Sprintf("AGENTWEAVE_SERVER_PORT=%d", port), fmt.Sprintf("AGENTWEAVE_OBSERVABILITY_METRICS_PORT=%d", admin),
				"AGENTWEAVE_TASKS_SQLITE_PATH="+filepath.Join(dir, "tasks.db"))
			serve := startCLI(t, env, args...)
			line := serve.waitFor(t, " serving at ", 60*time.Second)
			id, _, _ := strings.Cut(strings.TrimPrefix(line, "agentweave serve: "), " ")

			call := runCLI(t, nil, "call", "--socket", "unix://"+filepath.Join(dir, "client.sock"),
				"--url", fmt.Sprintf("https://127.0.0.1:%d", port), "--target", id,
				"--capability", "echo", "--data", `{"q":"spiffe"}`, "--timeout", "30s")
			if call.code != 0 || !strings.Contains(call.stdout, `"q":"spiffe"`) {
				t.Errorf("calling echo on the example agent %s:\n%s", id, call)
			}
			health := runCLI(t, nil, "health", fmt.Sprintf("http://127.0.0.1:%d/readyz", admin))
			if health.code != 0 {
				t.Errorf("the example agent is not ready:\n%s", health)
			}
			if code := serve.stop(t); code != 0 {
				t.Errorf("serve ended with exit code %d after SIGTERM, want 0:\n%s", code, serve.output())
			}
			if code := dev.stop(t); code != 0 {
				t.Errorf("dev up ended with exit code %d after SIGTERM, want 0:\n%s", code, dev.output())
			}
		})
	}
}

// TestServeRefusesWithoutEndpoint: with neither identity.spiffe_endpoint
// nor SPIFFE_ENDPOINT_SOCKET, serve does not start, and says what to set.
func TestServeRefusesWithoutEndpoint(t *testing.T) {
	t.Parallel()
	res := runCLI(t, nil, "serve", "--config", "examples/conformance/agent.yaml")
	if res.code != 1 || !strings.Contains(res.stderr, "SPIFFE_ENDPOINT_SOCKET") || !strings.Contains(res.stderr, "identity.spiffe_endpoint") {
		t.Errorf("serve without a Workload API endpoint:\n%s\nwant exit 1 naming identity.spiffe_endpoint and SPIFFE_ENDPOINT_SOCKET", res)
	}
	if strings.Contains(res.stderr, "serving at") {
		t.Errorf("serve started without an endpoint:\n%s", res)
	}
}
