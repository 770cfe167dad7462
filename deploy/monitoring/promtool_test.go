package monitoring_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/agentweave/agentweave-go/internal/harness"
)

// rulesFile is the name the rendered rules are written under, next to
// testdata/alerts_test.yaml's copy (its rule_files entry).
const rulesFile = "agentweave.rules.yaml"

// writeRules renders the PrometheusRule and writes its spec as a
// Prometheus rule file in a new directory, returning the directory.
func writeRules(t *testing.T) string {
	t.Helper()
	_, _, file := renderRules(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, rulesFile), file, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func promtool(t *testing.T, dir string, args ...string) {
	t.Helper()
	bin := harness.Binary(t, "promtool") // skips, or fails under CI / AGENTWEAVE_REQUIRE_INFRA, when missing
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %v: %v\n%s", args, err, out)
	}
	t.Logf("promtool %v:\n%s", args, out)
}

// TestPromtoolCheckRules runs `promtool check rules` with every linter, its
// findings fatal, on the rendered PrometheusRule's rule groups.
func TestPromtoolCheckRules(t *testing.T) {
	t.Parallel()
	promtool(t, writeRules(t), "check", "rules", "--lint=all", "--lint-fatal", rulesFile)
}

// TestPromtoolTestRules runs testdata/alerts_test.yaml, promtool unit tests
// of the rendered alerts (firing and not firing, annotations expanded),
// against the rendered rules.
func TestPromtoolTestRules(t *testing.T) {
	t.Parallel()
	dir := writeRules(t)
	b, err := os.ReadFile("testdata/alerts_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	promtool(t, dir, "test", "rules", "alerts_test.yaml")
}
