package quickstart_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/tester"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/authz/opa"
)

// The SPIFFE IDs `agentweave dev up` issues to the quickstart's workloads.
const (
	operatorID     = "spiffe://example.org/agent/operator/dev"
	orchestratorID = "spiffe://example.org/agent/orchestrator/dev"
	searchID       = "spiffe://example.org/agent/search/dev"
)

// TestWalkthrough follows README.md with the real programs: it builds the
// CLI and the two agents, runs `agentweave dev up`, starts the agents
// from copies of their configuration files (on free ports), and runs
// every command of the README against them, through to a clean shutdown
// on SIGTERM and intact audit trails.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the walk-through uses unix sockets and SIGTERM")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	bin := build(ctx, t)
	aw := filepath.Join(bin, "agentweave")

	// Terminal 1: the development trust domain. Socket paths are limited
	// to about 100 bytes: t.TempDir() can be too long.
	sockets, err := os.MkdirTemp("", "aw-qs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(sockets) })
	dev := start(ctx, t, "", nil, aw, "dev", "up", "--dir", sockets, "--workload", "search", "--workload", "orchestrator", "--workload", "operator")
	dev.waitOutput(ctx, t, "serving; press Ctrl-C to stop")
	socket := func(name string) string { return "unix://" + filepath.Join(sockets, name+".sock") }
	for name, id := range map[string]string{"search": searchID, "orchestrator": orchestratorID, "operator": operatorID} {
		if want := id + "  SPIFFE_ENDPOINT_SOCKET=" + socket(name); !strings.Contains(dev.stdout.String(), want) {
			t.Errorf("dev up printed\n%s\nwant a line with %q", dev.stdout.String(), want)
		}
	}

	// work stands for the repository: the README's commands run in it, on
	// a copy of this directory (so that the audit trails are written
	// there), with free ports: the agents' through the environment
	// overrides, search's URL in the orchestrator's peers by rewriting the
	// copy.
	work := t.TempDir()
	qs := filepath.Join(work, "examples", "quickstart")
	copyTree(t, "policies", filepath.Join(qs, "policies"))
	ports := freePorts(t, 4)
	searchPort, searchAdmin, orchPort, orchAdmin := ports[0], ports[1], ports[2], ports[3]
	copyFile(t, "search.yaml", filepath.Join(qs, "search.yaml"), nil)
	copyFile(t, "orchestrator.yaml", filepath.Join(qs, "orchestrator.yaml"), map[string]string{
		"url: https://127.0.0.1:8443": "url: https://127.0.0.1:" + strconv.Itoa(searchPort),
	})
	agentEnv := func(name string, port, admin int) []string {
		return []string{
			"SPIFFE_ENDPOINT_SOCKET=" + socket(name),
			"AGENTWEAVE_SERVER_PORT=" + strconv.Itoa(port),
			"AGENTWEAVE_OBSERVABILITY_METRICS_PORT=" + strconv.Itoa(admin),
		}
	}

	// Terminals 2 and 3: the agents, with their default --config.
	search := start(ctx, t, work, agentEnv("search", searchPort, searchAdmin), filepath.Join(bin, "search"))
	orch := start(ctx, t, work, agentEnv("orchestrator", orchPort, orchAdmin), filepath.Join(bin, "orchestrator"))
	search.waitReady(ctx, t, searchAdmin)
	orch.waitReady(ctx, t, orchAdmin)
	if want := fmt.Sprintf(`"msg":"agent serving","spiffe_id":%q,"url":"https://127.0.0.1:%d"`, searchID, searchPort); !strings.Contains(search.stderr.String(), want) {
		t.Errorf("the search agent's log lacks %s", want)
	}

	// Terminal 4: the operator calls plan.
	orchURL := "https://127.0.0.1:" + strconv.Itoa(orchPort)
	res := run(ctx, t, work, nil, aw, "call", "--socket", socket("operator"), "--url", orchURL,
		"--target", orchestratorID, "--capability", "plan", "--data", `{"goal":"authenticate agents with SPIFFE"}`)
	if res.code != 0 {
		t.Fatalf("agentweave call plan: exit %d, stderr:\n%s", res.code, res.stderr)
	}
	var task a2acore.Task
	if err := json.Unmarshal([]byte(res.stdout), &task); err != nil {
		t.Fatalf("agentweave call printed %q: %v", res.stdout, err)
	}
	var plan struct {
		Goal    string
		Summary string
		Steps   []string
		Sources []struct{ Title, URL string }
	}
	if err := (&agentweave.Result{Artifacts: task.Artifacts}).Decode(&plan); err != nil {
		t.Fatalf("plan result: %v", err)
	}
	var titles []string
	for _, s := range plan.Sources {
		titles = append(titles, s.Title)
	}
	if diff := cmp.Diff([]string{"SPIFFE", "Mutual TLS", "A2A protocol"}, titles); diff != "" {
		t.Errorf("plan sources (-want +got):\n%s", diff)
	}
	if !strings.Contains(plan.Summary, "Start with SPIFFE") || len(plan.Steps) != len(plan.Sources) {
		t.Errorf("plan = %+v, want a summary that starts with SPIFFE and one step per source", plan)
	}

	// The operator calls search directly: the policy refuses, with its reason.
	res = run(ctx, t, work, nil, aw, "call", "--socket", socket("operator"), "--url", "https://127.0.0.1:"+strconv.Itoa(searchPort),
		"--target", searchID, "--capability", "search", "--data", `{"query":"spiffe"}`)
	if want := "denied by the callee's policy: only the orchestrator may call search, not the operator"; res.code != 1 || !strings.Contains(res.stderr, want) {
		t.Errorf("agentweave call search as the operator: exit %d, stderr %q; want exit 1 and %q", res.code, res.stderr, want)
	}

	// A workload that is not in the orchestrator's allowed_callers is
	// refused in the handshake. With TLS 1.3 the server checks the client's
	// certificate after the client has finished its side of the handshake,
	// so what the client reports varies (a bad certificate alert, or a
	// connection that could not be established); the server's log and
	// metric say why, a moment later.
	res = run(ctx, t, work, nil, aw, "call", "--socket", socket("search"), "--url", orchURL,
		"--target", orchestratorID, "--capability", "plan", "--data", `{"goal":"anything"}`)
	// Usually the server's TLS alert, named as a refusal; under TLS 1.3 the
	// alert can also surface as a broken pipe on the card fetch.
	refused := strings.Contains(res.stderr, "call: a2a: "+orchestratorID+" refused this agent") ||
		strings.Contains(res.stderr, "call: a2a: fetch agent card of "+orchestratorID)
	if want := "a refusal by " + orchestratorID; res.code != 1 || !refused {
		t.Errorf("agentweave call plan as the search agent: exit %d, stderr %q; want exit 1 and %q", res.code, res.stderr, want)
	}
	waitFor(ctx, t, "the orchestrator logs the refused handshake", func() bool {
		return strings.Contains(orch.stderr.String(), "spiffe://example.org/agent/search/dev matches none of 1 allowed pattern(s)")
	})
	waitFor(ctx, t, "the orchestrator counts the refused handshake", func() bool {
		return strings.Contains(get(ctx, t, orchAdmin, "/metrics"), `agentweave_tls_handshake_failures_total{reason="unauthorized"} 1`)
	})

	// Health and metrics.
	res = run(ctx, t, work, nil, aw, "health", fmt.Sprintf("http://127.0.0.1:%d/readyz", orchAdmin))
	if res.code != 0 || !strings.Contains(res.stdout, "200 OK") {
		t.Errorf("agentweave health: exit %d, stdout %q, stderr %q; want 0 and 200 OK", res.code, res.stdout, res.stderr)
	}
	if body := get(ctx, t, searchAdmin, "/readyz"); !strings.Contains(body, `"status":"ready"`) {
		t.Errorf("search /readyz = %s, want ready", body)
	}
	metrics := get(ctx, t, searchAdmin, "/metrics")
	for _, want := range []string{
		`agentweave_auth_decisions_total{decision="allowed",direction="inbound"} 1`,
		`agentweave_auth_decisions_total{decision="denied",direction="inbound"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("search /metrics lacks %s", want)
		}
	}

	// validate --probe: the configuration and what it points at; the
	// Workload API comes from SPIFFE_ENDPOINT_SOCKET.
	res = run(ctx, t, work, nil, aw, "validate", "--config", "examples/quickstart/search.yaml", "--probe")
	if want := "identity.spiffe_endpoint: is required (or set SPIFFE_ENDPOINT_SOCKET)"; res.code != 1 || !strings.Contains(res.stdout, want) {
		t.Errorf("agentweave validate without SPIFFE_ENDPOINT_SOCKET: exit %d, stdout %q; want exit 1 and %q", res.code, res.stdout, want)
	}
	res = run(ctx, t, work, []string{"SPIFFE_ENDPOINT_SOCKET=" + socket("search")}, aw, "validate", "--config", "examples/quickstart/search.yaml", "--probe")
	if res.code != 0 || !strings.Contains(res.stdout, "all 4 checks passed") {
		t.Errorf("agentweave validate --probe: exit %d, stdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}

	// The policy's tests, and one decision tried offline.
	res = run(ctx, t, work, nil, aw, "authz", "test", "examples/quickstart/policies")
	if res.code != 0 || !strings.Contains(res.stdout, "PASS: 15/15\n") {
		t.Errorf("agentweave authz test: exit %d, stdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	res = run(ctx, t, work, nil, aw, "authz", "check", "--policy", "examples/quickstart/policies", "--caller", operatorID, "--callee", searchID, "--action", "search")
	if want := `"reason": "only the orchestrator may call search, not the operator"`; res.code != 3 || !strings.Contains(res.stdout, want) {
		t.Errorf("agentweave authz check: exit %d, stdout %q; want exit 3 and %s", res.code, res.stdout, want)
	}

	// Ctrl-C: both agents drain and exit 0; then dev up, which exits 0 too.
	stop := func(ps ...*process) {
		for _, p := range ps {
			p.signal(t, syscall.SIGTERM)
		}
		for _, p := range ps {
			if code := p.wait(ctx, t); code != 0 {
				t.Errorf("%s exited %d after SIGTERM; stderr:\n%s", p.name, code, p.stderr.String())
			}
		}
	}
	stop(orch, search)
	stop(dev)
	if out := dev.stdout.String(); !strings.Contains(out, "stopped after") {
		t.Errorf("dev up printed\n%s\nwant it to say it stopped", out)
	}

	// The audit trails: intact, and holding every decision with its reason.
	for _, tc := range []struct {
		name string
		want []decision
	}{
		{"search", []decision{
			{authz.Inbound, orchestratorID, searchID, "search", audit.Allowed, "the orchestrator may call search"},
			{authz.Inbound, operatorID, searchID, "search", audit.Denied, "only the orchestrator may call search, not the operator"},
		}},
		{"orchestrator", []decision{
			{authz.Inbound, operatorID, orchestratorID, "plan", audit.Allowed, "the operator may call plan"},
			{authz.Outbound, orchestratorID, searchID, "search", audit.Allowed, "the orchestrator may call search"},
		}},
	} {
		path := filepath.Join("examples", "quickstart", tc.name+".audit.log")
		rep, err := audit.VerifyFiles(filepath.Join(work, path))
		if err != nil {
			t.Errorf("audit.VerifyFiles(%s) = %v", path, err)
		}
		if diff := cmp.Diff(tc.want, decisions(t, filepath.Join(work, path))); diff != "" {
			t.Errorf("%s audit trail (-want +got):\n%s", tc.name, diff)
		}
		res = run(ctx, t, work, nil, aw, "audit", "verify", path)
		if want := fmt.Sprintf("OK: %d records, chain intact, last hash %s", rep.Records, rep.LastHash); res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Errorf("agentweave audit verify %s: exit %d, stdout %q; want %q", path, res.code, res.stdout, want)
		}
	}
}

// TestPolicyTests runs the Rego tests of policies/ with OPA's test runner,
// as `agentweave authz test` and `opa test` do.
func TestPolicyTests(t *testing.T) {
	t.Parallel()
	modules, store, err := tester.Load([]string{"policies"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := tester.NewRunner().SetStore(store).SetModules(modules).SetTimeout(5*time.Second).RunTests(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for r := range ch {
		n++
		switch {
		case r.Error != nil:
			t.Errorf("%s.%s: error: %v", r.Package, r.Name, r.Error)
		case r.Fail:
			t.Errorf("%s.%s: FAIL at %v", r.Package, r.Name, r.Location)
		}
	}
	if n == 0 {
		t.Fatal("policies/ holds no Rego tests")
	}
}

// TestPolicyDecisions loads policies/ as the agents do (the embedded
// evaluator, which also queries allow and refuses policies that the Rego
// test runner accepts) and checks the decisions the README shows.
func TestPolicyDecisions(t *testing.T) {
	t.Parallel()
	e, err := opa.NewEmbedded(t.Context(), opa.EmbeddedOptions{Paths: []string{"policies"}, ReloadInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	tests := []struct {
		name                   string
		caller, callee, action string
		operation              string
		direction              authz.Direction
		wantAllow              bool
		wantReason             string
	}{
		{name: "operator plans", caller: operatorID, callee: orchestratorID, action: "plan", wantAllow: true, wantReason: "the operator may call plan"},
		{name: "orchestrator searches", caller: orchestratorID, callee: searchID, action: "search", wantAllow: true, wantReason: "the orchestrator may call search"},
		{name: "orchestrator searches, outbound", caller: orchestratorID, callee: searchID, action: "search", direction: authz.Outbound, wantAllow: true, wantReason: "the orchestrator may call search"},
		{name: "operator searches", caller: operatorID, callee: searchID, action: "search", wantReason: "only the orchestrator may call search, not the operator"},
		{name: "search plans", caller: searchID, callee: orchestratorID, action: "plan", wantReason: "only the operator may call plan, not the search agent"},
		{name: "stranger", caller: "spiffe://example.org/agent/stranger/dev", callee: searchID, action: "search", wantReason: "spiffe://example.org/agent/stranger/dev is not an agent of the quickstart"},
		{name: "task of a known agent", caller: orchestratorID, callee: searchID, operation: "GetTask", wantAllow: true, wantReason: "the orchestrator may use GetTask on its own tasks"},
	}
	for _, tt := range tests {
		in := &authz.Input{
			Direction: cmpOr(tt.direction, authz.Inbound), CallerSPIFFEID: tt.caller, CalleeSPIFFEID: tt.callee,
			CallerTrustDomain: "example.org", CalleeTrustDomain: "example.org",
			Action: tt.action, Operation: cmpOr(tt.operation, "SendMessage"), Time: time.Now().UTC(),
		}
		d, err := e.Authorize(t.Context(), in)
		if err != nil {
			t.Errorf("%s: Authorize() error = %v", tt.name, err)
			continue
		}
		if d.Allow != tt.wantAllow || d.Reason != tt.wantReason {
			t.Errorf("%s: Authorize() = %v %q, want %v %q", tt.name, d.Allow, d.Reason, tt.wantAllow, tt.wantReason)
		}
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// decision is what the test checks of an audit record.
type decision struct {
	Direction      authz.Direction
	Caller, Callee string
	Action         string
	Decision       string
	Reason         string
}

// decisions reads the audit trail at path.
func decisions(t *testing.T, path string) []decision {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []decision
	for line := range strings.Lines(string(data)) {
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, decision{r.Direction, r.CallerSPIFFEID, r.CalleeSPIFFEID, r.Action, r.Decision, r.Reason})
	}
	return out
}

// build compiles the CLI and the two agents into a temporary directory,
// as `go run` would.
func build(ctx context.Context, t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not in PATH")
	}
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", dir+string(filepath.Separator),
		"./cmd/agentweave", "./examples/quickstart/search", "./examples/quickstart/orchestrator")
	cmd.Dir = filepath.Join("..", "..") // the repository's root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// environ is the test's environment without the variables the walk-through
// sets, plus extra.
func environ(extra []string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AGENTWEAVE_") || strings.HasPrefix(kv, "SPIFFE_ENDPOINT_SOCKET=")
	})
	return append(env, extra...)
}

// result is how a command ended.
type result struct {
	stdout, stderr string
	code           int
}

// run runs a command in dir ("": the test's) to its end.
func run(ctx context.Context, t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, environ(env)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// process is a program running in the background, like one of the
// README's terminals.
type process struct {
	name           string
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	exited         chan struct{} // closed when it has exited
	lines          chan string   // its standard output, line by line
}

// start starts a program in dir ("": the test's); it is killed when ctx
// ends or the test does, if it is still running.
func start(ctx context.Context, t *testing.T, dir string, env []string, name string, args ...string) *process {
	t.Helper()
	p := &process{
		name:   filepath.Base(name),
		cmd:    exec.CommandContext(ctx, name, args...),
		stdout: &lockedBuffer{},
		stderr: &lockedBuffer{},
		exited: make(chan struct{}),
		lines:  make(chan string, 100),
	}
	p.cmd.Dir, p.cmd.Env = dir, environ(env)
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var copied sync.WaitGroup
	copied.Go(func() {
		sc := bufio.NewScanner(io.TeeReader(out, p.stdout))
		for sc.Scan() {
			select {
			case p.lines <- sc.Text():
			default: // nobody waits for output any more
			}
		}
		_, _ = io.Copy(io.Discard, out)
	})
	go func() {
		copied.Wait()
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("%s stdout:\n%s\n%s stderr:\n%s", p.name, p.stdout.String(), p.name, p.stderr.String())
		}
	})
	return p
}

// waitOutput waits for a line of standard output.
func (p *process) waitOutput(ctx context.Context, t *testing.T, line string) {
	t.Helper()
	for {
		select {
		case l := <-p.lines:
			if l == line {
				return
			}
		case <-p.exited:
			t.Fatalf("%s exited before printing %q: %s", p.name, line, p.stderr.String())
		case <-ctx.Done():
			t.Fatalf("%s did not print %q: %v", p.name, line, ctx.Err())
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("waiting until %s: %v", what, ctx.Err())
		}
	}
}

// waitReady polls the agent's /readyz until it answers 200.
func (p *process) waitReady(ctx context.Context, t *testing.T, adminPort int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/readyz", adminPort)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-tick.C:
		case <-p.exited:
			t.Fatalf("%s exited before it was ready: %s", p.name, p.stderr.String())
		case <-ctx.Done():
			t.Fatalf("%s not ready at %s: %v", p.name, url, ctx.Err())
		}
	}
}

func (p *process) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Errorf("%s: signal %v: %v", p.name, sig, err)
	}
}

// wait waits for the program to exit and returns its exit code.
func (p *process) wait(ctx context.Context, t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-ctx.Done():
		t.Fatalf("%s did not exit: %v", p.name, ctx.Err())
		return -1
	}
}

// get returns the body of an admin endpoint, failing unless it answers 200.
func get(ctx context.Context, t *testing.T, port int, path string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s, %v", req.URL, resp.Status, err)
	}
	return string(body)
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// copyFile copies a file, replacing each key of replace (which must occur
// exactly once) with its value.
func copyFile(t *testing.T, from, to string, replace map[string]string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	for old, repl := range replace {
		if n := strings.Count(s, old); n != 1 {
			t.Fatalf("%s holds %q %d times, want once", from, old, n)
		}
		s = strings.Replace(s, old, repl, 1)
	}
	if err := os.WriteFile(to, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies the files of a directory (one level).
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			copyFile(t, filepath.Join(from, e.Name()), filepath.Join(to, e.Name()), nil)
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
