package faults_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// The agentproc binary, built once by TestMain before any case runs so the
// build does not compete with the cases for the CPU.
var (
	builtBin     string
	errAgentproc error // why building agentproc failed
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aw-agentproc-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builtBin, errAgentproc = buildAgentproc(filepath.Join(dir, "agentproc"))
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildAgentproc runs `go build -o out ./agentproc`.
func buildAgentproc(out string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building agentproc: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, goBin, "build", "-o", out, "./agentproc").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./agentproc: %w\n%s", err, b)
	}
	return out, nil
}
