package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/agentweave/agentweave-go/observe"
)

// Record a request and an authorization decision, then read them back as
// Prometheus would scrape them.
func ExampleNewMetrics() {
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		fmt.Println(err)
		return
	}
	m.ObserveRequest(observe.Inbound, "SendMessage", observe.CodeOK, 2*time.Millisecond)
	m.ObserveDecision(observe.Inbound, false, 9*time.Microsecond)

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, "agentweave_requests_total{") ||
			strings.HasPrefix(line, `agentweave_auth_decisions_total{decision="denied"`) {
			fmt.Print(line)
		}
	}
	// Output:
	// agentweave_auth_decisions_total{decision="denied",direction="inbound"} 1
	// agentweave_auth_decisions_total{decision="denied",direction="outbound"} 0
	// agentweave_requests_total{code="ok",direction="inbound",operation="SendMessage"} 1
}

// Readiness follows the checks, and fails for good once shutdown starts.
func ExampleHealth() {
	h := observe.NewHealth()
	var loaded atomic.Bool
	h.AddReadiness("policy", func(context.Context) error {
		if !loaded.Load() {
			return errors.New("no policy loaded")
		}
		return nil
	})
	probe := func() {
		rec := httptest.NewRecorder()
		h.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		fmt.Print(rec.Code, " ", rec.Body.String())
	}
	probe()
	loaded.Store(true)
	probe()
	h.SetShuttingDown()
	probe()
	// Output:
	// 503 {"status":"not ready","checks":{"policy":{"ok":false,"error":"no policy loaded"}}}
	// 200 {"status":"ready","checks":{"policy":{"ok":true}}}
	// 503 {"status":"not ready","reason":"shutting down","checks":{}}
}

// The admin endpoints on their own loopback listener.
func ExampleServeAdmin() {
	ctx := context.Background()
	m, err := observe.NewMetrics(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	admin, err := observe.ServeAdmin(ctx, "127.0.0.1:0", observe.AdminHandler(m, observe.NewHealth()))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer admin.Close()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+admin.Addr()+"/healthz", nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.StatusCode, " ", string(body))
	// Output:
	// 200 {"status":"ok"}
}

// An agent with tracing disabled still passes its caller's trace context on
// to the agents it calls.
func ExampleTracing_Transport() {
	tr, err := observe.NewTracing(context.Background(), observe.TracingOptions{}) // disabled
	if err != nil {
		fmt.Println(err)
		return
	}
	next := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		fmt.Println("next agent got", r.Header.Get("traceparent"))
	}))
	defer next.Close()

	client := &http.Client{Transport: tr.Transport(nil)}
	agent := tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, next.URL, nil)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_ = resp.Body.Close()
	}), "agent")

	in := httptest.NewRequest(http.MethodPost, "/", nil)
	in.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	agent.ServeHTTP(httptest.NewRecorder(), in)
	// Output:
	// next agent got 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}

// Log lines carry the audit ID of the decision that admitted the request
// (and the trace and span IDs when the context holds a span).
func ExampleWithAuditID() {
	var buf bytes.Buffer
	log, err := observe.NewLogger(&buf, "info", "json")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := observe.WithAuditID(context.Background(), "0193e0c2-audit")
	log.InfoContext(ctx, "capability called", "capability", "search")

	var rec struct {
		Msg        string `json:"msg"`
		Capability string `json:"capability"`
		AuditID    string `json:"audit_id"`
	}
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %s (audit %s)\n", rec.Msg, rec.Capability, rec.AuditID)
	// Output:
	// capability called: search (audit 0193e0c2-audit)
}
