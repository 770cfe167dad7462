package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	rbacPolicy  = "../../examples/policies/rbac"
	denyDefault = "../../examples/policies/deny_default"
)

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return 1
}

func TestAuthzCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		args     []string
		code     int
		allow    bool
		reason   string
		checkOut func(t *testing.T, in map[string]any)
	}{
		{
			name: "allowed", code: 0, allow: true, reason: "allowed by data.agentweave.authz.allow",
			args: []string{"--policy", rbacPolicy, "--caller", "spiffe://example.org/agent/orchestrator/prod", "--callee", "spiffe://example.org/agent/search/prod", "--action", "search"},
			checkOut: func(t *testing.T, in map[string]any) {
				t.Helper()
				if in["caller_trust_domain"] != "example.org" || in["operation"] != "SendMessage" || in["direction"] != "inbound" {
					t.Errorf("input = %v", in)
				}
			},
		},
		{
			name: "denied", code: 3, reason: "denied by data.agentweave.authz.allow",
			args: []string{"--policy", rbacPolicy, "--caller", "spiffe://example.org/agent/orchestrator/prod", "--callee", "spiffe://example.org/agent/search/prod", "--action", "delete_index"},
		},
		{
			name: "decision with reason", code: 3, reason: `capability "shutdown" is blocked`,
			args: []string{"--policy", denyDefault, "--caller", "spiffe://example.org/agent/orchestrator/prod", "--callee", "spiffe://example.org/agent/search/prod", "--action", "shutdown"},
		},
		{
			name: "task operation with context", code: 0, allow: true, reason: "allowed by",
			args: []string{
				"--policy", rbacPolicy, "--caller", "spiffe://example.org/admin/alice", "--callee", "spiffe://example.org/agent/search/prod",
				"--operation", "GetTask", "--context", `{"tenant":"acme"}`, "--direction", "outbound", "--time", "2026-01-02T03:04:05Z",
			},
			checkOut: func(t *testing.T, in map[string]any) {
				t.Helper()
				if c, _ := in["context"].(map[string]any); c["tenant"] != "acme" || in["time"] != "2026-01-02T03:04:05Z" || in["direction"] != "outbound" {
					t.Errorf("input = %v", in)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := run(t.Context(), append([]string{"authz", "check"}, tt.args...)...)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("exit code = %d (%v), want %d\n%s", got, err, tt.code, out)
			}
			var got struct {
				Allow          bool           `json:"allow"`
				Reason         string         `json:"reason"`
				PolicyRevision string         `json:"policy_revision"`
				Input          map[string]any `json:"input"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output is not JSON: %v\n%s", err, out)
			}
			if got.Allow != tt.allow || !strings.HasPrefix(got.Reason, tt.reason) || !strings.HasPrefix(got.PolicyRevision, "sha256:") {
				t.Errorf("decision = %+v, want allow %v, reason %q…", got, tt.allow, tt.reason)
			}
			if tt.checkOut != nil {
				tt.checkOut(t, got.Input)
			}
		})
	}
}

func TestAuthzCheckRefuses(t *testing.T) {
	t.Parallel()
	ids := []string{"--caller", "spiffe://example.org/a", "--callee", "spiffe://example.org/b"}
	for name, args := range map[string][]string{
		"bad caller":    {"--policy", rbacPolicy, "--caller", "not-an-id", "--callee", "spiffe://example.org/b"},
		"bad direction": append([]string{"--policy", rbacPolicy, "--direction", "sideways"}, ids...),
		"bad context":   append([]string{"--policy", rbacPolicy, "--context", "[1]"}, ids...),
		"null context":  append([]string{"--policy", rbacPolicy, "--context", "null"}, ids...),
		"bad time":      append([]string{"--policy", rbacPolicy, "--time", "yesterday"}, ids...),
		"no policy":     ids,
		"missing":       append([]string{"--policy", filepath.Join(t.TempDir(), "nope.rego")}, ids...),
	} {
		out, err := run(t.Context(), append([]string{"authz", "check"}, args...)...)
		if exitCode(err) != 1 {
			t.Errorf("%s: exit code = %d (%v), want 1\n%s", name, exitCode(err), err, out)
		}
	}
}

func TestAuthzTest(t *testing.T) {
	t.Parallel()
	out, err := run(t.Context(), "authz", "test", rbacPolicy)
	if err != nil {
		t.Fatalf("authz test %s: %v\n%s", rbacPolicy, err, out)
	}
	m := regexp.MustCompile(`PASS: (\d+)/(\d+)\n`).FindStringSubmatch(out)
	if !strings.Contains(out, "PASS    data.agentweave.authz_test.test_orchestrator_may_search") || m == nil || m[1] != m[2] ||
		!strings.Contains(out, "an agent loads it: decisions from data.agentweave.authz") {
		t.Errorf("output lacks the per-test lines, an all-pass summary or the load check:\n%s", out)
	}

	dir := t.TempDir()
	for name, src := range map[string]string{
		"p.rego":      "package agentweave.authz\n\nallow if input.action == \"search\"\n",
		"p_test.rego": "package agentweave.authz_test\n\nimport data.agentweave.authz\n\ntest_ok if authz.allow with input as {\"action\": \"search\"}\n\ntest_wrong if authz.allow with input as {\"action\": \"delete\"}\n\ntodo_test_later if false\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err = run(t.Context(), "authz", "test", dir)
	if exitCode(err) != 2 {
		t.Fatalf("failing tests: exit code = %d (%v), want 2\n%s", exitCode(err), err, out)
	}
	for _, want := range []string{"PASS    data.agentweave.authz_test.test_ok", "FAIL    data.agentweave.authz_test.test_wrong", "p_test.rego:7", "SKIPPED", "PASS: 1/3, FAIL: 1/3, SKIPPED: 1/3"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// Tests that pass on a policy an agent cannot load still fail.
	helper := t.TempDir()
	for name, src := range map[string]string{
		"p.rego": "package agentweave.authz\n\ndefault decision := {\"allow\": false, \"reason\": \"no\"}\n\n" +
			"decision := {\"allow\": true, \"reason\": \"ok\"} if allow(input.action)\n\nallow(a) if a == \"search\"\n",
		"p_test.rego": "package agentweave.authz_test\n\nimport data.agentweave.authz\n\ntest_ok if authz.decision.allow with input as {\"action\": \"search\"}\n",
	} {
		if err := os.WriteFile(filepath.Join(helper, name), []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err = run(t.Context(), "authz", "test", helper)
	if err == nil || !strings.Contains(err.Error(), "an agent would refuse this policy") || !strings.Contains(out, "PASS: 1/1") {
		t.Errorf("passing tests on an unloadable policy: %v\n%s; want the load check to fail", err, out)
	}
	if out, err := run(t.Context(), "authz", "test", "--policy-path", "", helper); err != nil {
		t.Errorf("--policy-path \"\" still checked the load: %v\n%s", err, out)
	}

	empty := t.TempDir()
	if err := os.WriteFile(filepath.Join(empty, "p.rego"), []byte("package x\n\ny := 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t.Context(), "authz", "test", empty); exitCode(err) != 1 || !strings.Contains(err.Error(), "no tests") {
		t.Errorf("no tests: err = %v, want exit 1 and no tests found", err)
	}
	if _, err := run(t.Context(), "authz", "test", filepath.Join(empty, "missing")); exitCode(err) != 1 {
		t.Errorf("missing dir: err = %v, want exit 1", err)
	}
}

// TestAuthzTestPolicyFolders runs the built agentweave on examples/policies,
// a folder of alternative policies that cannot load together: each policy
// folder is tested on its own.
func TestAuthzTestPolicyFolders(t *testing.T) {
	t.Parallel()
	res := runCLI(t, nil, "authz", "test", "examples/policies")
	if res.code != 0 {
		t.Fatalf("authz test examples/policies:\n%s", res)
	}
	entries, err := os.ReadDir(filepath.Join(repoRoot, "examples", "policies"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		dir := "examples/policies/" + e.Name()
		if !strings.Contains(res.stdout, "== "+dir+"\n") || !strings.Contains(res.stdout, "ok      "+dir+"\n") {
			t.Errorf("output lacks the heading and the verdict of %s:\n%s", dir, res.stdout)
		}
	}
	if n < 2 || !strings.Contains(res.stdout, fmt.Sprintf("all %d policies pass\n", n)) ||
		strings.Count(res.stdout, "an agent loads it: decisions from data.agentweave.authz") != n {
		t.Errorf("want %d policies tested and loaded one by one:\n%s", n, res.stdout)
	}

	// authz check cannot use the whole folder either, and says which to pass.
	check := runCLI(t, nil, "authz", "check", "--policy", "examples/policies",
		"--caller", "spiffe://example.org/agent/orchestrator/prod", "--callee", "spiffe://example.org/agent/search/prod", "--action", "search")
	if check.code != 1 || !strings.Contains(check.stderr, "examples/policies holds 3 alternative policies (cross_domain, deny_default, rbac), each defining package agentweave.authz: pass one of them, e.g. --policy examples/policies/cross_domain") {
		t.Errorf("authz check --policy examples/policies:\n%s", check)
	}
}

// writePolicyFiles writes files (path relative to dir → content).
func writePolicyFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuthzTestPolicyFoldersFail(t *testing.T) {
	t.Parallel()
	const (
		policy   = "# METADATA\n# title: %s\npackage agentweave.authz\n\nallow if input.action == %q\n"
		passing  = "package agentweave.authz_test\n\nimport data.agentweave.authz\n\ntest_ok if authz.allow with input as {\"action\": \"search\"}\n"
		notAgent = "package agentweave.authz\n\nreasons := {\"x\"}\n"
		libTest  = "package agentweave.authz_test\n\nimport data.agentweave.authz\n\ntest_reasons if authz.reasons == {\"x\"}\n"
	)
	dir := t.TempDir()
	writePolicyFiles(t, dir, map[string]string{
		"good/p.rego":            fmt.Sprintf(policy, "good", "search"),
		"good/p_test.rego":       passing,
		"wrong/p.rego":           fmt.Sprintf(policy, "wrong", "delete"),
		"wrong/p_test.rego":      passing,
		"unloadable/p.rego":      notAgent,
		"unloadable/t_test.rego": libTest,
		"notes/README.md":        "not a policy",
	})
	res := runCLI(t, nil, "authz", "test", dir)
	if res.code != 2 {
		t.Fatalf("alternatives, one failing a test: exit %d, want 2\n%s", res.code, res)
	}
	wantLines(t, res.stdout,
		"== "+filepath.Join(dir, "good")+"\n",
		"ok      "+filepath.Join(dir, "good")+"\n",
		"FAIL    data.agentweave.authz_test.test_ok",
		"FAIL    "+filepath.Join(dir, "wrong")+": 1 of 1 policy tests failed\n",
		"FAIL    "+filepath.Join(dir, "unloadable")+": the tests pass, but an agent would refuse this policy",
		"2 of 3 policies failed\n",
	)
	if strings.Contains(res.stdout, "notes") {
		t.Errorf("a folder without Rego files was tested:\n%s", res.stdout)
	}

	// Only policies an agent refuses: exit 1.
	only := t.TempDir()
	writePolicyFiles(t, only, map[string]string{
		"good/p.rego": fmt.Sprintf(policy, "good", "search"), "good/p_test.rego": passing,
		"bad/p.rego": notAgent, "bad/p_test.rego": libTest,
	})
	if res := runCLI(t, nil, "authz", "test", only); res.code != 1 || !strings.Contains(res.stdout, "1 of 2 policies failed") {
		t.Errorf("alternatives, one an agent refuses: want exit 1\n%s", res)
	}

	// Files of the folder's own cannot go with one policy more than another.
	writePolicyFiles(t, dir, map[string]string{"shared.json": `{"x": 1}`})
	res = runCLI(t, nil, "authz", "test", dir)
	if res.code != 1 || !strings.Contains(res.stderr, "holds 3 alternative policies (good, unloadable, wrong)") ||
		!strings.Contains(res.stderr, "files of its own (shared.json)") || !strings.Contains(res.stderr, "move those files into the policy folders") {
		t.Errorf("alternatives with a file of the folder's own:\n%s", res)
	}
}
