package opa_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/internal/harness"
)

func newRemote(t *testing.T, opts opa.RemoteOptions) *opa.Remote {
	t.Helper()
	r, err := opa.NewRemote(opts)
	if err != nil {
		t.Fatalf("NewRemote() error = %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestRemote asks a real OPA server loaded with the example policies.
func TestRemote(t *testing.T) {
	t.Parallel()
	conflict := writePolicy(t, t.TempDir(), "conflict.rego", "package conflict\n\nallow = true if input.action != \"\"\nallow = false if input.operation != \"\"\n")
	o := harness.StartOPA(t, rbacDir, conflict)
	rbac := newRemote(t, opa.RemoteOptions{Endpoint: o.URL})
	tests := []struct {
		name    string
		r       *opa.Remote
		in      *authz.Input
		allow   bool
		reason  string
		wantErr bool
	}{
		{"allowed", rbac, call(orchestrator, "search"), true, "allowed by data.agentweave.authz.allow", false},
		{"denied", rbac, call(orchestrator, "delete_index"), false, "denied by data.agentweave.authz.allow", false},
		{"admin", rbac, call(admin, "delete_index"), true, "allowed by", false},
		{"undefined package", newRemote(t, opa.RemoteOptions{Endpoint: o.URL, PolicyPath: "nope/authz"}), call(admin, "search"), false, "no decision: data.nope.authz is undefined", false},
		{"policy error", newRemote(t, opa.RemoteOptions{Endpoint: o.URL, PolicyPath: "conflict", FailureThreshold: 1}), call(admin, "search"), false, "policy error: OPA answered 500 Internal Server Error: internal_error: error(s) occurred while evaluating query: eval_conflict_error", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 3 { // a policy error must not open the breaker (threshold 1)
				d, err := tt.r.Authorize(t.Context(), tt.in)
				if (err != nil) != tt.wantErr || errors.Is(err, opa.ErrUnreachable) {
					t.Fatalf("Authorize() error = %v, want error %v (never ErrUnreachable)", err, tt.wantErr)
				}
				if d.Allow != tt.allow || !strings.HasPrefix(d.Reason, tt.reason) || d.PolicyRevision != "remote:"+o.URL {
					t.Fatalf("Authorize() = %+v, want allow %v, reason %q…, revision remote:%s", d, tt.allow, tt.reason, o.URL)
				}
			}
		})
	}
}

// TestRemoteOPADown stops OPA: every decision is denied as unreachable,
// the breaker opens and answers at once; once OPA is back, decisions are
// allowed again.
func TestRemoteOPADown(t *testing.T) {
	t.Parallel()
	o := harness.StartOPA(t, rbacDir)
	const timeout = 500 * time.Millisecond
	r := newRemote(t, opa.RemoteOptions{Endpoint: o.URL, Timeout: timeout, FailureThreshold: 3, RecoveryTimeout: 200 * time.Millisecond})
	in := call(orchestrator, "search")
	if d, err := r.Authorize(t.Context(), in); err != nil || !d.Allow {
		t.Fatalf("with OPA up: Authorize() = %+v, %v, want allow", d, err)
	}

	o.Stop(t)
	open := false
	for i := range 10 {
		start := time.Now()
		d, err := r.Authorize(t.Context(), in)
		took := time.Since(start)
		if d.Allow || !errors.Is(err, opa.ErrUnreachable) || !strings.HasPrefix(d.Reason, "OPA unreachable") {
			t.Fatalf("call %d with OPA down: Authorize() = %+v, %v, want an unreachable denial", i, d, err)
		}
		if d.Reason == "OPA unreachable (circuit open)" {
			open = true
			if took >= timeout {
				t.Errorf("open breaker took %v to deny, want immediate (< the %v timeout)", took, timeout)
			}
			break
		}
	}
	if !open {
		t.Fatal("the breaker never opened after 10 failures (threshold 3)")
	}

	o.Start(t)
	eventually(t, 10*time.Second, "decisions never allowed again after OPA restarted", func() bool {
		d, _ := r.Authorize(t.Context(), in)
		return d.Allow
	})
}

// TestRemoteTimeoutOpensBreaker points at a server that accepts and never
// answers: each decision waits the timeout, until the breaker opens and
// denials become immediate.
func TestRemoteTimeoutOpensBreaker(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(conns)
				return
			}
			conns <- c // held open, never answered
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		for c := range conns {
			_ = c.Close()
		}
	})
	const timeout = 100 * time.Millisecond
	r := newRemote(t, opa.RemoteOptions{Endpoint: "http://" + ln.Addr().String(), Timeout: timeout, FailureThreshold: 2, RecoveryTimeout: time.Minute})
	for i := range 2 {
		start := time.Now()
		d, err := r.Authorize(t.Context(), call(admin, "search"))
		if took := time.Since(start); d.Allow || !errors.Is(err, opa.ErrUnreachable) || took < timeout || took > 20*timeout {
			t.Fatalf("call %d: Authorize() = %+v, %v after %v, want an unreachable denial after the %v timeout", i, d, err, took, timeout)
		}
	}
	start := time.Now()
	d, err := r.Authorize(t.Context(), call(admin, "search"))
	if took := time.Since(start); d.Allow || d.Reason != "OPA unreachable (circuit open)" || !errors.Is(err, opa.ErrUnreachable) || took >= timeout {
		t.Errorf("after 2 timeouts: Authorize() = %+v, %v after %v, want an immediate circuit-open denial", d, err, took)
	}
}

