package harness

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	modulePath   = "github.com/agentweave/agentweave-go"
	pollInterval = 50 * time.Millisecond
	stopGrace    = 5 * time.Second
	logTailLines = 40
)

// Required reports whether missing infrastructure must fail tests: true when
// CI=true or AGENTWEAVE_REQUIRE_INFRA=1.
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("AGENTWEAVE_REQUIRE_INFRA") == "1"
}

// Binary returns the absolute path of a tool binary (spire-server,
// spire-agent, opa). It looks in $AGENTWEAVE_BIN_DIR if set, else in
// <module root>/.bin. When the binary is missing it fails the test if
// [Required] reports true and skips it otherwise.
func Binary(tb testing.TB, name string) string {
	tb.Helper()
	dir := os.Getenv("AGENTWEAVE_BIN_DIR")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			missing(tb, "harness: %s: cannot locate the module root (%v); run `make tools` from the module root or set AGENTWEAVE_BIN_DIR", name, err)
			return ""
		}
		dir = filepath.Join(root, ".bin")
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		missing(tb, "harness: %s: %v; run `make tools` to build it", name, err)
		return ""
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		missing(tb, "harness: %s not found at %s (%v); run `make tools` to build it", name, path, err)
		return ""
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		missing(tb, "harness: %s at %s is not an executable file; run `make tools` to build it", name, path)
		return ""
	}
	return path
}

func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if Required() {
		tb.Fatalf(format+" (infrastructure is required: CI=true or AGENTWEAVE_REQUIRE_INFRA=1)", args...)
		return
	}
	tb.Skipf(format, args...)
}

// moduleRoot walks up from the working directory to the directory holding
// this module's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if isModuleRoot(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod declaring module %s above the working directory", modulePath)
		}
		dir = parent
	}
}

func isModuleRoot(gomod string) bool {
	f, err := os.Open(gomod)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return false
	}
	fields := strings.Fields(sc.Text())
	return len(fields) == 2 && fields[0] == "module" && strings.Trim(fields[1], `"`) == modulePath
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// process is a daemon started as a direct child, with stdout and stderr
// appended to a log file.
type process struct {
	stopSig   syscall.Signal // what stop sends first (SIGTERM by default)
	name      string
	logPath   string
	logOffset int64 // size of the log file when this process started
	cmd       *exec.Cmd
	done      chan struct{} // closed when the process has exited
	waitErr   error         // valid after done is closed
}

func startProcess(name, logPath, bin string, args ...string) (*process, error) {
	return startProcessAs(nil, "", syscall.SIGTERM, name, logPath, bin, args...)
}

// startProcessAs starts a daemon as cred (nil: the current user) in working
// directory dir ("": the current one); stop will send stopSig first.
func startProcessAs(cred *syscall.Credential, dir string, stopSig syscall.Signal, name, logPath, bin string, args ...string) (*process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own copy of the descriptor
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(f, "=== harness: starting %s %s at %s\n", bin, strings.Join(args, " "), time.Now().Format(time.RFC3339Nano))
	// Not CommandContext: the daemon outlives the call that starts it and is
	// stopped by stop().
	cmd := exec.Command(bin, args...) //nolint:noctx // see above
	cmd.Dir = dir
	cmd.Stdout = f
	cmd.Stderr = f
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{stopSig: stopSig, name: name, logPath: logPath, logOffset: fi.Size(), cmd: cmd, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited returns a non-nil error describing the exit if the process is gone.
func (p *process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %w", p.name, p.waitErr)
	default:
		return nil
	}
}

// stop sends stopSig (SIGTERM; PostgreSQL's fast shutdown is SIGINT), waits
// up to stopGrace, then SIGKILLs and waits for the exit. It is safe to call
// on an exited process.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil // already gone
	default:
	}
	if err := p.cmd.Process.Signal(p.stopSig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("%s %s: %w", p.stopSig, p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGKILL %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return fmt.Errorf("%s ignored %s for %v and was killed", p.name, p.stopSig, stopGrace)
	case <-time.After(stopGrace):
		return fmt.Errorf("%s (pid %d) did not exit %v after SIGKILL", p.name, p.cmd.Process.Pid, stopGrace)
	}
}

// logContains reports whether this run of the process (not an earlier one
// sharing the log file) has logged s.
func (p *process) logContains(s string) bool {
	f, err := os.Open(p.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	data, err := io.ReadAll(io.NewSectionReader(f, p.logOffset, 1<<40))
	return err == nil && bytes.Contains(data, []byte(s))
}

// tail returns the last lines of the process log, framed for test output.
func (p *process) tail() string {
	return logTail(p.name, p.logPath)
}

func logTail(name, path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("--- %s log (%s): unreadable: %v ---", name, path, err)
	}
	lines := bytes.Split(bytes.TrimRight(data, "\n"), []byte("\n"))
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return fmt.Sprintf("--- last %d lines of %s log (%s) ---\n%s\n--- end of %s log ---",
		len(lines), name, path, bytes.Join(lines, []byte("\n")), name)
}

// permanentError makes waitFor stop polling at once.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

// waitFor polls check every pollInterval until it returns nil or
// waitTimeout elapses (see [waitWithin]).
func waitFor(proc *process, check func() error) error {
	return waitWithin(proc, waitTimeout, check)
}

// waitWithin polls check every pollInterval until it returns nil or timeout
// elapses; it returns the last error on timeout. If proc is non-nil and
// exits, or check returns a permanentError, waiting stops early.
func waitWithin(proc *process, timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		var perm permanentError
		if errors.As(err, &perm) {
			return perm.error
		}
		if proc != nil {
			if exitErr := proc.exited(); exitErr != nil {
				return fmt.Errorf("%w (last check: %w)", exitErr, err)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v: %w", timeout, err)
		}
		time.Sleep(pollInterval)
	}
}
