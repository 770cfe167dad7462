package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/a2a/taskstore/sqlite"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// agentEnv, when set, makes TestAgentProcess an agent serving from the
// SQLite database and credentials in that directory.
const agentEnv = "SQLITESTORE_TEST_AGENT_DIR"

var (
	agentID = spiffeid.RequireFromString("spiffe://example.org/agent/durable/dev")
	callerA = spiffeid.RequireFromString("spiffe://example.org/agent/alice/dev")
)

// TestAgentProcess is not a test: TestAgentSurvivesSIGKILL runs it in a
// child process as a whole agent (engine, SQLite store, mTLS server) and
// kills it. It prints "READY https://addr" once serving.
func TestAgentProcess(t *testing.T) {
	dir := os.Getenv(agentEnv)
	if dir == "" {
		t.Skip("helper process for TestAgentSurvivesSIGKILL")
	}
	ctx := context.Background()
	fail := func(err error) { fmt.Fprintln(os.Stderr, err); os.Exit(2) }
	store, err := sqlite.Open(ctx, filepath.Join(dir, "tasks.db"), sqlite.Options{})
	if err != nil {
		fail(err)
	}
	engine, err := a2a.NewEngine(a2a.EngineOptions{Store: store, Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: []a2a.Capability{
		{Name: "echo", Description: "echo", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			v, _ := c.Data()
			return nil, c.Result(ctx, v)
		}},
		{Name: "wait", Description: "works until canceled", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			if err := c.Progress(ctx, "started"); err != nil {
				return nil, err
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	}})
	if err != nil {
		fail(err)
	}
	src, err := identity.LoadStaticSource(filepath.Join(dir, "svid.pem"), filepath.Join(dir, "svid.key"), filepath.Join(dir, "bundle.pem"), nil)
	if err != nil {
		fail(err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		fail(err)
	}
	base := "https://" + ln.Addr().String()
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "durable", Description: "durable", URLs: []string{base}}, engine.Capabilities())
	if err != nil {
		fail(err)
	}
	h, err := a2a.NewHandler(engine, card, a2a.HandlerOptions{})
	if err != nil {
		fail(err)
	}
	srv, err := transport.NewServer(src, spiffeid.MatchID(callerA), h, transport.ServerOptions{})
	if err != nil {
		fail(err)
	}
	fmt.Println("READY " + base)
	fail(srv.Serve(ln))
}

// TestAgentSurvivesSIGKILL: an agent on SQLite accepts tasks, is killed
// with SIGKILL, and a new process on the same database answers GetTask for
// every task it had accepted, and can cancel the ones left running.
func TestAgentSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := identitytest.NewCA(t, agentID.TrustDomain())
	certPEM, keyPEM, err := ca.CreateX509SVID(agentID).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bundlePEM, err := ca.Bundle().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{"svid.pem": certPEM, "svid.key": keyPEM, "bundle.pem": bundlePEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	caller := ca.Source(ca.CreateX509SVID(callerA))

	base, kill := startAgent(t, dir)
	client := newClient(t, caller, base)
	var completed, running []a2acore.TaskID
	for i := range 5 {
		task, err := client.Call(t.Context(), agentID, "echo", map[string]any{"i": i})
		if err != nil || task.Status.State != a2acore.TaskStateCompleted {
			t.Fatalf("echo %d = %v, %v", i, task, err)
		}
		completed = append(completed, task.ID)
	}
	peer, err := client.Peer(t.Context(), agentID)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		req := &a2acore.SendMessageRequest{Message: a2a.CapabilityMessage("wait", nil), Config: &a2acore.SendMessageConfig{ReturnImmediately: true}}
		r, err := peer.SendMessage(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		running = append(running, r.(*a2acore.Task).ID)
	}
	kill()

	base, _ = startAgent(t, dir)
	client = newClient(t, caller, base)
	peer, err = client.Peer(t.Context(), agentID)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range completed {
		task, err := peer.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: id})
		if err != nil || task.Status.State != a2acore.TaskStateCompleted || len(task.Artifacts) != 1 {
			t.Errorf("after SIGKILL and restart, GetTask(%s) = %v, %v; want it completed with its result", id, task, err)
		}
	}
	for _, id := range running {
		task, err := peer.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: id})
		if err != nil || task.Status.State.Terminal() {
			t.Errorf("after restart, GetTask(%s) = %v, %v; want the accepted, unfinished task", id, task, err)
			continue
		}
		canceled, err := peer.CancelTask(t.Context(), &a2acore.CancelTaskRequest{ID: id})
		if err != nil || canceled.Status.State != a2acore.TaskStateCanceled {
			t.Errorf("CancelTask(%s) of a task left by the killed process = %v, %v", id, canceled, err)
		}
	}
	if list, err := peer.ListTasks(t.Context(), &a2acore.ListTasksRequest{}); err != nil || list.TotalSize != len(completed)+len(running) {
		t.Errorf("ListTasks after restart = %v, %v; want %d tasks", list, err, len(completed)+len(running))
	}
}

func newClient(t *testing.T, src identity.Source, base string) *client.Client {
	t.Helper()
	c, err := client.New(src, client.Options{Resolver: client.StaticResolver{agentID: base}, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// startAgent runs TestAgentProcess in a child and waits for READY; kill
// sends SIGKILL and waits for the process to end.
func startAgent(t *testing.T, dir string) (base string, kill func()) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestAgentProcess$")
	cmd.Env = append(os.Environ(), agentEnv+"="+dir)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill = func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	}
	t.Cleanup(kill)
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- u
			}
		}
	}()
	select {
	case base = <-ready:
		return base, kill
	case <-time.After(30 * time.Second):
		t.Fatalf("agent process not ready after 30s; stderr:\n%s", stderr.String())
	case <-t.Context().Done():
		t.Fatal(errors.New("test ended"))
	}
	return "", nil
}
