package observe_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentweave/agentweave-go/observe"
)

// serveHealth serves h's handler on a real loopback admin listener.
func serveHealth(t *testing.T, h *observe.Health) string {
	t.Helper()
	srv, err := observe.ServeAdmin(t.Context(), "127.0.0.1:0", h.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + srv.Addr()
}

func readiness(t *testing.T, base, path string) (int, observe.ReadinessReport) {
	t.Helper()
	resp := get(t, base+path)
	var rep observe.ReadinessReport
	if err := json.Unmarshal([]byte(resp.body), &rep); err != nil {
		t.Fatalf("GET %s body %q: %v", path, resp.body, err)
	}
	if ct := resp.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET %s Content-Type = %q, want application/json", path, ct)
	}
	return resp.code, rep
}

func TestHealthLiveness(t *testing.T) {
	t.Parallel()
	h := observe.NewHealth()
	h.AddReadiness("never", func(context.Context) error { return errors.New("no") })
	h.SetShuttingDown()
	base := serveHealth(t, h)
	for _, path := range []string{"/healthz", "/health/live"} {
		resp := get(t, base+path)
		if resp.code != http.StatusOK || resp.body != `{"status":"ok"}`+"\n" {
			t.Errorf("GET %s = %d %q, want 200 {\"status\":\"ok\"}", path, resp.code, resp.body)
		}
		if resp := do(t, http.MethodHead, base+path); resp.code != http.StatusOK || resp.body != "" {
			t.Errorf("HEAD %s = %d %q, want 200 and no body", path, resp.code, resp.body)
		}
	}
}

func TestHealthMethods(t *testing.T) {
	t.Parallel()
	base := serveHealth(t, observe.NewHealth())
	for _, path := range []string{"/healthz", "/health/live", "/readyz", "/health/ready"} {
		for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
			resp := do(t, method, base+path)
			if resp.code != http.StatusMethodNotAllowed {
				t.Errorf("%s %s = %d, want 405", method, path, resp.code)
			}
			if allow := resp.header.Get("Allow"); allow != "GET, HEAD" {
				t.Errorf("%s %s Allow = %q, want GET, HEAD", method, path, allow)
			}
		}
	}
	if got := get(t, base+"/nope").code; got != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", got)
	}
}

func TestHealthReadinessFlips(t *testing.T) {
	t.Parallel()
	h := observe.NewHealth()
	base := serveHealth(t, h)
	// Checks that fail while their error is set, as the agent's identity
	// and policy checks do when the SVID expires or the policy is lost.
	failing := func(e *atomic.Pointer[error]) func(context.Context) error {
		return func(context.Context) error {
			if p := e.Load(); p != nil {
				return *p
			}
			return nil
		}
	}
	var policyErr, svidErr atomic.Pointer[error]
	policy, svid := failing(&policyErr), failing(&svidErr)
	fail, expired := errors.New("no policy loaded"), errors.New("SVID expired")

	steps := []struct {
		name     string
		change   func()
		wantCode int
		want     observe.ReadinessReport
	}{
		{"no checks", func() {}, 200, observe.ReadinessReport{Status: "ready", Checks: map[string]observe.CheckResult{}}},
		{"checks pass", func() {
			h.AddReadiness("svid", svid)
			h.AddReadiness("policy", policy)
		}, 200, observe.ReadinessReport{Status: "ready", Checks: map[string]observe.CheckResult{
			"svid": {OK: true}, "policy": {OK: true},
		}}},
		{"policy fails", func() { policyErr.Store(&fail) }, 503, observe.ReadinessReport{
			Status: "not ready", Checks: map[string]observe.CheckResult{
				"svid": {OK: true}, "policy": {Error: "no policy loaded"},
			},
		}},
		{"policy back", func() { policyErr.Store(nil) }, 200, observe.ReadinessReport{Status: "ready", Checks: map[string]observe.CheckResult{
			"svid": {OK: true}, "policy": {OK: true},
		}}},
		{"SVID expired", func() { svidErr.Store(&expired) }, 503, observe.ReadinessReport{
			Status: "not ready", Checks: map[string]observe.CheckResult{
				"svid": {Error: "SVID expired"}, "policy": {OK: true},
			},
		}},
		{"SVID and policy lost", func() { policyErr.Store(&fail) }, 503, observe.ReadinessReport{
			Status: "not ready", Checks: map[string]observe.CheckResult{
				"svid": {Error: "SVID expired"}, "policy": {Error: "no policy loaded"},
			},
		}},
		{"both back", func() { svidErr.Store(nil); policyErr.Store(nil) }, 200, observe.ReadinessReport{Status: "ready", Checks: map[string]observe.CheckResult{
			"svid": {OK: true}, "policy": {OK: true},
		}}},
		{"check removed", func() { h.AddReadiness("policy", nil) }, 200, observe.ReadinessReport{Status: "ready", Checks: map[string]observe.CheckResult{
			"svid": {OK: true},
		}}},
		{"shutting down", h.SetShuttingDown, 503, observe.ReadinessReport{
			Status: "not ready", Reason: "shutting down", Checks: map[string]observe.CheckResult{},
		}},
	}
	for _, s := range steps {
		s.change()
		for _, path := range []string{"/readyz", "/health/ready"} {
			code, rep := readiness(t, base, path)
			if code != s.wantCode {
				t.Errorf("%s: GET %s = %d, want %d", s.name, path, code, s.wantCode)
			}
			if diff := cmp.Diff(s.want, rep); diff != "" {
				t.Errorf("%s: GET %s report (-want +got):\n%s", s.name, path, diff)
			}
		}
		if resp := do(t, http.MethodHead, base+"/readyz"); resp.code != s.wantCode || resp.body != "" {
			t.Errorf("%s: HEAD /readyz = %d %q, want %d and no body", s.name, resp.code, resp.body, s.wantCode)
		}
	}
}