func TestNewRemoteRefuses(t *testing.T) {
	t.Parallel()
	for _, opts := range []opa.RemoteOptions{
		{},
		{Endpoint: "127.0.0.1:8181"},
		{Endpoint: "unix:///run/opa.sock"},
		{Endpoint: "http://127.0.0.1:8181", PolicyPath: "/"},
	} {
		if r, err := opa.NewRemote(opts); err == nil || !strings.HasPrefix(err.Error(), "opa: ") {
			t.Errorf("NewRemote(%+v) = %v, %v, want an opa: error", opts, r, err)
		}
	}
}

func TestRemoteClosedAndCanceled(t *testing.T) {
	t.Parallel()
	r := newRemote(t, opa.RemoteOptions{Endpoint: "http://127.0.0.1:1", FailureThreshold: 1})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for range 3 { // a caller that gave up says nothing about OPA: no breaker trip
		if d, err := r.Authorize(ctx, call(admin, "search")); d.Allow || err == nil || d.Reason == "OPA unreachable (circuit open)" {
			t.Fatalf("Authorize(canceled) = %+v, %v, want a denial that does not open the breaker", d, err)
		}
	}
	_ = r.Close()
	if d, err := r.Authorize(t.Context(), call(admin, "search")); d.Allow || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Authorize after Close = %+v, %v, want net.ErrClosed", d, err)
	}
}

// TestRemoteBadAnswers serves what a broken OPA or a proxy in front of it
// might answer: every one denies.
func TestRemoteBadAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		status      int
		body        string
		reason      string
		unreachable bool
	}{
		{"unavailable", http.StatusServiceUnavailable, "upstream down", "OPA unreachable: answered 503 Service Unavailable", true},
		{"malformed JSON", http.StatusOK, `{"result": {"allow": true`, "OPA unreachable: malformed answer", true},
		{"not found", http.StatusNotFound, "404 page not found", "policy error: OPA answered 404 Not Found: 404 page not found", false},
		{"bad request", http.StatusBadRequest, `{"code": "invalid_parameter", "message": "bad input"}`, "policy error: OPA answered 400 Bad Request: invalid_parameter: bad input", false},
		{"string allow", http.StatusOK, `{"result": {"allow": "true"}}`, "no decision: data.agentweave.authz.allow is a string, want a boolean", false},
		{"result not an object", http.StatusOK, `{"result": true}`, "no decision: data.agentweave.authz is not an object", false},
		{"too large", http.StatusOK, `{"result": {"allow": true}, "pad": "` + strings.Repeat("x", 1<<20) + `"}`, "OPA unreachable: answer larger than", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/v1/data/agentweave/authz" || r.Header.Get("Content-Type") != "application/json" {
					t.Errorf("request %s %s (%s)", r.Method, r.URL, r.Header.Get("Content-Type"))
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			r := newRemote(t, opa.RemoteOptions{Endpoint: srv.URL})
			d, err := r.Authorize(t.Context(), call(admin, "search"))
			if d.Allow || !strings.HasPrefix(d.Reason, tt.reason) || errors.Is(err, opa.ErrUnreachable) != tt.unreachable {
				t.Errorf("Authorize() = %+v, %v; want a denial %q…, unreachable %v", d, err, tt.reason, tt.unreachable)
			}
		})
	}
}
