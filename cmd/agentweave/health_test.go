package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready: no X509-SVID yet", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/healthz", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the client gives up
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		path    string
		args    []string
		code    int
		wantOut []string
		wantErr string
	}{
		{"healthy", "/healthz", nil, 0, []string{"HTTP/1.1 200 OK\nok\n"}, ""},
		{"not ready", "/readyz", nil, 1, []string{"HTTP/1.1 503 Service Unavailable\n", "not ready: no X509-SVID yet\n"}, srv.URL + "/readyz answered 503 Service Unavailable"},
		{"redirect not followed", "/moved", nil, 1, []string{"HTTP/1.1 302 Found\n", "Location: /healthz\n"}, "answered 302 Found"},
		{"no answer in time", "/slow", []string{"--timeout", "200ms"}, 1, nil, srv.URL + "/slow: no answer within 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, err := run(t.Context(), append([]string{"health", srv.URL + tt.path}, tt.args...)...)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("exit code = %d (%v), want %d\n%s", got, err, tt.code, out)
			}
			wantLines(t, out, tt.wantOut...)
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHealthConnectionRefused(t *testing.T) {
	t.Parallel()
	lis, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + lis.Addr().String() + "/readyz"
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := run(t.Context(), "health", url)
	if exitCode(err) != 1 || !strings.Contains(err.Error(), url) || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("closed port: error = %v (exit code %d), want exit 1 naming %s and the refusal\n%s", err, exitCode(err), url, out)
	}
	if out != "" {
		t.Errorf("closed port: output = %q, want none", out)
	}
}

func TestHealthRefusesOtherURLs(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"ftp://127.0.0.1/readyz", "unix:///tmp/agent.sock", "127.0.0.1:9090/readyz", "http://", "readyz"} {
		_, err := run(t.Context(), "health", arg)
		if exitCode(err) != 1 || !strings.Contains(err.Error(), "not an http or https URL") {
			t.Errorf("health %s: error = %v, want it refused", arg, err)
		}
	}
	if _, err := run(t.Context(), "health"); err == nil {
		t.Error("health without a URL: error = nil")
	}
	if _, err := run(t.Context(), "health", "http://127.0.0.1:1/", "--timeout", "-1s"); err == nil || !strings.Contains(err.Error(), "--timeout") {
		t.Errorf("negative --timeout: error = %v", err)
	}
}
