package demo

import (
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestPolicy runs the Rego unit tests of the demo policy with OPA's test
// runner, as `agentweave authz test internal/demo/policy` and `opa test`
// do.
func TestPolicy(t *testing.T) {
	t.Parallel()
	modules, store, err := tester.Load([]string{"policy"}, nil)
	if err != nil {
		t.Fatalf("loading the policy: %v", err)
	}
	ch, err := tester.NewRunner().SetStore(store).SetModules(modules).CapturePrintOutput(true).RunTests(t.Context(), nil)
	if err != nil {
		t.Fatalf("running the policy tests: %v", err)
	}
	n := 0
	for r := range ch {
		n++
		switch {
		case r.Error != nil:
			t.Errorf("%s.%s: error: %v (%s)", r.Package, r.Name, r.Error, r.Location)
		case r.Fail:
			t.Errorf("%s.%s: FAIL at %s %s", r.Package, r.Name, r.Location, r.Output)
		}
	}
	if n < 10 {
		t.Errorf("ran %d policy tests, want every test_* rule of policy/demo_test.rego (at least 10)", n)
	}
}
