package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The agentweave command as users run it, built once by TestMain before any
// test runs, so that the build does not compete with the tests for the CPU.
var (
	builtCLI    string
	errBuildCLI error // why building it failed
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aw-cli-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	builtCLI, errBuildCLI = buildCLI(filepath.Join(dir, "agentweave"))
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// buildCLI runs `go build -o out .` in this package's directory.
func buildCLI(out string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("building agentweave: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if b, err := exec.CommandContext(ctx, goBin, "build", "-o", out, ".").CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/agentweave: %w\n%s", err, b)
	}
	return out, nil
}

// cliPath returns the built agentweave command, failing the test if it
// could not be built.
func cliPath(t *testing.T) string {
	t.Helper()
	if errBuildCLI != nil {
		t.Fatal(errBuildCLI)
	}
	return builtCLI
}

// cliEnv is the test's environment without the variables that change what
// agentweave does (SPIFFE_ENDPOINT_SOCKET, AGENTWEAVE_*), plus extra.
func cliEnv(extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "AGENTWEAVE_") || strings.HasPrefix(kv, "SPIFFE_ENDPOINT_SOCKET=")
	})
	return append(env, extra...)
}

// cliResult is how a run of the built command ended.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCLI runs the built agentweave with args to its end, in the repository's
// root (so that example paths read as in the docs), with cliEnv(env...).
func runCLI(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), cliPath(t), args...)
	cmd.Dir = repoRoot
	cmd.Env = cliEnv(env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("agentweave %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// repoRoot is the repository's root, relative to this package.
const repoRoot = "../.."

// cliProcess is a long-running agentweave (dev up, serve) started by
// startCLI.
type cliProcess struct {
	cmd  *exec.Cmd
	more chan struct{} // a line arrived (capacity 1)
	done chan struct{} // the process ended and its output is read
	err  error         // Wait's, once done is closed

	mu    sync.Mutex
	lines []string // standard output and error
	next  int      // the first line waitFor has not looked at
}

// startCLI starts the built agentweave with args and cliEnv(env...) in the
// repository's root. The process is killed at the end of the test if it is
// still running.
func startCLI(t *testing.T, env []string, args ...string) *cliProcess {
	t.Helper()
	p := &cliProcess{more: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = exec.Command(cliPath(t), args...) //nolint:noctx // stopped by a signal, or killed in Cleanup
	p.cmd.Dir = repoRoot
	p.cmd.Env = cliEnv(env...)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = w, w
	err = p.cmd.Start()
	_ = w.Close()
	if err != nil {
		_ = r.Close()
		t.Fatalf("agentweave %s: %v", strings.Join(args, " "), err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.more <- struct{}{}:
			default:
			}
		}
		_ = r.Close()
	}()
	go func() {
		p.err = p.cmd.Wait()
		<-read
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// output is everything the process printed so far.
func (p *cliProcess) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// waitFor waits until the process prints a line containing want (after the
// line the previous waitFor found) and returns that line. It fails the test
// when the process ends first, or when within passes.
func (p *cliProcess) waitFor(t *testing.T, want string, within time.Duration) string {
	t.Helper()
	timer := time.NewTimer(within)
	defer timer.Stop()
	name := "agentweave " + strings.Join(p.cmd.Args[1:], " ")
	for {
		p.mu.Lock()
		for i := p.next; i < len(p.lines); i++ {
			if line := p.lines[i]; strings.Contains(line, want) {
				p.next = i + 1
				p.mu.Unlock()
				return line
			}
		}
		p.next = len(p.lines)
		p.mu.Unlock()
		select {
		case <-p.more:
		case <-p.done:
			if p.hasLine(want) {
				continue
			}
			t.Fatalf("%s ended (%v) before printing %q:\n%s", name, p.err, want, p.output())
		case <-timer.C:
			t.Fatalf("%s did not print %q within %s:\n%s", name, want, within, p.output())
		}
	}
}

// hasLine reports whether a line waitFor has not looked at contains want.
func (p *cliProcess) hasLine(want string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines[p.next:] {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// stop sends SIGTERM, waits for the process to end and returns its exit
// code.
func (p *cliProcess) stop(t *testing.T) int {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	<-p.done
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	default:
		t.Fatal(p.err)
		return -1
	}
}
