package demo_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/internal/demo"
)

func TestRun(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := demo.Run(t.Context(), &out, demo.Options{}); err != nil {
		t.Fatalf("Run() = %v, want nil\n%s", err, out.String())
	}
	transcript := out.String()
	for _, want := range []string{
		// Allowed, with the caller search verified.
		": completed\n",
		"[ok ] result decoded: 3 document(s) for \"spiffe\"",
		"search saw the caller as spiffe://example.org/agent/orchestrator/dev,",
		`each decision in the agent's audit trail: "the orchestrator may search the index"`,
		// Streaming.
		"progress: reading 3 document(s) about \"spiffe\"",
		"summary chunk 1: SPIFFE IDs:",
		"summary chunk 3 (last chunk):",
		"[ok ] 2 progress update(s) and 3 chunk(s) arrived as the summary was written; the task ended completed",
		// Denied, with the policy's reason, on both sides.
		`[ok ] denied by reporter's policy (outbound): "reporters may read summaries, not search the index"`,
		"[ok ] before any network I/O: search has no record of reporter",
		`[ok ] denied by search's policy (inbound): "reporters may read summaries, not search the index"`,
		"[ok ] search's handler never ran",
		"task not found (a task belongs to the identity that created it)",
		// Refused at the handshake.
		"[ok ] a certificate from a forged CA, claiming spiffe://example.org/agent/orchestrator/dev: refused",
		"certificate signed by unknown authority",
		"[ok ] spiffe://example.org/agent/intruder/dev, a valid SVID that search's transport.allowed_callers does not admit: refused",
		"spiffe://example.org/agent/intruder/dev is not authorized",
		"[ok ] a client with no certificate at all: refused",
		`agentweave_tls_handshake_failures_total{reason="unauthorized"} 1`,
		"[ok ] orchestrator refused the server at",
		// The audit trail.
		"[ok ] search.audit.log",
		"chain intact",
		"All expectations held",
	} {
		if !strings.Contains(transcript, want) {
			t.Errorf("transcript lacks %q:\n%s", want, transcript)
		}
	}
	if strings.Contains(transcript, "FAIL") {
		t.Errorf("transcript reports a failure:\n%s", transcript)
	}
}

func TestRunRefusesABadTrustDomain(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	err := demo.Run(t.Context(), &out, demo.Options{TrustDomain: "Not A Domain"})
	if err == nil || errors.Is(err, demo.ErrExpectation) {
		t.Errorf("Run(bad trust domain) = %v, want a setup error", err)
	}
}

// TestKeepRunning runs the demo with KeepRunning, makes the calls it
// prints while the agents are up, then cancels and checks it shut down.
func TestKeepRunning(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- demo.Run(ctx, out, demo.Options{TrustDomain: "acme.test", KeepRunning: true})
	}()
	waitFor(t, out, done, "Press Ctrl-C to stop.")
	transcript := out.String()

	// orchestrator → search: allowed; search names the verified caller.
	socket, url, target := callFlags(t, transcript, "# orchestrator calls search")
	task, err := call(t, socket, url, target, "search", map[string]any{"query": "spiffe"})
	if err != nil || task.Status.State != a2acore.TaskStateCompleted {
		t.Fatalf("the printed orchestrator → search call: %v, %v", task, err)
	}
	if got := resultField(task, "caller"); got != "spiffe://acme.test/agent/orchestrator/dev" {
		t.Errorf("search saw the caller as %q, want orchestrator's SPIFFE ID", got)
	}
	// reporter → orchestrator research: allowed, and orchestrator calls on.
	socket, url, target = callFlags(t, transcript, "# reporter asks orchestrator for research")
	task, err = call(t, socket, url, target, "research", map[string]any{"topic": "audit"})
	if err != nil || task.Status.State != a2acore.TaskStateCompleted || !strings.Contains(resultField(task, "summary"), "Audit trails:") {
		t.Errorf("the printed research call: %v, %v; want a completed task with a summary", task, err)
	}
	// reporter → search: denied by search's policy.
	socket, url, target = callFlags(t, transcript, "# reporter calls search")
	_, err = call(t, socket, url, target, "search", map[string]any{"query": "spiffe"})
	if !errors.Is(err, a2acore.ErrUnauthorized) || !strings.Contains(err.Error(), "reporters may read summaries, not search the index") {
		t.Errorf("the printed reporter → search call: %v, want denied with the policy's reason", err)
	}
	// The health command's URL answers.
	health := argAfter(t, transcript, "agentweave health ")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, health, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", health, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s = %s, want 200", health, resp.Status)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() after cancel = %v, want nil\n%s", err, out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return within 30s of the cancel:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "Shutting down") {
		t.Errorf("transcript lacks the shutdown:\n%s", out.String())
	}
	if _, err := os.Stat(strings.TrimPrefix(socket, "unix://")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the Workload API socket %s is still there after Run returned (stat: %v)", socket, err)
	}
}

// waitFor polls out until it contains want, failing if Run returns first
// or the deadline passes.
func waitFor(t *testing.T, out *syncBuffer, done <-chan error, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			t.Fatalf("Run returned %v before printing %q:\n%s", err, want, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 60s:\n%s", want, out.String())
		}
	}
}

// callFlags returns the --socket, --url and --target of the agentweave
// call command printed after comment.
func callFlags(t *testing.T, transcript, comment string) (socket, url, target string) {
	t.Helper()
	_, rest, ok := strings.Cut(transcript, comment)
	if !ok {
		t.Fatalf("transcript lacks %q:\n%s", comment, transcript)
	}
	fields := strings.Fields(argAfter(t, rest, "agentweave call "))
	flag := func(name string) string {
		for i, f := range fields {
			if f == name && i+1 < len(fields) {
				return fields[i+1]
			}
		}
		t.Fatalf("the call after %q lacks %s: %v", comment, name, fields)
		return ""
	}
	return flag("--socket"), flag("--url"), flag("--target")
}

// argAfter is the rest of the first line of s that contains prefix, after
// prefix.
func argAfter(t *testing.T, s, prefix string) string {
	t.Helper()
	_, rest, ok := strings.Cut(s, prefix)
	if !ok {
		t.Fatalf("no %q in:\n%s", prefix, s)
	}
	line, _, _ := strings.Cut(rest, "\n")
	return strings.TrimSpace(line)
}

// call does what the printed `agentweave call` does: an SVID from the
// socket, a connection that must present target, and the capability.
func call(t *testing.T, socket, url, target, capability string, payload any) (*a2acore.Task, error) {
	t.Helper()
	id, err := spiffeid.FromString(target)
	if err != nil {
		t.Fatalf("--target %q: %v", target, err)
	}
	src, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{Addr: socket, StartTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("--socket %s: %v", socket, err)
	}
	defer src.Close()
	client, err := client.New(src, client.Options{Resolver: client.StaticResolver{id: url}, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	return client.Call(t.Context(), id, capability, payload)
}

// resultField is a string field of the task's result.
func resultField(task *a2acore.Task, field string) string {
	for _, art := range task.Artifacts {
		for _, p := range art.Parts {
			if m, ok := p.Data().(map[string]any); ok && art.Name == "result" {
				s, _ := m[field].(string)
				return s
			}
		}
	}
	return ""
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
