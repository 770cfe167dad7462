package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func TestSPIRE(t *testing.T) {
	start := time.Now()
	s := StartSPIRE(t, SPIREOptions{DefaultSVIDTTL: 20 * time.Second})
	t.Logf("StartSPIRE took %v", time.Since(start))

	td := spiffeid.RequireTrustDomainFromString("example.org")
	if s.TrustDomain != td {
		t.Fatalf("TrustDomain = %v, want %v", s.TrustDomain, td)
	}
	if !strings.HasPrefix(s.AgentID.Path(), "/spire/agent/join_token/") || s.AgentID.TrustDomain() != td {
		t.Fatalf("AgentID = %v, want spiffe://example.org/spire/agent/join_token/<uuid>", s.AgentID)
	}
	if !strings.HasPrefix(s.WorkloadAddr(), "unix:///") || !strings.HasSuffix(s.WorkloadAddr(), "/agent.sock") {
		t.Fatalf("WorkloadAddr = %q, want unix:///.../agent.sock", s.WorkloadAddr())
	}

	a := spiffeid.RequireFromString("spiffe://example.org/agent/a/dev")
	b := spiffeid.RequireFromString("spiffe://example.org/agent/b/dev")
	start = time.Now()
	s.CreateEntry(t, Entry{ID: a, Hint: "a"})
	s.CreateEntry(t, Entry{ID: b, Hint: "b", TTL: 10 * time.Second})
	s.WaitForSVIDs(t, a, b)
	t.Logf("entries served after %v", time.Since(start))

	wantHints := map[spiffeid.ID]string{a: "a", b: "b"}
	assertServed(t, s, wantHints)

	s.StopAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_, err := workloadapi.FetchX509Context(ctx, workloadapi.WithAddr(s.WorkloadAddr()))
	cancel()
	if err == nil {
		t.Fatal("Workload API still answers after StopAgent")
	}

	agentID := s.AgentID
	start = time.Now()
	s.StartAgent(t)
	t.Logf("StartAgent took %v", time.Since(start))
	if s.reattests != 0 || s.AgentID != agentID {
		t.Errorf("agent re-attested on restart (reattests=%d, AgentID %v -> %v), want it to re-use its stored SVID",
			s.reattests, agentID, s.AgentID)
	}
	s.WaitForSVIDs(t, a, b)
	assertServed(t, s, wantHints)

	// The fallback used when the stored SVID cannot be re-used: a new join
	// token, a new agent ID and the entries re-created under it.
	s.StopAgent(t)
	s.reattest(t)
	if s.AgentID == agentID || s.reattests != 1 {
		t.Errorf("after reattest: AgentID %v (was %v), reattests %d; want a new ID and 1", s.AgentID, agentID, s.reattests)
	}
	s.WaitForSVIDs(t, a, b)
	assertServed(t, s, wantHints)
}

// assertServed fetches the X.509 context and checks that exactly the
// expected IDs are served with their hints, and that the trust bundle is
// present.
func assertServed(t *testing.T, s *SPIRE, wantHints map[spiffeid.ID]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	x, err := workloadapi.FetchX509Context(ctx, workloadapi.WithAddr(s.WorkloadAddr()))
	if err != nil {
		t.Fatalf("FetchX509Context: %v", err)
	}
	got := map[spiffeid.ID]string{}
	for _, svid := range x.SVIDs {
		if _, dup := got[svid.ID]; dup {
			t.Errorf("SVID %v served twice", svid.ID)
		}
		got[svid.ID] = svid.Hint
		if len(svid.Certificates) == 0 || svid.PrivateKey == nil {
			t.Errorf("SVID %v has no certificate or key", svid.ID)
		}
	}
	for id, hint := range wantHints {
		gotHint, ok := got[id]
		switch {
		case !ok:
			t.Errorf("SVID %v not served; got %v", id, got)
		case gotHint != hint:
			t.Errorf("SVID %v hint = %q, want %q", id, gotHint, hint)
		}
	}
	if len(got) != len(wantHints) {
		t.Errorf("served %d SVIDs (%v), want %d", len(got), got, len(wantHints))
	}
	bundle, ok := x.Bundles.Get(s.TrustDomain)
	if !ok || len(bundle.X509Authorities()) == 0 {
		t.Errorf("no X.509 authorities for %v in the served bundles", s.TrustDomain)
	}
}

const testPolicy = `package agentweave.authz

default allow := false

allow if input.caller == "a"
`

