package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// OPA is a running `opa run --server` process.
type OPA struct {
	URL string // http://127.0.0.1:PORT

	bin      string
	port     int
	policies []string
	logPath  string
	proc     *process
}

// StartOPA runs `opa run --server` on a free loopback port with the given
// policy files or directories, waits until GET /health answers 200 and
// registers a cleanup that stops it.
func StartOPA(tb testing.TB, policyPaths ...string) *OPA {
	tb.Helper()
	bin := Binary(tb, "opa")
	policies := make([]string, len(policyPaths))
	for i, p := range policyPaths {
		abs, err := filepath.Abs(p)
		if err != nil {
			tb.Fatalf("harness: OPA policy path %q: %v", p, err)
		}
		policies[i] = abs
	}
	dir, err := os.MkdirTemp("", "aw-opa-")
	if err != nil {
		tb.Fatalf("harness: creating OPA temp dir: %v", err)
	}
	o := &OPA{bin: bin, policies: policies, logPath: filepath.Join(dir, "opa.log")}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("harness: %s", logTail("opa", o.logPath))
		}
		if o.proc != nil {
			if err := o.proc.stop(); err != nil {
				tb.Logf("harness: cleanup: %v", err)
			}
			o.proc = nil
		}
		if err := os.RemoveAll(dir); err != nil {
			tb.Logf("harness: cleanup: removing %s: %v", dir, err)
		}
	})

	// The free port may be taken between probing and binding: retry once.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("harness: finding a free port for opa: %v", err)
		}
		o.port = port
		o.URL = "http://127.0.0.1:" + strconv.Itoa(port)
		exited, err := o.start()
		if err == nil {
			return o
		}
		if attempt == 1 && exited {
			tb.Logf("harness: opa exited during startup on port %d, retrying on another port: %v", port, err)
			continue
		}
		tb.Fatalf("harness: %v\n%s", err, logTail("opa", o.logPath))
	}
}

// Stop stops the OPA process; its port is then closed.
func (o *OPA) Stop(tb testing.TB) {
	tb.Helper()
	if o.proc == nil {
		tb.Fatalf("harness: OPA.Stop: opa is not running")
	}
	p := o.proc
	o.proc = nil
	if err := p.stop(); err != nil {
		tb.Fatalf("harness: stopping opa: %v\n%s", err, p.tail())
	}
}

// Start starts OPA again on the same port and waits for /health.
func (o *OPA) Start(tb testing.TB) {
	tb.Helper()
	if o.proc != nil {
		tb.Fatalf("harness: OPA.Start: opa is already running")
	}
	if _, err := o.start(); err != nil {
		tb.Fatalf("harness: %v\n%s", err, logTail("opa", o.logPath))
	}
}

// start runs opa on o.port and waits for /health. On failure the process is
// stopped and exited reports whether it had exited on its own (for example
// because the port was taken).
func (o *OPA) start() (exited bool, err error) {
	args := append([]string{
		"run", "--server",
		"--addr", "127.0.0.1:" + strconv.Itoa(o.port),
		"--skip-version-check", "--log-level", "error",
	}, o.policies...)
	p, err := startProcess("opa", o.logPath, o.bin, args...)
	if err != nil {
		return false, err
	}
	o.proc = p
	client := &http.Client{Timeout: cliTimeout, Transport: &http.Transport{DisableKeepAlives: true}}
	err = waitFor(p, func() error {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, o.URL+"/health", nil)
		if err != nil {
			return permanentError{err}
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /health: %s", resp.Status)
		}
		return nil
	})
	if err != nil {
		exited = p.exited() != nil
		o.proc = nil
		if stopErr := p.stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop: %w", stopErr))
		}
		return exited, fmt.Errorf("waiting for opa GET %s/health to answer 200: %w", o.URL, err)
	}
	return false, nil
}
