package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBenchMTLS(t *testing.T) {
	t.Parallel()
	url, sock, searchID := startAgent(t)
	base := []string{"bench", "--socket", sock, "--url", url, "--target", searchID.String(), "--concurrency", "4", "--duration", "300ms", "--quiet", "--json"}

	var rep benchReport
	out, err := run(t.Context(), append(base, "--capability", "echo", "--data", `{"q":"spiffe"}`)...)
	if err != nil {
		t.Fatalf("bench echo: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("output is not a report: %v\n%s", err, out)
	}
	if rep.Requests == 0 || rep.OK != rep.Requests || len(rep.Errors) != 0 || rep.RequestsPerSecond <= 0 ||
		rep.LatencyMicros.P50 <= 0 || rep.LatencyMicros.P99 < rep.LatencyMicros.P50 || rep.LatencyMicros.Max < rep.LatencyMicros.P99 {
		t.Errorf("bench echo = %s, want requests, all ok, ordered percentiles", out)
	}

	out, err = run(t.Context(), append(base, "--capability", "fail")...)
	if err != nil {
		t.Fatalf("bench fail: %v\n%s", err, out)
	}
	rep = benchReport{}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Requests == 0 || rep.Errors["task TASK_STATE_FAILED"] != rep.Requests {
		t.Errorf("bench fail = %s (%v), want every request counted as task TASK_STATE_FAILED", out, err)
	}
}

func TestBenchH2C(t *testing.T) {
	t.Parallel()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Query().Has("deny") {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"task":{"status":{"state":"TASK_STATE_COMPLETED"}}}}`)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)

	out, err := run(t.Context(), "bench", "--url", srv.URL+"/", "--capability", "echo", "--duration", "200ms", "--concurrency", "2", "--rate", "100", "--quiet")
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out)
	}
	for _, want := range []string{"throughput", "requests/s", "p99", "0 errors"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}

	out, err = run(t.Context(), "bench", "--url", srv.URL+"/?deny", "--capability", "echo", "--duration", "100ms", "--concurrency", "2", "--quiet")
	if err != nil || !strings.Contains(out, "http 403") {
		t.Errorf("bench against 403: %v\n%s\nwant the errors counted as http 403", err, out)
	}
}

func TestBenchFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"scheme", []string{"--url", "ftp://x", "--capability", "echo"}, "not an http(s) URL"},
		{"data", []string{"--url", "http://127.0.0.1:1", "--capability", "echo", "--data", "{"}, "--data"},
		{"socket with h2c", []string{"--url", "http://127.0.0.1:1", "--capability", "echo", "--socket", "unix:///x"}, "plaintext"},
		{"target", []string{"--url", "https://127.0.0.1:1", "--capability", "echo", "--target", "nope"}, "--target"},
		{"concurrency", []string{"--url", "http://127.0.0.1:1", "--capability", "echo", "--concurrency", "0"}, "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := run(t.Context(), append([]string{"bench"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("bench %v: error = %v, want it to mention %q", tt.args, err, tt.want)
			}
		})
	}
}
