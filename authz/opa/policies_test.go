package opa_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util/channel"

	"github.com/agentweave/agentweave-go/authz/opa"
)

// TestExamplePolicies runs the Rego unit tests of every example policy
// (examples/policies/*/*_test.rego) with OPA's tester, as `opa test DIR`
// does, and checks each policy loads into an Embedded authorizer.
func TestExamplePolicies(t *testing.T) {
	t.Parallel()
	entries, err := os.ReadDir(examplesDir)
	if err != nil {
		t.Fatal(err)
	}
	dirs := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dirs++
		dir := filepath.Join(examplesDir, e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			t.Parallel()
			modules, store, err := tester.Load([]string{dir}, nil)
			if err != nil {
				t.Fatalf("loading %s: %v", dir, err)
			}
			ch, err := tester.NewRunner().SetStore(store).SetModules(modules).RunTests(t.Context(), nil)
			if err != nil {
				t.Fatalf("running the tests of %s: %v", dir, err)
			}
			results := channel.Collect(ch)
			if len(results) == 0 {
				t.Fatalf("%s has no Rego tests", dir)
			}
			for _, r := range results {
				if !r.Pass() {
					t.Errorf("%s: %s (%s)", r.Location, r, r.Error)
				}
			}
			e, err := opa.NewEmbedded(t.Context(), opa.EmbeddedOptions{Paths: []string{dir}, ReloadInterval: -1})
			if err != nil {
				t.Fatalf("NewEmbedded(%s) error = %v", dir, err)
			}
			_ = e.Close()
		})
	}
	if dirs < 3 {
		t.Errorf("found %d example policies in %s, want at least 3", dirs, examplesDir)
	}
}

// rbacGlob is the example RBAC policy as first written, with glob.match.
const rbacGlob = "testdata/rbac_glob.rego"

// rbacCalls are the calls the RBAC comparisons make for each caller: every
// rule of the policy, allowed and denied.
var rbacCalls = []struct{ action, operation string }{
	{"search", "SendMessage"},
	{"summarize", "SendMessage"},
	{"delete_index", "SendMessage"},
	{"", "GetTask"},
	{"", "SendMessage"},
}

// compareRBAC checks that the example RBAC policy decides every call from
// caller as the glob formulation does.
func compareRBAC(t *testing.T, example, glob *opa.Embedded, caller string) {
	t.Helper()
	for _, c := range rbacCalls {
		in := call(caller, c.action)
		in.Operation = c.operation
		want, err := glob.Authorize(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		got, err := example.Authorize(t.Context(), in)
		if err != nil {
			t.Fatal(err)
		}
		if got.Allow != want.Allow {
			t.Errorf("caller %q, action %q, operation %s: Allow = %v, glob.match says %v", caller, c.action, c.operation, got.Allow, want.Allow)
		}
	}
}

// TestRBACExampleMatchesGlob compares the example RBAC policy, which checks
// roles with startswith and a slash count, to the glob patterns it
// implements, for callers built from the segments that matter: the
// patterns' own, empty ones, near misses, at every depth up to four.
func TestRBACExampleMatchesGlob(t *testing.T) {
	t.Parallel()
	example := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{rbacDir}, ReloadInterval: -1})
	glob := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{rbacGlob}, ReloadInterval: -1})
	segments := []string{"agent", "orchestrator", "analyst-eu", "analyst-", "analyst", "admin", "prod", ""}
	paths := [][]string{{""}} // by depth
	for depth := 1; depth <= 4; depth++ {
		var next []string
		for _, p := range paths[depth-1] {
			if depth == 4 && !slices.Contains([]string{"/agent/orchestrator/", "/agent/analyst-eu/", "/agent/analyst-/"}, p[:strings.LastIndex(p, "/")+1]) {
				continue // deeper than every pattern: only below the agent roles' own segments
			}
			for _, s := range segments {
				next = append(next, p+"/"+s)
			}
		}
		paths = append(paths, next)
	}
	for _, d := range []struct {
		name, domain string
		maxDepth     int
	}{
		{"own trust domain", "spiffe://example.org", 4},
		{"longer trust domain", "spiffe://example.org.evil", 2},
		{"other trust domain", "spiffe://evil.example", 2},
		{"no scheme", "", 2},
	} {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			for _, ps := range paths[:d.maxDepth+1] {
				for _, p := range ps {
					compareRBAC(t, example, glob, d.domain+p)
				}
			}
		})
	}
}

// FuzzRBACExample compares the example RBAC policy to its glob patterns
// for any caller SPIFFE ID.
func FuzzRBACExample(f *testing.F) {
	for _, s := range []string{
		orchestrator, admin, searchAgent, "spiffe://example.org/agent/analyst-eu/prod",
		"spiffe://example.org/agent/orchestrator/x/admin", "spiffe://example.org/admin/", "spiffe://example.org/admin//",
		"spiffe://example.org/agent/analyst-/", "spiffe://example.org/agent/analyst-a/b/c", "spiffe://example.org/admin/\xff",
	} {
		f.Add(s)
	}
	example, err := opa.NewEmbedded(f.Context(), opa.EmbeddedOptions{Paths: []string{rbacDir}, ReloadInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = example.Close() })
	glob, err := opa.NewEmbedded(f.Context(), opa.EmbeddedOptions{Paths: []string{rbacGlob}, ReloadInterval: -1})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = glob.Close() })
	f.Fuzz(func(t *testing.T, caller string) {
		compareRBAC(t, example, glob, caller)
	})
}
