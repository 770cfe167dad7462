package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/transport"
)

// startAgent serves an agent "search" with echo and fail capabilities on
// loopback, its identity from a dev CA that also serves a "caller" socket.
func startAgent(t *testing.T) (url, callerSock string, searchID spiffeid.ID) {
	t.Helper()
	dir := shortDir(t)
	ca, err := devca.New(devca.Options{TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, name := range []string{"search", "caller"} {
		srv, err := ca.Serve(t.Context(), name, filepath.Join(dir, name+".sock"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		addrs = append(addrs, srv.Addr())
	}
	src, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{Addr: addrs[0]})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	agent := a2atest.Serve(t, src, a2atest.Options{Name: "search", Engine: a2a.EngineOptions{Capabilities: []a2a.Capability{
		{Name: "echo", Description: "echo", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			v, _ := c.Data()
			return nil, c.Result(ctx, v)
		}},
		{Name: "fail", Description: "fail", Handler: func(context.Context, *a2a.Request) (any, error) { return nil, errors.New("no luck") }},
	}}})
	return agent.URL, addrs[1], src.ID()
}

func TestCall(t *testing.T) {
	t.Parallel()
	url, sock, searchID := startAgent(t)
	base := []string{"call", "--socket", sock, "--url", url, "--target", searchID.String(), "--timeout", "20s"}

	out, err := run(t.Context(), append(base, "--capability", "echo", "--data", `{"q":"spiffe"}`)...)
	if err != nil {
		t.Fatalf("call echo: %v\n%s", err, out)
	}
	var task a2acore.Task
	if err := json.Unmarshal([]byte(out), &task); err != nil {
		t.Fatalf("output is not a task: %v\n%s", err, out)
	}
	if task.Status.State != a2acore.TaskStateCompleted || !strings.Contains(out, `"q":"spiffe"`) {
		t.Errorf("task = %s", out)
	}

	out, err = run(t.Context(), append(base, "--capability", "echo", "--stream")...)
	if err != nil || strings.Count(out, "\n") < 3 || !strings.Contains(out, "TASK_STATE_COMPLETED") {
		t.Errorf("call --stream: %v\n%s", err, out)
	}

	out, err = run(t.Context(), append(base, "--capability", "fail")...)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "TASK_STATE_FAILED") || !strings.Contains(out, "no luck") {
		t.Errorf("call fail: error = %v, output %s; want exit 1 and the failed task with its reason", err, out)
	}

	wrong := []string{"call", "--socket", sock, "--url", url, "--target", "spiffe://example.org/agent/other/dev", "--capability", "echo", "--timeout", "20s"}
	if _, err := run(t.Context(), wrong...); !errors.Is(err, transport.ErrPeerRejected) {
		t.Errorf("call with the wrong --target: error = %v, want the server refused", err)
	}
	if _, err := run(t.Context(), append(base, "--capability", "echo", "--data", "{not json")...); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Errorf("bad --data: error = %v", err)
	}
}

// TestCallFlagRefusals: --config and --socket exclude each other, a call
// without --config needs --url, and a configuration that does not load is
// refused with its problems.
func TestCallFlagRefusals(t *testing.T) {
	t.Parallel()
	id := "spiffe://example.org/agent/search/dev"
	bad := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(bad, []byte("agent: {name: x}\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"socket with config", []string{"call", "--config", bad, "--socket", "unix:///x.sock", "--target", id, "--capability", "echo"}, "--socket and --config exclude each other"},
		{"no url without config", []string{"call", "--socket", "unix:///x.sock", "--target", id, "--capability", "echo"}, "--url is required without --config"},
		{"configuration with problems", []string{"call", "--config", bad, "--target", id, "--capability", "echo"}, "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := run(t.Context(), tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
