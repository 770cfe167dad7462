package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// runWithStderr executes the CLI with args and returns its standard output,
// its standard error and its error.
func runWithStderr(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out bytes.Buffer
	errOut := &syncBuffer{} // slog's default handler writes here too, from any goroutine
	cmd := newRootCmd()     //nolint:contextcheck // commands get ctx through ExecuteContext
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(errOut)
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// writeAgentYAML writes an agent configuration file in dir.
func writeAgentYAML(t *testing.T, dir, content string) string {
	t.Helper()
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// wantLines fails the test for each of want that out lacks.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

const searchID = "spiffe://example.org/agent/search/dev"

// staticIdentity writes PEM files for an X509-SVID of id minted by a test CA
// of example.org, and returns the YAML of a development agent named search
// using them (agent and identity sections).
func staticIdentity(t *testing.T, id string, opts ...identitytest.Option) string {
	t.Helper()
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	return staticIdentityFrom(t, ca.CreateX509SVID(spiffeid.RequireFromString(id), opts...), ca)
}

func staticIdentityFrom(t *testing.T, svid *x509svid.SVID, bundleOf *identitytest.CA) string {
	t.Helper()
	dir := t.TempDir()
	certPEM, keyPEM, err := svid.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bundlePEM, err := bundleOf.Bundle().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"svid.pem": certPEM, "svid.key": keyPEM, "bundle.pem": bundlePEM}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf(`agent: {name: search, trust_domain: example.org, environment: development}
identity:
  provider: static
  spiffe_id: %s
  static: {cert_file: %q, key_file: %q, bundle_file: %q}
`, searchID, filepath.Join(dir, "svid.pem"), filepath.Join(dir, "svid.key"), filepath.Join(dir, "bundle.pem"))
}

func TestValidateValid(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeAgentYAML(t, dir, `agent:
  name: search
  trust_domain: example.org
  capabilities:
    - {name: search, description: Full-text search}
identity:
  spiffe_endpoint: unix:///run/spire/sockets/agent.sock
authorization:
  policy_dir: policies
  audit: {destination: audit/decisions.log}
tasks:
  store: sqlite
  sqlite_path: /var/lib/agentweave/tasks.db
`)
	out, err := run(t.Context(), "validate", "--config", path)
	if err != nil {
		t.Fatalf("validate: %v\n%s", err, out)
	}
	wantLines(t, out,
		"search 0.0.0, environment production, 1 capability",
		"spiffe://example.org/agent/search/production, from the Workload API at unix:///run/spire/sockets/agent.sock",
		// Relative paths are relative to the file's directory.
		"embedded OPA, policies in "+filepath.Join(dir, "policies")+", document data.agentweave.authz; default action deny, decision timeout 1s",
		"audit          file "+filepath.Join(dir, "audit", "decisions.log")+", sync every",
		"sqlite at /var/lib/agentweave/tasks.db",
		"0.0.0.0:8443 (A2A over mutual TLS), public URL https://127.0.0.1:8443",
		"http://127.0.0.1:9090 (/metrics, /healthz, /readyz)",
		path+": configuration is valid\n",
	)
	if strings.Contains(out, "ok   ") {
		t.Errorf("validate without --probe probed:\n%s", out)
	}
}

// TestValidateEveryProblem: a typo'd key, an invalid SPIFFE ID, allow-all
// and log-only in production are all reported, each with its line.
func TestValidateEveryProblem(t *testing.T) {
	t.Parallel()
	path := writeAgentYAML(t, t.TempDir(), `agent:
  name: search
  trust_domain: example.org
  trust_domian: example.org
identity:
  spiffe_endpoint: unix:///run/spire/sockets/agent.sock
  spiffe_id: "spiffe://example.org/Bad ID"
authorization:
  provider: allow-all
  default_action: log-only
tasks:
  store: sqlite
`)
	out, err := run(t.Context(), "validate", "--config", path)
	if code := exitCode(err); code != 1 {
		t.Fatalf("exit code = %d (%v), want 1\n%s", code, err, out)
	}
	wantLines(t, out,
		path+":4: field trust_domian not found in type config.Agent\n",
		path+`:7: identity.spiffe_id: "spiffe://example.org/Bad ID": `,
		path+":9: authorization.provider: allow-all is refused outside environment development (here production)\n",
		path+":10: authorization.default_action: log-only is refused in production: use deny\n",
		// A required key that is missing: the line of its section.
		path+":11: tasks.sqlite_path: is required with store sqlite\n",
		"5 problems in "+path+"\n",
	)
	if strings.Contains(out, "configuration is valid") {
		t.Errorf("an invalid configuration was called valid:\n%s", out)
	}
	if !strings.Contains(err.Error(), "5 problems") {
		t.Errorf("error = %v, want the count", err)
	}
}

func TestValidateUnreadable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	if _, err := run(t.Context(), "validate", "--config", missing); exitCode(err) != 1 || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: error = %v, want exit 1 naming the file", err)
	}
	broken := writeAgentYAML(t, dir, "agent:\n  name: search\nfoo: : :\n")
	out, err := run(t.Context(), "validate", "--config", broken)
	if exitCode(err) != 1 || !strings.Contains(out, broken+":3: mapping values are not allowed") || !strings.Contains(out, "1 problem in ") {
		t.Errorf("YAML syntax error: error = %v, output:\n%s\nwant exit 1 and the problem with its line", err, out)
	}
	if _, err := run(t.Context(), "validate"); err == nil || !strings.Contains(err.Error(), `"config" not set`) {
		t.Errorf("without --config: error = %v", err)
	}
	if _, err := run(t.Context(), "validate", "--config", broken, "--timeout", "0s"); err == nil || !strings.Contains(err.Error(), "--timeout") {
		t.Errorf("--timeout 0s: error = %v", err)
	}
}

func TestProblemLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		problem config.Problem
		want    string
	}{
		{"key with line", config.Problem{Key: "agent.name", Line: 2, Message: `"x" is bad`}, `f.yaml:2: agent.name: "x" is bad`},
		{"YAML error", config.Problem{Line: 3, Message: "field x not found"}, "f.yaml:3: field x not found"},
		{"from the environment", config.Problem{Key: "server.port", Message: "bad"}, "f.yaml: server.port: bad"},
		{"neither", config.Problem{Message: "the file is empty"}, "f.yaml: the file is empty"},
	}
	for _, tt := range tests {
		if got := problemLine("f.yaml", tt.problem); got != tt.want {
			t.Errorf("%s: problemLine(%+v) = %q, want %q", tt.name, tt.problem, got, tt.want)
		}
	}
}

// runProbe runs validate --probe on the configuration and returns its outputs
// and exit code.
func runProbe(t *testing.T, content string, extra ...string) (stdout, stderr string, code int) {
	t.Helper()
	path := writeAgentYAML(t, t.TempDir(), content)
	stdout, stderr, err := runWithStderr(t.Context(), append([]string{"validate", "--config", path, "--probe"}, extra...)...)
	return stdout, stderr, exitCode(err)
}

// TestValidateProbeWorkloadAPI probes a real Workload API served by the
// embedded development CA.
func TestValidateProbeWorkloadAPI(t *testing.T) {
	t.Parallel()
	ca, err := devca.New(devca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dir := shortDir(t)
	srv, err := ca.Serve(t.Context(), "search", filepath.Join(dir, "search.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	config := func(endpoint, id string) string {
		return fmt.Sprintf(`agent: {name: search, trust_domain: example.org, environment: development}
identity: {spiffe_endpoint: %q, spiffe_id: %q}
authorization: {provider: allow-all}
`, endpoint, id)
	}

	t.Run("served", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := runProbe(t, config(srv.Addr(), searchID))
		if code != 0 {
			t.Fatalf("exit code = %d, want 0\n%s", code, out)
		}
		wantLines(t, out,
			"ok   identity: "+searchID+", expires ",
			"from the Workload API at "+srv.Addr()+"\n",
			"ok   authorization: allow-all (development only)\n",
			"ok   store: memory",
			"ok   audit: stdout\n",
			"all 4 checks passed\n",
		)
		wantLines(t, errOut, "identity: waiting up to 10s for the X509-SVID "+searchID+" from the Workload API at "+srv.Addr())
	})
	t.Run("nothing listens", func(t *testing.T) {
		t.Parallel()
		none := "unix://" + filepath.Join(dir, "none.sock")
		out, _, code := runProbe(t, config(none, searchID), "--timeout", "300ms")
		if code != 1 {
			t.Fatalf("exit code = %d, want 1\n%s", code, out)
		}
		wantLines(t, out, "FAIL identity: ", none, "1 of 4 checks failed\n")
	})
	t.Run("another SVID", func(t *testing.T) {
		t.Parallel()
		other := "spiffe://example.org/agent/other/dev"
		out, _, code := runProbe(t, config(srv.Addr(), other), "--timeout", "500ms")
		if code != 1 {
			t.Fatalf("exit code = %d, want 1\n%s", code, out)
		}
		wantLines(t, out, "FAIL identity: ", "none of them "+other)
	})
}

func TestValidateProbeStaticIdentity(t *testing.T) {
	t.Parallel()
	other := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	tests := []struct {
		name   string
		config func(t *testing.T) string
		want   string
	}{
		{"valid", func(t *testing.T) string { return staticIdentity(t, searchID) }, "ok   identity: " + searchID + ", expires "},
		{"expired", func(t *testing.T) string { return staticIdentity(t, searchID, identitytest.Expired()) }, "FAIL identity: static SVID " + searchID},
		{"not yet valid", func(t *testing.T) string { return staticIdentity(t, searchID, identitytest.NotYetValid()) }, "is not valid before"},
		{"another ID", func(t *testing.T) string {
			return staticIdentity(t, "spiffe://example.org/agent/other/dev")
		}, "the SVID is spiffe://example.org/agent/other/dev, identity.spiffe_id wants " + searchID},
		{"another CA's bundle", func(t *testing.T) string {
			ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
			return staticIdentityFrom(t, ca.CreateX509SVID(spiffeid.RequireFromString(searchID)), other)
		}, "does not verify against the trust bundle of example.org"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, code := runProbe(t, tt.config(t)+"authorization: {provider: allow-all}\n")
			if wantCode := exitCodeFor(tt.want); code != wantCode {
				t.Fatalf("exit code = %d, want %d\n%s", code, wantCode, out)
			}
			wantLines(t, out, tt.want)
		})
	}
}

