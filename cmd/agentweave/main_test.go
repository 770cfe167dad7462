package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

// run executes the CLI with args and returns its standard output and error.
func run(ctx context.Context, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := newRootCmd() //nolint:contextcheck // commands get ctx through ExecuteContext
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(io.Discard)
	err := cmd.ExecuteContext(ctx)
	return out.String(), err
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "aw-cli-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func TestVersion(t *testing.T) {
	t.Parallel()
	out, err := run(t.Context(), "version")
	if err != nil || !strings.HasPrefix(out, "agentweave ") || !strings.Contains(out, "go go1.") {
		t.Errorf("version = %q, %v", out, err)
	}
}

func TestDemo(t *testing.T) {
	t.Parallel()
	out, err := run(t.Context(), "demo")
	if err != nil {
		t.Fatalf("demo error = %v\n%s", err, out)
	}
	if !strings.Contains(out, "All expectations held") {
		t.Errorf("demo output lacks the verdict:\n%s", out)
	}
}

// TestDevUpAndSVIDFetch runs `dev up` with two workloads, fetches one SVID
// with `svid fetch`, and checks the files verify against dev up's bundle.
func TestDevUpAndSVIDFetch(t *testing.T) {
	t.Parallel()
	dir := shortDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	devOut := &syncBuffer{}
	go func() {
		cmd := newRootCmd() //nolint:contextcheck // commands get ctx through ExecuteContext
		cmd.SetArgs([]string{"dev", "up", "--dir", dir, "--trust-domain", "acme.test", "--ttl", "1m", "--workload", "orchestrator", "--workload", "search"})
		cmd.SetOut(devOut)
		done <- cmd.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev up error = %v", err)
		}
	})

	// Wait until the search socket serves an SVID.
	addr := "unix://" + filepath.Join(dir, "search.sock")
	deadline := time.Now().Add(10 * time.Second)
	for {
		fctx, fcancel := context.WithTimeout(t.Context(), time.Second)
		_, err := workloadapi.FetchX509SVID(fctx, workloadapi.WithAddr(addr))
		fcancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev up did not serve %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	outDir := filepath.Join(dir, "creds")
	stdout, err := run(t.Context(), "svid", "fetch", "--socket", addr, "--out", outDir, "--timeout", "5s")
	if err != nil {
		t.Fatalf("svid fetch error = %v", err)
	}
	if !strings.Contains(stdout, "spiffe://acme.test/agent/search/dev") {
		t.Errorf("svid fetch output = %q, want the SPIFFE ID", stdout)
	}
	svid, err := x509svid.Load(filepath.Join(outDir, "svid.pem"), filepath.Join(outDir, "svid.key"))
	if err != nil {
		t.Fatalf("load fetched SVID: %v", err)
	}
	if want := spiffeid.RequireFromString("spiffe://acme.test/agent/search/dev"); svid.ID != want {
		t.Errorf("fetched ID = %v, want %v", svid.ID, want)
	}
	if fi, err := os.Stat(filepath.Join(outDir, "svid.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("svid.key mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	// Both bundle files (dev up's and svid fetch's) verify the SVID.
	for _, b := range []string{filepath.Join(dir, "bundle.pem"), filepath.Join(outDir, "bundle.pem")} {
		pool := x509.NewCertPool()
		raw, err := os.ReadFile(b)
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(raw)
		if blk == nil {
			t.Fatalf("%s: no PEM block", b)
		}
		root, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pool.AddCert(root)
		if _, err := svid.Certificates[0].Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			t.Errorf("SVID does not verify against %s: %v", b, err)
		}
	}
	if !strings.Contains(devOut.String(), "spiffe://acme.test/agent/orchestrator/dev") {
		t.Errorf("dev up output lacks the orchestrator ID:\n%s", devOut.String())
	}
}

func TestCLIErrors(t *testing.T) {
	t.Parallel()
	dir := shortDir(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"dev up without workloads", []string{"dev", "up", "--dir", dir}, "at least one --workload"},
		{"dev up bad name", []string{"dev", "up", "--dir", dir, "--workload", "Bad_Name"}, "invalid workload name"},
		{"dev up bad trust domain", []string{"dev", "up", "--dir", dir, "--trust-domain", "Not A Domain", "--workload", "a"}, "--trust-domain"},
		{"dev up ttl too short", []string{"dev", "up", "--dir", dir, "--ttl", "1s", "--workload", "a"}, "TTL too short"},
		{"dev up without dir", []string{"dev", "up", "--workload", "a"}, `"dir" not set`},
		{"svid fetch no socket", []string{"svid", "fetch", "--socket", "unix://" + filepath.Join(dir, "none.sock"), "--out", dir, "--timeout", "200ms"}, "none.sock"},
		{"svid fetch bad id", []string{"svid", "fetch", "--socket", "unix:///x", "--out", dir, "--id", "nope"}, "--id"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := run(t.Context(), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v: error = %v, want one containing %q", tt.args, err, tt.want)
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"demo", "--help"}, {"dev", "up", "--help"}, {"svid", "fetch", "--help"}} {
		out, err := run(t.Context(), args...)
		if err != nil || !strings.Contains(out, "Examples:") {
			t.Errorf("%v: help lacks examples (err %v):\n%s", args, err, out)
		}
	}
}
