package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"
)

// TestDemoKeepRunning runs `demo --keep-running` until it prints how to
// reach the agents, then interrupts it as Ctrl-C would (the root command's
// context ends) and expects a clean exit.
func TestDemoKeepRunning(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out := &syncBuffer{}
	cmd := newRootCmd() //nolint:contextcheck // commands get ctx through ExecuteContext
	cmd.SetArgs([]string{"demo", "--keep-running", "--trust-domain", "acme.test"})
	cmd.SetOut(out)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()

	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "Press Ctrl-C to stop.") {
		select {
		case err := <-done:
			t.Fatalf("demo --keep-running returned %v before the agents were up:\n%s", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo --keep-running printed no hints within 60s:\n%s", out.String())
		}
	}
	for _, want := range []string{
		"All expectations held",
		"agentweave call --socket unix://",
		"--target spiffe://acme.test/agent/search/dev --capability search",
		"agentweave health http://127.0.0.1:",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo --keep-running output lacks %q:\n%s", want, out.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("demo --keep-running after Ctrl-C = %v, want nil", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo --keep-running did not stop within 30s of Ctrl-C")
	}
}

func TestDemoHelpDescribesTheScenario(t *testing.T) {
	t.Parallel()
	out, err := run(t.Context(), "demo", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"orchestrator, search and", "streams a summary", "--keep-running", "--trust-domain", "--ttl"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo --help lacks %q:\n%s", want, out)
		}
	}
}