// exitCodeFor is the exit code of a probe whose output has want.
func exitCodeFor(want string) int {
	if strings.HasPrefix(want, "ok ") {
		return 0
	}
	return 1
}

func TestValidateProbePolicyDir(t *testing.T) {
	t.Parallel()
	rbac, err := filepath.Abs(rbacPolicy)
	if err != nil {
		t.Fatal(err)
	}
	broken := t.TempDir()
	if err := os.WriteFile(filepath.Join(broken, "authz.rego"), []byte("package agentweave.authz\n\nallow if {\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongPackage := t.TempDir()
	if err := os.WriteFile(filepath.Join(wrongPackage, "authz.rego"), []byte("package other\n\nallow := true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := t.TempDir()
	if err := os.WriteFile(filepath.Join(clock, "authz.rego"), []byte("package agentweave.authz\n\nallow if time.now_ns() < 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dir   string
		extra string // more of the authorization section
		want  []string
	}{
		{"rbac", rbac, "", []string{"ok   authorization: policies in " + rbac + " loaded, revision sha256:", "document data.agentweave.authz (trial call denied: denied by data.agentweave.authz.allow; decisions cached)", "all 4 checks passed"}},
		{"rbac, cache off", rbac, ", cache_size: 0", []string{"ok   authorization: policies in " + rbac + " loaded", "; decision cache off)"}},
		{"reads the clock", clock, "", []string{"ok   authorization: policies in " + clock + " loaded", "; decisions not cached: the policy calls time.now_ns"}},
		{"syntax error", broken, "", []string{"FAIL authorization: policies in " + broken + ": ", "rego_parse_error", "1 of 4 checks failed"}},
		{"wrong package", wrongPackage, "", []string{"FAIL authorization: ", "the policy defines neither data.agentweave.authz.allow nor data.agentweave.authz.decision"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, code := runProbe(t, staticIdentity(t, searchID)+fmt.Sprintf("authorization: {policy_dir: %q%s}\n", tt.dir, tt.extra))
			if wantCode := exitCodeFor(tt.want[0]); code != wantCode {
				t.Fatalf("exit code = %d, want %d\n%s", code, wantCode, out)
			}
			wantLines(t, out, tt.want...)
		})
	}
}

// TestValidateProbeOPAServer probes a real OPA server.
func TestValidateProbeOPAServer(t *testing.T) {
	t.Parallel()
	notBool := t.TempDir()
	if err := os.WriteFile(filepath.Join(notBool, "p.rego"), []byte("package agentweave.notbool\n\nallow := \"yes\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := harness.StartOPA(t, rbacPolicy, notBool)
	identityYAML := staticIdentity(t, searchID)
	config := func(policyPath string) string {
		return identityYAML + fmt.Sprintf("authorization: {opa_endpoint: %q, policy_path: %q}\n", o.URL, policyPath)
	}

	// The built command, as users run it.
	probe := func(policyPath string, extra ...string) cliResult {
		t.Helper()
		path := writeAgentYAML(t, t.TempDir(), config(policyPath))
		return runCLI(t, nil, append([]string{"validate", "--config", path, "--probe"}, extra...)...)
	}
	res := probe("agentweave/authz")
	if res.code != 0 {
		t.Fatalf("policy loaded:\n%s", res)
	}
	wantLines(t, res.stdout, "ok   authorization: OPA server at "+o.URL+" decides with data.agentweave.authz (trial call denied: denied by data.agentweave.authz.allow)", "all 4 checks passed")
	wantLines(t, res.stderr, "authorization: asking the OPA server at "+o.URL+" for a trial decision")

	res = probe("agentweave/missing")
	if res.code != 1 {
		t.Fatalf("policy missing:\n%s", res)
	}
	wantLines(t, res.stdout, "FAIL authorization: OPA server at "+o.URL+": no decision: data.agentweave.missing is undefined, so every call would be denied: load a policy with package agentweave.missing there")

	// A document that breaks the result contract decides nothing either,
	// as the agent's own OPA client reads it.
	res = probe("agentweave/notbool")
	if res.code != 1 {
		t.Fatalf("allow is a string:\n%s", res)
	}
	wantLines(t, res.stdout, "FAIL authorization: OPA server at "+o.URL+": no decision: data.agentweave.notbool.allow is a string, want a boolean, so every call would be denied")

	o.Stop(t)
	res = probe("agentweave/authz", "--timeout", "2s")
	if res.code != 1 {
		t.Fatalf("OPA down:\n%s", res)
	}
	wantLines(t, res.stdout, "FAIL authorization: OPA server at "+o.URL+": ", "OPA unreachable", "connection refused")
}

func TestValidateProbeStoreAndAudit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	existing := filepath.Join(dir, "existing.db")
	if err := os.WriteFile(existing, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	missingDir := filepath.Join(dir, "missing")
	sqlite := func(path string) string { return fmt.Sprintf("tasks: {store: sqlite, sqlite_path: %q}\n", path) }
	audit := func(path string) string { return fmt.Sprintf("  audit: {destination: %q}\n", path) } // under authorization
	tests := []struct {
		name  string
		extra string
		want  string
	}{
		{"sqlite new", sqlite(filepath.Join(dir, "new.db")), "ok   store: sqlite: directory " + dir + " is writable; " + filepath.Join(dir, "new.db") + " will be created"},
		{"sqlite existing", sqlite(existing), "ok   store: sqlite: " + existing + " exists (0 bytes) and is writable"},
		{"sqlite no directory", sqlite(filepath.Join(missingDir, "tasks.db")), "FAIL store: sqlite: directory " + missingDir + " does not exist"},
		{"sqlite path is a directory", sqlite(dir), "FAIL store: sqlite: " + dir + " is not a regular file"},
		{"postgres nothing listens", "tasks: {store: postgres, postgres_dsn: \"postgres://aw@127.0.0.1:1/aw?sslmode=disable\"}\n", "FAIL store: postgres at 127.0.0.1:1/aw as aw: "},
		{"audit file", audit(filepath.Join(dir, "audit.log")), "ok   audit: file " + filepath.Join(dir, "audit.log") + " will be created"},
		{"audit existing file", audit(existing), "ok   audit: file " + existing + " is writable (0 bytes so far"},
		{"audit no directory", audit(filepath.Join(missingDir, "audit.log")), "FAIL audit: file " + filepath.Join(missingDir, "audit.log") + ": directory " + missingDir + " does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, _, code := runProbe(t, staticIdentity(t, searchID)+"authorization:\n  provider: allow-all\n"+tt.extra)
			if wantCode := exitCodeFor(tt.want); code != wantCode {
				t.Fatalf("exit code = %d, want %d\n%s", code, wantCode, out)
			}
			wantLines(t, out, tt.want)
		})
	}
}

// TestValidateProbePostgres probes a real PostgreSQL server.
func TestValidateProbePostgres(t *testing.T) {
	t.Parallel()
	pg := harness.StartPostgres(t)
	out, errOut, code := runProbe(t, staticIdentity(t, searchID)+fmt.Sprintf("authorization: {provider: allow-all}\ntasks: {store: postgres, postgres_dsn: %q}\n", pg.DSN))
	if code != 0 {
		t.Fatalf("exit code = %d, want 0\n%s", code, out)
	}
	wantLines(t, out, "ok   store: postgres at 127.0.0.1:", "/aw as aw answers (server version ")
	wantLines(t, errOut, "store: connecting to PostgreSQL at 127.0.0.1:")
}

func TestValidateAndHealthHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"validate", "--help"}, {"health", "--help"}} {
		out, err := run(t.Context(), args...)
		if err != nil || !strings.Contains(out, "Examples:") {
			t.Errorf("%v: help lacks examples (err %v):\n%s", args, err, out)
		}
	}
}
