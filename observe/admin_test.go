package observe_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentweave/agentweave-go/observe"
)

func TestAdminServer(t *testing.T) {
	t.Parallel()
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	h := observe.NewHealth()
	h.AddReadiness("svid", func(context.Context) error { return errors.New("no SVID yet") })
	srv, err := observe.ServeAdmin(t.Context(), "127.0.0.1:0", observe.AdminHandler(m, h))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + srv.Addr()
	tests := []struct {
		method, path string
		want         int
		body         string
	}{
		{"GET", "/metrics", 200, "agentweave_auth_decisions_total"},
		{"POST", "/metrics", 405, ""},
		{"GET", "/healthz", 200, `"ok"`},
		{"GET", "/health/live", 200, `"ok"`},
		{"GET", "/readyz", 503, "no SVID yet"},
		{"GET", "/health/ready", 503, "no SVID yet"},
		{"GET", "/", 404, ""},
		{"GET", "/debug/pprof/", 404, ""},
	}
	for _, tt := range tests {
		resp := do(t, tt.method, base+tt.path)
		if resp.code != tt.want || !strings.Contains(resp.body, tt.body) {
			t.Errorf("%s %s = %d %.80q, want %d containing %q", tt.method, tt.path, resp.code, resp.body, tt.want, tt.body)
		}
	}

	if err := srv.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if err := srv.Shutdown(t.Context()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second Shutdown() = %v, want net.ErrClosed", err)
	}
	if err := srv.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Close() after Shutdown = %v, want net.ErrClosed", err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Error("GET after Shutdown succeeded, want a connection error")
	}
}

func TestServeAdminAddresses(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, addr, wantHost string }{
		{"empty host means loopback", ":0", "127.0.0.1"},
		{"explicit loopback", "127.0.0.1:0", "127.0.0.1"},
		{"IPv6 loopback", "[::1]:0", "::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, err := observe.ServeAdmin(t.Context(), tt.addr, observe.NewHealth().Handler())
			if err != nil {
				if tt.wantHost == "::1" {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = srv.Close() })
			host, port, err := net.SplitHostPort(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			if host != tt.wantHost || port == "0" {
				t.Errorf("Addr() = %s, want %s with a real port", srv.Addr(), tt.wantHost)
			}
			if got := get(t, "http://"+srv.Addr()+"/healthz").code; got != http.StatusOK {
				t.Errorf("GET /healthz = %d, want 200", got)
			}
			if err := srv.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			if err := srv.Close(); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close() = %v, want net.ErrClosed", err)
			}
		})
	}
}

func TestServeAdminErrors(t *testing.T) {
	t.Parallel()
	if _, err := observe.ServeAdmin(t.Context(), "127.0.0.1:0", nil); err == nil {
		t.Error("ServeAdmin(nil handler) succeeded, want an error")
	}
	srv, err := observe.ServeAdmin(t.Context(), "127.0.0.1:0", http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if _, err := observe.ServeAdmin(t.Context(), srv.Addr(), http.NotFoundHandler()); err == nil {
		t.Errorf("ServeAdmin(%s) on a used port succeeded, want an error", srv.Addr())
	}
}
