package interop_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/a2atest"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// jsDir holds package.json and the Node scripts, relative to this package.
const jsDir = "js"

// slowFor is how long the "slow" capability works unless canceled.
const slowFor = 2 * time.Second

var (
	td         = spiffeid.RequireTrustDomainFromString("example.org")
	agentID    = spiffeid.RequireFromString("spiffe://example.org/agent/search/dev")
	goClientID = spiffeid.RequireFromString("spiffe://example.org/agent/goclient/dev")
	jsClientID = spiffeid.RequireFromString("spiffe://example.org/agent/jsclient/dev")
	jsServerID = spiffeid.RequireFromString("spiffe://example.org/agent/jsserver/dev")
	everyone   = identity.MustParsePattern("spiffe://example.org/agent/**")
)

// requireNode returns the path of node, or skips the test (fails it when
// harness.Required) if node or the JS SDK is not installed.
func requireNode(t *testing.T) string {
	t.Helper()
	const fix = "run `npm ci --prefix interop/js` from the module root (needs Node >= 20.18.1)"
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "interop: node is not on PATH: %v; install Node, then %s", err, fix)
	}
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "@a2a-js", "sdk", "package.json")); err != nil {
		missing(t, "interop: the A2A JS SDK is not installed (%v); %s", err, fix)
	}
	return node
}

func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if harness.Required() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// svidFiles are the PEM files a Node process reads its identity from.
type svidFiles struct{ cert, key, bundle string }

// writeSVID mints an SVID for id and writes it with ca's bundle as PEM.
func writeSVID(t *testing.T, ca *identitytest.CA, id spiffeid.ID) svidFiles {
	t.Helper()
	certPEM, keyPEM, err := ca.CreateX509SVID(id).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bundlePEM, err := ca.Bundle().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := svidFiles{cert: filepath.Join(dir, "svid.pem"), key: filepath.Join(dir, "key.pem"), bundle: filepath.Join(dir, "bundle.pem")}
	for path, data := range map[string][]byte{f.cert: certPEM, f.key: keyPEM, f.bundle: bundlePEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// startAgent serves an AgentWeave agent over mTLS and returns its base URL.
func startAgent(t *testing.T, ca *identitytest.CA) string {
	t.Helper()
	return a2atest.Serve(t, ca.Source(ca.CreateX509SVID(agentID)), a2atest.Options{
		Name: "search", Description: "finds things",
		Engine:  a2a.EngineOptions{Capabilities: capabilities()},
		Callers: identity.MatchPatterns(everyone),
	}).URL
}

func capabilities() []a2a.Capability {
	return []a2a.Capability{
		{Name: "echo", Description: "returns its input and its caller", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			data, _ := c.Data()
			return nil, c.Result(ctx, map[string]any{"echo": data, "caller": c.Caller.String()})
		}},
		{Name: "slow", Description: "works a while, unless canceled", Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			if err := c.Progress(ctx, "started"); err != nil {
				return nil, err
			}
			select {
			case <-time.After(slowFor):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return nil, c.Artifact(ctx, "out", a2acore.NewTextPart("done"))
		}},
	}
}

// output collects a child process's stdout or stderr while it runs.
type output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// startJSServer runs server.mjs with the given identity, waits until it
// prints READY <port> and returns its base URL. Cleanup stops it.
func startJSServer(t *testing.T, node string, f svidFiles) string {
	t.Helper()
	// t.Context() ends after the subtests, just before the cleanups: then
	// cmd.Cancel sends SIGINT, and server.mjs closes and exits.
	cmd := exec.CommandContext(t.Context(), node, "server.mjs", "--cert", f.cert, "--key", f.key, "--bundle", f.bundle)
	cmd.Dir = jsDir
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second // then SIGKILL
	var stdout, stderr output
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting server.mjs: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		err := <-exited
		if t.Failed() {
			t.Logf("server.mjs (exit: %v) stdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
	})

	deadline := time.After(30 * time.Second)
	for {
		for line := range strings.Lines(stdout.String()) {
			if p, ok := strings.CutPrefix(strings.TrimSpace(line), "READY "); ok {
				if port, err := strconv.Atoi(p); err == nil {
					return "https://127.0.0.1:" + strconv.Itoa(port)
				}
			}
		}
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("server.mjs exited before READY: %v\nstderr:\n%s", err, stderr.String())
		case <-deadline:
			t.Fatalf("server.mjs printed no READY <port> within 30s\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
