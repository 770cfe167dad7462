package opa_test

import (
	"os"
	"path/filepath"
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