// A check that ignores its context is abandoned at the timeout: Ready
// answers exactly then (fake time), the other checks' results included.
func TestHealthCheckTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := observe.NewHealth()
		h.SetCheckTimeout(50 * time.Millisecond)
		stuck := make(chan struct{})
		defer close(stuck) // lets the abandoned check return
		h.AddReadiness("stuck", func(context.Context) error { <-stuck; return nil })
		h.AddReadiness("fine", func(context.Context) error { return nil })

		start := time.Now()
		rep := h.Ready(t.Context())
		if took := time.Since(start); took != 50*time.Millisecond {
			t.Errorf("Ready() took %v, want the 50ms check timeout", took)
		}
		want := observe.ReadinessReport{Status: "not ready", Checks: map[string]observe.CheckResult{
			"stuck": {Error: "timed out after 50ms"}, "fine": {OK: true},
		}}
		if diff := cmp.Diff(want, rep); diff != "" {
			t.Errorf("Ready() (-want +got):\n%s", diff)
		}
	})
}

// Checks run concurrently: each waits for the other to start.
func TestHealthChecksRunConcurrently(t *testing.T) {
	t.Parallel()
	h := observe.NewHealth()
	h.SetCheckTimeout(10 * time.Second)
	var started sync.WaitGroup
	started.Add(2)
	both := make(chan struct{})
	go func() { started.Wait(); close(both) }()
	barrier := func(ctx context.Context) error {
		started.Done()
		select {
		case <-both:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.AddReadiness("a", barrier)
	h.AddReadiness("b", barrier)
	if rep := h.Ready(t.Context()); rep.Status != observe.StatusReady {
		t.Errorf("Ready() = %+v, want ready", rep)
	}
}

func TestHealthCheckPanics(t *testing.T) {
	t.Parallel()
	h := observe.NewHealth()
	h.AddReadiness("bad", func(context.Context) error { panic("boom") })
	rep := h.Ready(t.Context())
	if got := rep.Checks["bad"]; got.OK || got.Error != "check panicked: boom" {
		t.Errorf("panicking check = %+v, want error %q", got, "check panicked: boom")
	}
}

func TestHealthConcurrentUse(t *testing.T) {
	t.Parallel()
	h := observe.NewHealth()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				h.AddReadiness(string(rune('a'+i)), func(context.Context) error { return nil })
				if j%10 == 0 {
					h.SetCheckTimeout(time.Second)
				}
			}
		})
		wg.Go(func() {
			for range 50 {
				if rep := h.Ready(t.Context()); rep.Status != observe.StatusReady {
					t.Errorf("Ready() = %+v, want ready", rep)
					return
				}
			}
		})
	}
	wg.Wait()
}
