package faults_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// agentBinary returns the agentproc binary TestMain built.
func agentBinary(t *testing.T) string {
	t.Helper()
	if errAgentproc != nil {
		t.Fatal(errAgentproc)
	}
	return builtBin
}

// agentProc is the agentproc child process.
type agentProc struct {
	bin, config, logPath string
	cmd                  *exec.Cmd
	done                 chan struct{}
}

// start runs the agent and waits for its READY line.
func (p *agentProc) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(p.bin, "-config", p.config) //nolint:noctx // killed by the test
	cmd.Stderr = logf
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting agentproc: %v", err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
				ready <- line
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("agentproc exited before it was ready:\n%s", p.tail())
	case <-time.After(60 * time.Second):
		p.kill(t)
		t.Fatalf("agentproc not ready after 60s:\n%s", p.tail())
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *agentProc) kill(t *testing.T) {
	t.Helper()
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.cmd = nil
}

func (p *agentProc) tail() string {
	data, _ := os.ReadFile(p.logPath)
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

// TestSIGKILLUnderLoad: an agent process with a durable task store is
// killed with SIGKILL under load, and restarted on the same address and
// store. Every task whose SendMessage returned a task is still there.
func TestSIGKILLUnderLoad(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		store func(t *testing.T, dir string) string // the tasks: section
	}{
		{"sqlite", func(t *testing.T, dir string) string {
			return fmt.Sprintf("tasks: {store: sqlite, sqlite_path: %q}\n", filepath.Join(dir, "tasks.db"))
		}},
		{"postgres", func(t *testing.T, _ string) string {
			pg := harness.StartPostgres(t)
			return fmt.Sprintf("tasks: {store: postgres, postgres_dsn: %q}\n", pg.DSN)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testSIGKILL(t, tc.store)
		})
	}
}

func testSIGKILL(t *testing.T, store func(t *testing.T, dir string) string) {
	bin := agentBinary(t)
	tasks := store(t, t.TempDir())
	// Not t.TempDir: the child's paths stay short and readable in logs.
	dir, err := os.MkdirTemp("", "aw-sigkill-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })

	durable := spiffeid.RequireFromString("spiffe://example.org/agent/durable/production")
	port := freePort(t)
	n := agentweavetest.New(t, agentweavetest.Options{
		Config: func(_ string, cfg *agentweave.Config) {
			cfg.Transport.CircuitBreaker.RecoveryTimeout = 200 * time.Millisecond
			cfg.Transport.Retry.MaxAttempts = 1
		},
		AgentOptions: []agentweave.Option{agentweave.WithResolver(client.StaticResolver{durable: fmt.Sprintf("https://127.0.0.1:%d", port)})},
	})
	caller := n.Agent("caller")

	// The child's identity: an SVID of the network's CA, in files
	// (identity.provider static, which is for environment development).
	svid := n.CA().CreateX509SVID(durable)
	certPEM, keyPEM, err := svid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bundlePEM, err := n.CA().Bundle().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	policy := filepath.Join(dir, "policy")
	for path, data := range map[string][]byte{
		filepath.Join(dir, "svid.pem"): certPEM, filepath.Join(dir, "svid.key"): keyPEM,
		filepath.Join(dir, "bundle.pem"): bundlePEM, filepath.Join(policy, "policy.rego"): []byte(agentweavetest.DefaultPolicy),
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// YAML on purpose: the child is another process and reads its
	// configuration from a file with agentweave.LoadConfig, as a deployed
	// agent does, so the loader path (static identity, the store named in
	// the file) is part of what is killed and restarted.
	config := filepath.Join(dir, "durable.yaml")
	yaml := fmt.Sprintf(`agent: {name: durable, trust_domain: example.org, environment: development}
identity:
  provider: static
  static: {cert_file: %q, key_file: %q, bundle_file: %q}
authorization:
  policy_dir: %q
  audit: {destination: %q, sync: none}
server: {host: 127.0.0.1, port: %d, shutdown_timeout: 1s}
observability:
  metrics: {enabled: false}
  logging: {level: warn}
`, filepath.Join(dir, "svid.pem"), filepath.Join(dir, "svid.key"), filepath.Join(dir, "bundle.pem"), policy,
		filepath.Join(dir, "audit.log"), port) + tasks
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &agentProc{bin: bin, config: config, logPath: filepath.Join(dir, "agent.log")}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- agentproc log ---\n%s", p.tail())
		}
		p.kill(t)
	})
	p.start(t)

	target := durable.String()
	call := func(ctx context.Context) (string, error) {
		res, err := caller.Call(ctx, target, "work", map[string]int{"ms": 5})
		if res != nil {
			return res.TaskID, err
		}
		return "", err
	}
	l := startLoad(t, loadOptions{Workers: 8, Rate: 300}, call)
	loadFor := 2 * time.Second
	if soak() {
		loadFor = 30 * time.Second
	}
	time.Sleep(loadFor)
	killed := time.Now()
	p.kill(t)
	t.Logf("SIGKILL after %v of load", loadFor)
	time.Sleep(500 * time.Millisecond) // calls fail against the dead process
	restarting := time.Now()
	p.start(t)
	restarted := time.Now()
	t.Logf("restarted on 127.0.0.1:%d in %v", port, restarted.Sub(restarting).Round(time.Millisecond))
	waitUntil(t, 10*time.Second, 20*time.Millisecond, "a call to succeed after the restart", func() bool {
		for _, s := range l.snapshot() {
			if s.kind == kindOK && s.start.After(restarted) {
				return true
			}
		}
		return false
	})
	time.Sleep(500 * time.Millisecond)
	l.stop()
	all := l.snapshot()
	t.Logf("before the kill: %v", summarize(between(all, time.Time{}, killed)))
	t.Logf("around the kill and restart: %v", summarize(between(all, killed.Add(-100*time.Millisecond), restarted)))
	t.Logf("after the restart: %v", summarize(between(all, restarted, time.Now())))

	// Every task whose SendMessage returned a task, and whether it was
	// returned completed.
	var ids []string
	completed := map[string]bool{}
	for _, s := range all {
		if s.taskID != "" {
			ids = append(ids, s.taskID)
			completed[s.taskID] = s.err == nil
		}
	}
	if len(ids) == 0 {
		t.Fatal("no task was accepted")
	}
	peer, err := caller.Client().Peer(t.Context(), durable)
	if err != nil {
		t.Fatalf("Peer(%v): %v", durable, err)
	}
	var lost, notDone []string
	for _, id := range ids {
		task, err := peer.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: a2acore.TaskID(id)})
		switch {
		case err != nil:
			lost = append(lost, fmt.Sprintf("%s: %v", id, err))
		case completed[id] && task.Status.State != a2acore.TaskStateCompleted:
			notDone = append(notDone, fmt.Sprintf("%s: %s", id, task.Status.State))
		}
	}
	t.Logf("GetTask after the restart: %d accepted tasks recorded, %d found, %d lost, %d not completed", len(ids), len(ids)-len(lost), len(lost), len(notDone))
	if len(lost) > 0 {
		t.Errorf("%d of %d accepted tasks lost after SIGKILL and restart, e.g. %q", len(lost), len(ids), lost[:min(3, len(lost))])
	}
	if len(notDone) > 0 {
		t.Errorf("%d tasks returned as completed are not completed after the restart, e.g. %q", len(notDone), notDone[:min(3, len(notDone))])
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
