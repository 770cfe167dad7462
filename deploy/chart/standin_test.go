package chart_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/deploy/chart"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// TestPodsStandIn runs the agents of two releases as processes with exactly
// the configurations the chart renders for their pods (paths and addresses
// mapped from the pod's filesystem and network to a temp dir and loopback
// ports), their SVIDs from a real SPIRE agent registered under the IDs the
// releases' ClusterSPIFFEIDs yield, the orchestrator's OPA as a sidecar
// process started from its rendered native sidecar. The orchestrator then
// calls the search agent as `kubectl exec deploy/orchestrator -- agentweave
// call --config …` would: with its identity, its outbound policy (decided by
// its OPA sidecar) and its peers. A third release, granted nothing by the
// search agent's policy, is refused.
func TestPodsStandIn(t *testing.T) {
	spire := harness.StartSPIRE(t, harness.SPIREOptions{})
	bin := buildAgentweave(t)
	ctx := t.Context()
	const td = "example.org"

	search := render(t, "search", map[string]any{
		"trustDomain": td,
		"agent":       map[string]any{"description": "stand-in search pod"},
		"authorization": map[string]any{"grants": map[string]any{"inbound": []any{
			map[string]any{"callers": []any{"spiffe://example.org/ns/agents/sa/orchestrator-agentweave"}, "actions": []any{"echo"}},
		}}},
	})
	orchestrator := render(t, "orchestrator", map[string]any{
		"trustDomain": td,
		"authorization": map[string]any{
			"mode": "sidecar",
			"grants": map[string]any{"outbound": []any{
				map[string]any{"callees": []any{"spiffe://example.org/ns/agents/sa/search-agentweave"}, "actions": []any{"echo"}},
			}},
		},
		"config": map[string]any{"peers": []any{
			map[string]any{"spiffe_id": "spiffe://example.org/ns/agents/sa/search-agentweave", "url": "https://search-agentweave.agents.svc:8443"},
		}},
	})
	intruder := render(t, "intruder", map[string]any{
		"trustDomain": td,
		"authorization": map[string]any{"grants": map[string]any{"outbound": []any{
			map[string]any{"callees": []any{"spiffe://example.org/ns/agents/sa/search-agentweave"}, "actions": []any{"*"}},
		}}},
		"config": map[string]any{"peers": []any{
			map[string]any{"spiffe_id": "spiffe://example.org/ns/agents/sa/search-agentweave", "url": "https://search-agentweave.agents.svc:8443"},
		}},
	})

	// Register each pod's SPIFFE ID as the ClusterSPIFFEID would.
	var ids []spiffeid.ID
	for _, p := range []*standIn{search, orchestrator, intruder} {
		id, err := p.rel.ClusterSPIFFEID(td, p.pod)
		if err != nil {
			t.Fatal(err)
		}
		p.id = spiffeid.RequireFromString(id)
		spire.CreateEntry(t, harness.Entry{ID: p.id, TTL: time.Minute})
		ids = append(ids, p.id)
	}
	spire.WaitForSVIDs(t, ids...)

	// The search Service's address, as the other pods' configurations name it.
	search.start(t, bin, spire.WorkloadAddr(), nil)
	services := map[string]string{"search-agentweave.agents.svc:8443": search.a2aAddr}
	orchestrator.start(t, bin, spire.WorkloadAddr(), services)
	intruder.start(t, bin, spire.WorkloadAddr(), services)

	out, stderr, err := orchestrator.exec(ctx, bin, "call", "--config", orchestrator.configFile,
		"--target", search.id.String(), "--capability", "echo", "--data", `{"text":"hello from the orchestrator pod"}`)
	if err != nil {
		t.Fatalf("the orchestrator's call: %v\nstdout: %s\nstderr: %s\nsearch: %s", err, out, stderr, search.logs())
	}
	var res struct {
		State     string
		Artifacts []struct {
			Parts []struct {
				Data json.RawMessage `json:"data"`
			} `json:"parts"`
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("call output %q: %v", out, err)
	}
	if res.State != "TASK_STATE_COMPLETED" || !bytes.Contains(out, []byte("hello from the orchestrator pod")) {
		t.Fatalf("the orchestrator's call = %s, want the search agent's echo", out)
	}
	// Both sides decided and audited: the orchestrator's OPA sidecar allowed
	// the call out (audit on the caller's standard error), the search
	// agent's embedded policy let it in (audit on its standard output).
	if !auditHas(stderr, "outbound", orchestrator.id.String(), search.id.String(), true) {
		t.Errorf("no allowed outbound audit record from the orchestrator:\n%s", stderr)
	}
	poll(t, 10*time.Second, "the search agent's audit record of the call", func() error {
		if auditHas(search.stdout.Bytes(), "inbound", orchestrator.id.String(), search.id.String(), true) {
			return nil
		}
		return errors.New("not yet")
	})

	out, stderr, err = intruder.exec(ctx, bin, "call", "--config", intruder.configFile,
		"--target", search.id.String(), "--capability", "echo", "--data", `{"text":"let me in"}`)
	if err == nil || bytes.Contains(out, []byte("let me in")) {
		t.Fatalf("the intruder's call succeeded: %s", out)
	}
	if !strings.Contains(string(stderr), "denied") && !strings.Contains(string(stderr), "permission") {
		t.Errorf("the intruder's refusal does not say it was denied: %s", stderr)
	}
	poll(t, 10*time.Second, "the search agent's audit record of the refusal", func() error {
		if auditHas(search.stdout.Bytes(), "inbound", intruder.id.String(), search.id.String(), false) {
			return nil
		}
		return errors.New("not yet")
	})

	// A policy change reaches running pods without a restart, as the
	// kubelet delivers a changed ConfigMap: the search agent's embedded
	// engine reloads a grant for the intruder...
	search.updateConfigMap(t, "policy", "grants.rego", func(rego string) string {
		return strings.Replace(rego, `"callers":["spiffe://example.org/ns/agents/sa/orchestrator-agentweave"]`,
			`"callers":["spiffe://example.org/ns/agents/sa/orchestrator-agentweave","`+intruder.id.String()+`"]`, 1)
	})
	poll(t, 30*time.Second, "the search agent's reloaded policy to let the intruder in", func() error {
		out, stderr, err := intruder.exec(ctx, bin, "call", "--config", intruder.configFile,
			"--target", search.id.String(), "--capability", "echo", "--data", `{"text":"granted now"}`)
		if err != nil {
			return fmt.Errorf("%w: %s", err, stderr)
		}
		if !bytes.Contains(out, []byte("granted now")) {
			return fmt.Errorf("no echo in %s", out)
		}
		return nil
	})
	// ... and the orchestrator's OPA sidecar (--watch) reloads a policy that
	// takes its outbound grant away.
	orchestrator.updateConfigMap(t, "policy", "grants.rego", func(rego string) string {
		i := strings.Index(rego, "outbound_grants := ")
		j := strings.Index(rego[i:], "\n")
		return rego[:i] + "outbound_grants := []" + rego[i+j:]
	})
	poll(t, 30*time.Second, "the orchestrator's sidecar to deny the call out", func() error {
		_, stderr, err := orchestrator.exec(ctx, bin, "call", "--config", orchestrator.configFile,
			"--target", search.id.String(), "--capability", "echo", "--data", `{"text":"no longer"}`)
		if err == nil {
			return errors.New("the call still succeeds")
		}
		if !auditHas(stderr, "outbound", orchestrator.id.String(), search.id.String(), false) {
			return fmt.Errorf("failed without an outbound denial: %w: %s", err, stderr)
		}
		return nil
	})
}

// updateConfigMap changes one key of a mounted ConfigMap as the kubelet
// does: the new contents in a new hidden directory, then ..data swapped to
// it in one rename.
func (p *standIn) updateConfigMap(t *testing.T, volume, key string, change func(string) string) {
	t.Helper()
	dir := filepath.Join(p.dir, volume)
	old, err := os.ReadFile(filepath.Join(dir, key))
	if err != nil {
		t.Fatal(err)
	}
	changed := change(string(old))
	if changed == string(old) {
		t.Fatalf("updateConfigMap: %s/%s did not change", volume, key)
	}
	ts := filepath.Join(dir, "..2026_12_07_00_00_00.000000002")
	if err := os.MkdirAll(ts, 0o700); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "..data"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, "..data", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == key {
			data = []byte(changed)
		}
		if err := os.WriteFile(filepath.Join(ts, e.Name()), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
}

// standIn is a pod of a rendered release, run as processes.
type standIn struct {
	rel        *chart.Release
	pod        *corev1.Pod
	id         spiffeid.ID
	dir        string
	configFile string
	a2aAddr    string // 127.0.0.1:PORT of the A2A listener
	env        []string
	stdout     lockedBuffer
	stderr     lockedBuffer
}

// standInNamespace is the namespace of the stand-in pods; the values name
// Services and SPIFFE IDs in it.
const standInNamespace = "agents"

func render(t *testing.T, name string, values map[string]any) *standIn {
	t.Helper()
	rel, err := chart.Render(t.Context(), name, standInNamespace, values)
	if err != nil {
		t.Fatal(err)
	}
	pod, err := rel.PodFor(name + "-0")
	if err != nil {
		t.Fatal(err)
	}
	return &standIn{rel: rel, pod: pod, dir: t.TempDir()}
}

// start maps the pod onto this machine and starts its native sidecars (OPA)
// and the agent container, each waited for as the kubelet would: a native
// sidecar's startup probe before the next container, the agent's readiness
// probe before start returns. services maps the Service addresses in the
// configuration to loopback addresses.
func (p *standIn) start(t *testing.T, bin, workloadAddr string, services map[string]string) {
	t.Helper()
	files := p.mountConfigMaps(t)
	a2aPort, adminPort := freePort(t), freePort(t)
	p.a2aAddr = "127.0.0.1:" + strconv.Itoa(a2aPort)

	// The agent container's configuration, mapped.
	data, err := p.rel.AgentConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	set(cfg, workloadAddr, "identity", "spiffe_endpoint")
	set(cfg, "127.0.0.1", "server", "host")
	set(cfg, a2aPort, "server", "port")
	set(cfg, []any{"https://" + p.a2aAddr}, "server", "public_urls")
	set(cfg, "127.0.0.1", "observability", "metrics", "host")
	set(cfg, adminPort, "observability", "metrics", "port")
	if dir, ok := get(cfg, "authorization", "policy_dir").(string); ok {
		set(cfg, files[dir], "authorization", "policy_dir")
	}
	if peers, ok := cfg["peers"].([]any); ok {
		for _, pe := range peers {
			m := pe.(map[string]any)
			u := m["url"].(string)
			host := strings.TrimPrefix(u, "https://")
			if addr, ok := services[host]; ok {
				m["url"] = "https://" + addr
			}
		}
	}

	// Native sidecars first, in order, each until its startup probe passes.
	for _, c := range p.pod.Spec.InitContainers {
		if c.Name != "opa" {
			t.Fatalf("no stand-in for the native sidecar %s", c.Name)
		}
		opaPort, diagPort := freePort(t), freePort(t)
		args := make([]string, 0, len(c.Args))
		for _, a := range c.Args {
			switch {
			case strings.HasPrefix(a, "--addr="):
				if endpoint, _ := get(cfg, "authorization", "opa_endpoint").(string); endpoint != "http://"+strings.TrimPrefix(a, "--addr=") {
					t.Fatalf("the agent's opa_endpoint %q is not the sidecar's %s", endpoint, a)
				}
				a = "--addr=127.0.0.1:" + strconv.Itoa(opaPort)
				set(cfg, "http://127.0.0.1:"+strconv.Itoa(opaPort), "authorization", "opa_endpoint")
			case strings.HasPrefix(a, "--diagnostic-addr="):
				a = "--diagnostic-addr=127.0.0.1:" + strconv.Itoa(diagPort)
			case strings.HasPrefix(a, "--config-file="):
				a = "--config-file=" + mapPath(t, files, strings.TrimPrefix(a, "--config-file="))
			case strings.HasPrefix(a, "/"):
				a = mapPath(t, files, a)
			}
			args = append(args, a)
		}
		p.run(t, harness.Binary(t, "opa"), args, nil)
		probe := c.StartupProbe.HTTPGet
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d%s", diagPort, probe.Path), "the OPA sidecar's startup probe", p)
	}

	mapped, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.configFile = filepath.Join(p.dir, "agent.yaml")
	if err := os.WriteFile(p.configFile, mapped, 0o600); err != nil {
		t.Fatal(err)
	}
	// The mapped file still loads under production rules with zero problems.
	if _, err := config.Parse(mapped, p.configFile, nil); err != nil {
		t.Fatalf("the mapped configuration: %v", err)
	}

	agent, ok := chart.Container(&p.pod.Spec, "agent")
	if !ok {
		t.Fatal("no agent container")
	}
	p.env = []string{"SPIFFE_ENDPOINT_SOCKET=" + workloadAddr, "GOMEMLIMIT=" + strconv.FormatInt(agent.Resources.Limits.Memory().Value(), 10)}
	args := make([]string, 0, len(agent.Args))
	for _, a := range agent.Args {
		if strings.HasSuffix(a, "/agent.yaml") {
			a = p.configFile
		}
		args = append(args, a)
	}
	p.run(t, bin, args, p.env)
	waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d%s", adminPort, agent.ReadinessProbe.HTTPGet.Path), "the agent's readiness probe", p)
}

// mountConfigMaps writes the ConfigMaps the pod mounts into the temp dir,
// laid out as the kubelet lays out a ConfigMap volume, and returns their
// mount paths mapped to directories.
func (p *standIn) mountConfigMaps(t *testing.T) map[string]string {
	t.Helper()
	byVolume := map[string]string{}
	for _, v := range p.pod.Spec.Volumes {
		if v.ConfigMap == nil {
			continue
		}
		dir := filepath.Join(p.dir, v.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		cm := p.rel.Find("ConfigMap", v.ConfigMap.Name)
		if cm == nil {
			t.Fatalf("the pod mounts ConfigMap %s, which the release does not hold", v.ConfigMap.Name)
		}
		// The kubelet's layout: the keys in a hidden timestamped
		// directory, ..data linking to it, each key linking through ..data.
		ts := filepath.Join(dir, "..2026_12_07_00_00_00.000000001")
		if err := os.MkdirAll(ts, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		data, _ := cm.Object["data"].(map[string]any)
		for k, val := range data {
			if err := os.WriteFile(filepath.Join(ts, k), []byte(val.(string)), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
				t.Fatal(err)
			}
		}
		byVolume[v.Name] = dir
	}
	mounts := map[string]string{}
	for _, list := range [][]corev1.Container{p.pod.Spec.InitContainers, p.pod.Spec.Containers} {
		for _, c := range list {
			for _, m := range c.VolumeMounts {
				if dir, ok := byVolume[m.Name]; ok {
					mounts[m.MountPath] = dir
				}
			}
		}
	}
	return mounts
}

// mapPath maps a path inside the pod to the temp dir through the longest
// mount that holds it.
func mapPath(t *testing.T, mounts map[string]string, path string) string {
	t.Helper()
	best := ""
	for m := range mounts {
		if (path == m || strings.HasPrefix(path, m+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best == "" {
		t.Fatalf("%s is on no mounted volume", path)
	}
	return mounts[best] + strings.TrimPrefix(path, best)
}

func (p *standIn) run(t *testing.T, bin string, args, env []string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &p.stdout, &p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s %s:\n%s", filepath.Base(bin), p.rel.Name, p.logs())
		}
	})
}

// exec runs a command in the pod: the agentweave binary with the pod's
// environment.
func (p *standIn) exec(ctx context.Context, bin string, args ...string) (stdout, stderr []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), p.env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

func (p *standIn) logs() string {
	return "stdout:\n" + p.stdout.String() + "\nstderr:\n" + p.stderr.String()
}

func waitHTTP(t *testing.T, url, what string, p *standIn) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s (GET %s): %v\n%s", what, url, err, p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// auditHas reports whether log holds an audit record of a decision with
// that direction, caller, callee and outcome.
func auditHas(log []byte, direction, caller, callee string, allowed bool) bool {
	for line := range bytes.Lines(log) {
		var r struct {
			Direction string `json:"direction"`
			Caller    string `json:"caller_spiffe_id"`
			Callee    string `json:"callee_spiffe_id"`
			Allowed   *bool  `json:"allowed"`
			Decision  string `json:"decision"`
		}
		if json.Unmarshal(line, &r) != nil || r.Direction != direction || r.Caller != caller || r.Callee != callee {
			continue
		}
		ok := (r.Allowed != nil && *r.Allowed) || r.Decision == "allow" || r.Decision == "allowed"
		if ok == allowed {
			return true
		}
	}
	return false
}

// buildAgentweave builds the CLI the image holds (static, CGO off).
func buildAgentweave(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "agentweave")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, "github.com/agentweave/agentweave-go/cmd/agentweave")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building agentweave: %v\n%s", err, b)
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func get(m map[string]any, path ...string) any {
	var cur any = m
	for _, k := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

func set(m map[string]any, v any, path ...string) {
	for _, k := range path[:len(path)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[path[len(path)-1]] = v
}

// lockedBuffer is a bytes.Buffer safe for a process's writes and the
// test's reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

func (l *lockedBuffer) String() string { return string(l.Bytes()) }

// TestSidecarBundleStandIn runs the orchestrator with its OPA sidecar in
// bundle mode, as the chart renders it: OPA takes a signed policy bundle
// from a bundle service (a loopback HTTP server here), verifies it with the
// public key from the values, and only then passes its startup probe
// (/health?bundles); the orchestrator's call to the search agent is then
// decided by that bundle.
func TestSidecarBundleStandIn(t *testing.T) {
	spire := harness.StartSPIRE(t, harness.SPIREOptions{})
	bin := buildAgentweave(t)
	opaBin := harness.Binary(t, "opa")
	ctx := t.Context()
	const td = "example.org"

	// The policy: the one the chart writes from these grants.
	grants := map[string]any{"outbound": []any{
		map[string]any{"callees": []any{"spiffe://example.org/ns/agents/sa/search-agentweave"}, "actions": []any{"echo"}},
	}}
	policy, err := render(t, "policy", map[string]any{"trustDomain": td, "authorization": map[string]any{"grants": grants}}).
		rel.ConfigMapData("policy-agentweave-policy", "grants.rego")
	if err != nil {
		t.Fatal(err)
	}
	// A signed bundle of it, built by OPA itself.
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "grants.rego"), []byte(policy), 0o600); err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	privDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	priv := filepath.Join(dir, "key.pem")
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: privDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	build := exec.CommandContext(ctx, opaBin, "build", "--bundle", src, "--signing-key", priv, "--signing-alg", "ES256", "--output", filepath.Join(dir, "bundle.tar.gz"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("opa build: %v\n%s", err, out)
	}
	bundles := http.NewServeMux()
	var fetched sync.WaitGroup
	fetched.Add(1)
	var once sync.Once
	bundles.HandleFunc("GET /bundles/agentweave.tar.gz", func(w http.ResponseWriter, r *http.Request) {
		once.Do(fetched.Done)
		http.ServeFile(w, r, filepath.Join(dir, "bundle.tar.gz"))
	})
	srv := httptest.NewServer(bundles)
	t.Cleanup(srv.Close)

	search := render(t, "search", map[string]any{
		"trustDomain": td,
		"authorization": map[string]any{"grants": map[string]any{"inbound": []any{
			map[string]any{"callers": []any{"spiffe://example.org/ns/agents/sa/orchestrator-agentweave"}, "actions": []any{"echo"}},
		}}},
	})
	orchestrator := render(t, "orchestrator", map[string]any{
		"trustDomain": td,
		"authorization": map[string]any{
			"mode": "sidecar",
			"sidecar": map[string]any{"bundle": map[string]any{
				"enabled": true, "url": srv.URL, "resource": "bundles/agentweave.tar.gz",
				"verificationKey": string(pubPEM), "verificationAlgorithm": "ES256",
			}},
		},
		"config": map[string]any{"peers": []any{
			map[string]any{"spiffe_id": "spiffe://example.org/ns/agents/sa/search-agentweave", "url": "https://search-agentweave.agents.svc:8443"},
		}},
	})
	if orchestrator.rel.Find("ConfigMap", "orchestrator-agentweave-policy") != nil {
		t.Error("bundle mode still renders a policy ConfigMap")
	}
	for _, p := range []*standIn{search, orchestrator} {
		id, err := p.rel.ClusterSPIFFEID(td, p.pod)
		if err != nil {
			t.Fatal(err)
		}
		p.id = spiffeid.RequireFromString(id)
		spire.CreateEntry(t, harness.Entry{ID: p.id, TTL: time.Minute})
	}
	spire.WaitForSVIDs(t, search.id, orchestrator.id)
	search.start(t, bin, spire.WorkloadAddr(), nil)
	orchestrator.start(t, bin, spire.WorkloadAddr(), map[string]string{"search-agentweave.agents.svc:8443": search.a2aAddr})
	fetched.Wait() // the startup probe (/health?bundles) passed: the bundle was fetched

	out, stderr, err := orchestrator.exec(ctx, bin, "call", "--config", orchestrator.configFile,
		"--target", search.id.String(), "--capability", "echo", "--data", `{"text":"decided by the bundle"}`)
	if err != nil || !bytes.Contains(out, []byte("decided by the bundle")) {
		t.Fatalf("the orchestrator's call: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	if !auditHas(stderr, "outbound", orchestrator.id.String(), search.id.String(), true) {
		t.Errorf("no allowed outbound audit record:\n%s", stderr)
	}
	// Another capability is not in the bundle's grants: denied by it.
	_, stderr, err = orchestrator.exec(ctx, bin, "call", "--config", orchestrator.configFile,
		"--target", search.id.String(), "--capability", "time")
	if err == nil || !auditHas(stderr, "outbound", orchestrator.id.String(), search.id.String(), false) {
		t.Errorf("a capability the bundle does not grant: err = %v, want an audited outbound denial\n%s", err, stderr)
	}
}
