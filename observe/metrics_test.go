package observe_test

import (
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/agentweave/agentweave-go/observe"
)

// scrape fetches /metrics from a real admin listener on loopback and parses
// the Prometheus text format.
func scrape(t *testing.T, m *observe.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv, err := observe.ServeAdmin(t.Context(), "127.0.0.1:0", observe.AdminHandler(m, nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	resp := get(t, "http://"+srv.Addr()+"/metrics")
	if resp.code != http.StatusOK {
		t.Fatalf("GET /metrics = %d, want 200", resp.code)
	}
	if !strings.HasPrefix(resp.header.Get("Content-Type"), "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", resp.header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(resp.body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, resp.body)
	}
	return fams
}

type response struct {
	code   int
	header http.Header
	body   string
}

func get(t *testing.T, url string) response {
	t.Helper()
	return do(t, http.MethodGet, url)
}

func do(t *testing.T, method, url string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

// sample returns the value of the series of family name whose labels are
// exactly labels: a counter's or gauge's value, a histogram's count.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if !cmp.Equal(got, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetricsScrape(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := observe.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveRequest(observe.Inbound, "SendMessage", observe.CodeOK, 30*time.Microsecond)
	m.ObserveRequest(observe.Inbound, "SendMessage", observe.CodeOK, 3*time.Millisecond)
	m.ObserveRequest(observe.Outbound, "GetTask", observe.CodeDenied, time.Millisecond)
	m.ObserveRequest(observe.Inbound, "NotAMethod", "teapot", time.Millisecond)
	m.ObserveDecision(observe.Inbound, true, 8*time.Microsecond)
	m.ObserveDecision(observe.Inbound, false, 9*time.Microsecond)
	m.ObserveDecision(observe.Inbound, false, 9*time.Microsecond)
	m.Error(observe.KindPolicy)
	m.ConnOpened()
	m.ConnOpened()
	m.ConnOpened()
	m.ConnClosed()
	m.BreakerState("spiffe://example.org/agent/search/production", observe.BreakerOpen)
	m.BreakerState("spiffe://example.org/agent/search/production", 7) // ignored
	expiry := time.Unix(1_900_000_000, 500_000_000)
	m.SVIDUpdated(expiry.Add(-time.Hour), false)
	m.SVIDUpdated(expiry, true)
	m.HandshakeFailed(observe.ReasonUnauthorized)
	m.PolicyReload(true)
	m.PolicyReload(false)
	m.PolicyReload(true)
	m.RateLimited(observe.Inbound)

	fams := scrape(t, m)
	tests := []struct {
		name   string
		metric string
		labels []string
		want   float64
	}{
		{"ok sends", "agentweave_requests_total", []string{"direction", "inbound", "operation", "SendMessage", "code", "ok"}, 2},
		{"denied get", "agentweave_requests_total", []string{"direction", "outbound", "operation", "GetTask", "code", "denied"}, 1},
		{"unknown op and code", "agentweave_requests_total", []string{"direction", "inbound", "operation", "other", "code", "other"}, 1},
		{"send latency count", "agentweave_request_duration_seconds", []string{"direction", "inbound", "operation", "SendMessage"}, 2},
		{"allowed", "agentweave_auth_decisions_total", []string{"direction", "inbound", "decision", "allowed"}, 1},
		{"denied", "agentweave_auth_decisions_total", []string{"direction", "inbound", "decision", "denied"}, 2},
		{"outbound denied exported at zero", "agentweave_auth_decisions_total", []string{"direction", "outbound", "decision", "denied"}, 0},
		{"auth latency count", "agentweave_auth_check_duration_seconds", []string{"direction", "inbound"}, 3},
		{"policy errors", "agentweave_errors_total", []string{"kind", "policy"}, 1},
		{"store errors at zero", "agentweave_errors_total", []string{"kind", "store"}, 0},
		{"connections", "agentweave_active_connections", nil, 2},
		{"breaker open", "agentweave_circuit_breaker_state", []string{"target", "spiffe://example.org/agent/search/production"}, 2},
		{"svid expiry", "agentweave_svid_expiry_timestamp_seconds", nil, 1_900_000_000.5},
		{"rotations", "agentweave_svid_rotations_total", nil, 1},
		{"handshakes", "agentweave_tls_handshake_failures_total", []string{"reason", "unauthorized"}, 1},
		{"reloads ok", "agentweave_policy_reloads_total", []string{"result", "ok"}, 2},
		{"reloads refused", "agentweave_policy_reloads_total", []string{"result", "refused"}, 1},
		{"rate limited", "agentweave_rate_limited_total", []string{"direction", "inbound"}, 1},
		{"outbound rate limited at zero", "agentweave_rate_limited_total", []string{"direction", "outbound"}, 0},
	}
	for _, tt := range tests {
		got, ok := sample(fams, tt.metric, tt.labels...)
		if !ok {
			t.Errorf("%s: %s%v not exported", tt.name, tt.metric, tt.labels)
			continue
		}
		if got != tt.want {
			t.Errorf("%s: %s%v = %v, want %v", tt.name, tt.metric, tt.labels, got, tt.want)
		}
	}
	if _, ok := sample(fams, "agentweave_errors_total", "kind", "other"); ok {
		t.Error(`errors_total{kind="other"} exported before any unknown kind`)
	}

	// Buckets: 30µs falls in le=5e-05, 3ms in le=0.005.
	var h *dto.Histogram
	for _, mm := range fams["agentweave_request_duration_seconds"].GetMetric() {
		if len(mm.GetLabel()) == 2 && mm.GetLabel()[1].GetValue() == "SendMessage" {
			h = mm.GetHistogram()
		}
	}
	buckets := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if buckets[20e-6] != 0 || buckets[50e-6] != 1 || buckets[2.5e-3] != 1 || buckets[5e-3] != 2 || buckets[10] != 2 {
		t.Errorf("SendMessage buckets = %v, want 0 at 2e-05, 1 at 5e-05 and 0.0025, 2 from 0.005", buckets)
	}
	if got, want := h.GetSampleSum(), 0.00303; math.Abs(got-want) > 1e-12 {
		t.Errorf("SendMessage latency sum = %v, want %v", got, want)
	}
}

func TestMetricsNil(t *testing.T) {
	t.Parallel()
	var m *observe.Metrics
	m.ObserveRequest(observe.Inbound, "SendMessage", observe.CodeOK, time.Millisecond)
	m.ObserveDecision(observe.Outbound, false, time.Microsecond)
	m.Error(observe.KindStore)
	m.ConnOpened()
	m.ConnClosed()
	m.BreakerState("x", observe.BreakerHalfOpen)
	m.SVIDUpdated(time.Now(), true)
	m.HandshakeFailed(observe.ReasonTimeout)
	m.PolicyReload(false)
	m.RateLimited(observe.Outbound)
	srv, err := observe.ServeAdmin(t.Context(), "127.0.0.1:0", m.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	if got := get(t, "http://"+srv.Addr()+"/metrics").code; got != http.StatusNotFound {
		t.Errorf("nil Metrics.Handler() status = %d, want 404", got)
	}
}

func TestNewMetricsOwnRegistry(t *testing.T) {
	t.Parallel()
	m, err := observe.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveRequest(observe.Outbound, "SendMessage", observe.CodeUnavailable, time.Second)
	fams := scrape(t, m)
	for _, name := range []string{"go_goroutines", "agentweave_requests_total", "agentweave_active_connections"} {
		if fams[name] == nil {
			t.Errorf("own registry does not export %s", name)
		}
	}
}

func TestNewMetricsTwiceOnOneRegistry(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := observe.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	_, err := observe.NewMetrics(reg)
	var already prometheus.AlreadyRegisteredError
	if !errors.As(err, &already) {
		t.Fatalf("second NewMetrics on one registry: err = %v, want AlreadyRegisteredError", err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Errorf("registry broken after failed registration: %v", err)
	}
}

// A Registerer that is not a Gatherer still gets a working Handler.
func TestNewMetricsWrappedRegisterer(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m, err := observe.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"agent": "search"}, reg))
	if err != nil {
		t.Fatal(err)
	}
	m.Error(observe.KindAudit)
	m.Error(observe.KindAudit)
	if got, _ := sample(scrape(t, m), "agentweave_errors_total", "kind", "audit"); got != 2 {
		t.Errorf("errors_total{kind=audit} via Handler = %v, want 2", got)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	if got, _ := sample(byName, "agentweave_errors_total", "agent", "search", "kind", "audit"); got != 2 {
		t.Errorf("errors_total{agent=search,kind=audit} in the wrapped registry = %v, want 2", got)
	}
}

func TestMetricsConcurrent(t *testing.T) {
	t.Parallel()
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const workers, calls = 8, 500
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range calls {
				m.ObserveRequest(observe.Inbound, "ListTasks", observe.CodeOK, time.Millisecond)
				m.ObserveDecision(observe.Inbound, true, time.Microsecond)
				m.ConnOpened()
				m.ConnClosed()
			}
		})
	}
	wg.Wait()
	fams := scrape(t, m)
	if got, _ := sample(fams, "agentweave_requests_total", "direction", "inbound", "operation", "ListTasks", "code", "ok"); got != workers*calls {
		t.Errorf("requests_total = %v, want %d", got, workers*calls)
	}
	if got, _ := sample(fams, "agentweave_active_connections"); got != 0 {
		t.Errorf("active_connections = %v, want 0", got)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest(observe.Inbound, "SendMessage", observe.CodeOK, 150*time.Microsecond)
	}
}

func BenchmarkObserveRequestParallel(b *testing.B) {
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(observe.Inbound, "GetTask", observe.CodeNotFound, 150*time.Microsecond)
		}
	})
}

func BenchmarkObserveDecision(b *testing.B) {
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveDecision(observe.Inbound, true, 8*time.Microsecond)
	}
}

func BenchmarkObserveRequestNil(b *testing.B) {
	var m *observe.Metrics
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest(observe.Inbound, "SendMessage", observe.CodeOK, 150*time.Microsecond)
	}
}

// BenchmarkWithLabelValues is the baseline the pre-resolved children avoid.
func BenchmarkWithLabelValues(b *testing.B) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "c"}, []string{"direction", "operation", "code"})
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "h"}, []string{"direction", "operation"})
	b.ReportAllocs()
	for b.Loop() {
		c.WithLabelValues(observe.Inbound, "SendMessage", observe.CodeOK).Inc()
		h.WithLabelValues(observe.Inbound, "SendMessage").Observe(150e-6)
	}
}