func TestOPA(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(testPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	o := StartOPA(t, dir)
	t.Logf("StartOPA took %v", time.Since(start))
	if !strings.HasPrefix(o.URL, "http://127.0.0.1:") {
		t.Fatalf("URL = %q, want http://127.0.0.1:PORT", o.URL)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	assertDecisions(t, client, o.URL)

	o.Stop(t)
	_, err := decide(client, o.URL, "a")
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("after Stop: err = %v, want connection refused", err)
	}

	url := o.URL
	o.Start(t)
	if o.URL != url {
		t.Fatalf("URL after restart = %q, want the same %q", o.URL, url)
	}
	assertDecisions(t, client, o.URL)
}

func assertDecisions(t *testing.T, client *http.Client, url string) {
	t.Helper()
	for caller, want := range map[string]bool{"a": true, "b": false} {
		got, err := decide(client, url, caller)
		if err != nil {
			t.Fatalf("decision for caller %q: %v", caller, err)
		}
		if got != want {
			t.Errorf("allow for caller %q = %v, want %v", caller, got, want)
		}
	}
}

func decide(client *http.Client, url, caller string) (bool, error) {
	body, err := json.Marshal(map[string]any{"input": map[string]string{"caller": caller}})
	if err != nil {
		return false, err
	}
	resp, err := client.Post(url+"/v1/data/agentweave/authz/allow", "application/json", bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("status %s", resp.Status)
	}
	var out struct {
		Result *bool `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, err
	}
	if out.Result == nil {
		return false, errors.New("no result in the response (policy not loaded?)")
	}
	return *out.Result, nil
}

// recordingTB records Fatalf and Skipf and stops the calling goroutine like
// the real ones do.
type recordingTB struct {
	testing.TB
	mu            sync.Mutex
	fatals, skips []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.fatals = append(r.fatals, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}

func (r *recordingTB) Skipf(format string, args ...any) {
	r.mu.Lock()
	r.skips = append(r.skips, fmt.Sprintf(format, args...))
	r.mu.Unlock()
	runtime.Goexit()
}

// callBinary runs Binary in its own goroutine, since a failing TB ends it.
func callBinary(t *testing.T) (path string, rec *recordingTB) {
	const name = "spire-agent"
	rec = &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		path = Binary(rec, name)
	}()
	<-done
	return path, rec
}

func TestBinaryRequired(t *testing.T) {
	empty := t.TempDir()
	t.Setenv("AGENTWEAVE_BIN_DIR", empty)
	t.Setenv("AGENTWEAVE_REQUIRE_INFRA", "")
	want := filepath.Join(empty, "spire-agent")

	t.Run("required", func(t *testing.T) {
		t.Setenv("CI", "true")
		if !Required() {
			t.Fatal("Required() = false with CI=true")
		}
		_, rec := callBinary(t)
		if len(rec.fatals) != 1 || len(rec.skips) != 0 {
			t.Fatalf("fatals %q, skips %q; want one Fatalf", rec.fatals, rec.skips)
		}
		if msg := rec.fatals[0]; !strings.Contains(msg, want) || !strings.Contains(msg, "make tools") {
			t.Errorf("message %q should name %s and `make tools`", msg, want)
		}
	})

	t.Run("required by AGENTWEAVE_REQUIRE_INFRA", func(t *testing.T) {
		t.Setenv("CI", "")
		t.Setenv("AGENTWEAVE_REQUIRE_INFRA", "1")
		_, rec := callBinary(t)
		if len(rec.fatals) != 1 || len(rec.skips) != 0 {
			t.Fatalf("fatals %q, skips %q; want one Fatalf", rec.fatals, rec.skips)
		}
	})

	t.Run("optional", func(t *testing.T) {
		t.Setenv("CI", "")
		if Required() {
			t.Fatal("Required() = true without CI or AGENTWEAVE_REQUIRE_INFRA")
		}
		_, rec := callBinary(t)
		if len(rec.skips) != 1 || len(rec.fatals) != 0 {
			t.Fatalf("fatals %q, skips %q; want one Skipf", rec.fatals, rec.skips)
		}
		if msg := rec.skips[0]; !strings.Contains(msg, want) || !strings.Contains(msg, "make tools") {
			t.Errorf("message %q should name %s and `make tools`", msg, want)
		}
	})

	t.Run("present", func(t *testing.T) {
		t.Setenv("CI", "true")
		if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		path, rec := callBinary(t)
		if path != want || len(rec.fatals)+len(rec.skips) != 0 {
			t.Fatalf("Binary = %q (fatals %q, skips %q), want %q", path, rec.fatals, rec.skips, want)
		}
	})
}

func TestModuleRoot(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if !isModuleRoot(filepath.Join(root, "go.mod")) {
		t.Fatalf("moduleRoot() = %s, whose go.mod does not declare %s", root, modulePath)
	}
	if wd, _ := os.Getwd(); filepath.Join(root, "internal", "harness") != wd {
		t.Fatalf("moduleRoot() = %s, want the parent of %s", root, wd)
	}
}
