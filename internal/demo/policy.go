package demo

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
)

// policyRego is the demo's policy: who may call whom, with reasons. Its
// unit tests are policy/demo_test.rego (see policy_test.go).
//
//go:embed policy/demo.rego
var policyRego []byte

// writePolicy writes the policy into dir/policy, the agents'
// authorization.policy_dir, and returns the file's path.
func writePolicy(dir string) (string, error) {
	pdir := filepath.Join(dir, "policy")
	if err := os.MkdirAll(pdir, 0o700); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	path := filepath.Join(pdir, "demo.rego")
	if err := os.WriteFile(path, policyRego, 0o600); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return path, nil
}
