package observe_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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
	m.Denied(observe.Inbound, "spiffe://example.org/a", "search", "no")
	m.AuditSync(time.Millisecond, errors.New("sync failed"))
	m.PolicyRevision("v1")
	m.ExportReadiness(observe.NewHealth())
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
				m.Denied(observe.Inbound, "spiffe://example.org/a", "search", "no")
			}
		})
	}
	wg.Wait()
	fams := scrape(t, m)
	if got, _ := sample(fams, "agentweave_denials_total", "direction", "inbound", "caller", "spiffe://example.org/a", "action", "search", "reason", "no"); got != workers*calls {
		t.Errorf("denials_total = %v, want %d", got, workers*calls)
	}
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

// series returns the label sets of family name, each as name=value pairs
// joined by commas, with their values.
func series(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		v := m.GetCounter().GetValue() + m.GetGauge().GetValue()
		out[strings.Join(labels, ",")] = v
	}
	return out
}

func TestDenied(t *testing.T) {
	t.Parallel()
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if fams := scrape(t, m); fams["agentweave_denials_total"] != nil {
		t.Errorf("agentweave_denials_total exported before any denial: %v", series(fams, "agentweave_denials_total"))
	}
	const orch, search = "spiffe://example.org/agent/orchestrator/production", "spiffe://example.org/agent/search/production"
	long := strings.Repeat("é", 50) // 100 bytes: cut at 80, between two characters
	m.Denied(observe.Inbound, orch, "search", "not allowed")
	m.Denied(observe.Inbound, orch, "search", "not allowed")
	m.Denied(observe.Outbound, search, "GetAgentCard", "reporters may not call out")
	m.Denied(observe.Inbound, orch, "bad\xffname", long)
	m.Denied("sideways", orch, "search", "not allowed")

	got := series(scrape(t, m), "agentweave_denials_total")
	want := map[string]float64{
		"action=search,caller=" + orch + ",direction=inbound,reason=not allowed":                         2,
		"action=GetAgentCard,caller=" + search + ",direction=outbound,reason=reporters may not call out": 1,
		"action=bad\uFFFDname,caller=" + orch + ",direction=inbound,reason=" + long[:80]:                 1,
		"action=search,caller=" + orch + ",direction=other,reason=not allowed":                           1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("agentweave_denials_total (-want +got):\n%s", diff)
	}
}

// TestDeniedCaps: past each label's cap, new values are counted as
// "other"; values already seen keep their series; past the series cap, a
// new combination is counted with all three labels "other".
func TestDeniedCaps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		limit int
		label string
		deny  func(m *observe.Metrics, v string)
	}{
		{"callers", observe.MaxDenialCallers, "caller", func(m *observe.Metrics, v string) { m.Denied(observe.Inbound, v, "search", "no") }},
		{"actions", observe.MaxDenialActions, "action", func(m *observe.Metrics, v string) { m.Denied(observe.Inbound, "spiffe://example.org/a", v, "no") }},
		{"reasons", observe.MaxDenialReasons, "reason", func(m *observe.Metrics, v string) { m.Denied(observe.Inbound, "spiffe://example.org/a", "search", v) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := observe.NewMetrics(prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			const extra = 7
			for i := range tt.limit + extra {
				tt.deny(m, fmt.Sprintf("value-%d", i))
			}
			tt.deny(m, "value-0") // admitted before the cap: still its own series
			byValue := map[string]float64{}
			fams := scrape(t, m)
			for _, s := range fams["agentweave_denials_total"].GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == tt.label {
						byValue[l.GetValue()] += s.GetCounter().GetValue()
					}
				}
			}
			if got, want := len(byValue), tt.limit+1; got != want {
				t.Errorf("%d distinct %s values exported, want %d (the cap, plus other)", got, tt.label, want)
			}
			if got := byValue["other"]; got != extra {
				t.Errorf("%s=other = %v, want %d", tt.label, got, extra)
			}
			if got := byValue["value-0"]; got != 2 {
				t.Errorf("%s=value-0 = %v, want 2", tt.label, got)
			}
			if got := byValue[fmt.Sprintf("value-%d", tt.limit-1)]; got != 1 {
				t.Errorf("%s=value-%d (the last admitted) = %v, want 1", tt.label, tt.limit-1, got)
			}
		})
	}

	t.Run("series", func(t *testing.T) {
		t.Parallel()
		m, err := observe.NewMetrics(prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		// Callers × actions, each within its cap, make more combinations
		// than the series cap.
		n := 0
		for c := range observe.MaxDenialCallers {
			for a := range observe.MaxDenialActions / 2 {
				m.Denied(observe.Inbound, fmt.Sprintf("spiffe://example.org/c%d", c), fmt.Sprintf("a%d", a), "no")
				n++
			}
		}
		if n <= observe.MaxDenialSeries {
			t.Fatalf("test made %d combinations, not more than the cap %d", n, observe.MaxDenialSeries)
		}
		got := series(scrape(t, m), "agentweave_denials_total")
		if len(got) != observe.MaxDenialSeries+1 {
			t.Errorf("%d series, want %d (the cap, plus other)", len(got), observe.MaxDenialSeries+1)
		}
		total := 0.0
		for _, v := range got {
			total += v
		}
		if total != float64(n) {
			t.Errorf("series sum to %v, want every denial (%d)", total, n)
		}
		if v := got["action=other,caller=other,direction=inbound,reason=other"]; v != float64(n-observe.MaxDenialSeries) {
			t.Errorf("the overflow series = %v, want %d", v, n-observe.MaxDenialSeries)
		}
	})
}

func TestAuditSync(t *testing.T) {
	t.Parallel()
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := sample(scrape(t, m), "agentweave_audit_sync_duration_seconds"); !ok || got != 0 {
		t.Errorf("audit_sync_duration_seconds count at start = %v (exported %v), want 0, exported", got, ok)
	}
	m.AuditSync(300*time.Microsecond, nil)
	m.AuditSync(2*time.Second, nil)
	m.AuditSync(40*time.Microsecond, errors.New("sync audit.log: input/output error"))
	fams := scrape(t, m)
	if got, _ := sample(fams, "agentweave_audit_sync_duration_seconds"); got != 3 {
		t.Errorf("audit_sync_duration_seconds count = %v, want 3", got)
	}
	if got, _ := sample(fams, "agentweave_errors_total", "kind", "audit"); got != 1 {
		t.Errorf(`errors_total{kind="audit"} = %v, want 1 (the failed sync)`, got)
	}
	buckets := map[float64]uint64{}
	for _, b := range fams["agentweave_audit_sync_duration_seconds"].GetMetric()[0].GetHistogram().GetBucket() {
		buckets[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	want := map[float64]uint64{
		50e-6: 1, 100e-6: 1, 250e-6: 1, 500e-6: 2, 1e-3: 2, 2.5e-3: 2, 5e-3: 2, 10e-3: 2,
		25e-3: 2, 50e-3: 2, 100e-3: 2, 250e-3: 2, 500e-3: 2, 1: 2, math.Inf(1): 3,
	}
	if diff := cmp.Diff(want, buckets); diff != "" {
		t.Errorf("audit_sync_duration_seconds buckets (-want +got):\n%s", diff)
	}
}

func TestPolicyRevision(t *testing.T) {
	t.Parallel()
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		set  string
		want map[string]float64
	}{
		{"sha256:0123456789ab", map[string]float64{"revision=sha256:0123456789ab": 1}},
		{"sha256:0123456789ab", map[string]float64{"revision=sha256:0123456789ab": 1}},
		{"v2", map[string]float64{"revision=v2": 1}},
		{"", map[string]float64{}},
		{"remote", map[string]float64{"revision=remote": 1}},
	}
	for _, s := range steps {
		m.PolicyRevision(s.set)
		got := series(scrape(t, m), "agentweave_policy_revision_info")
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Errorf("after PolicyRevision(%q): agentweave_policy_revision_info (-want +got):\n%s", s.set, diff)
		}
	}
}

func TestReadyGauge(t *testing.T) {
	t.Parallel()
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sample(scrape(t, m), "agentweave_ready"); ok {
		t.Error("agentweave_ready exported without a Health")
	}
	h := observe.NewHealth()
	m.ExportReadiness(h)
	var failing, blocking atomic.Bool
	h.AddReadiness("store", func(ctx context.Context) error {
		if blocking.Load() {
			<-ctx.Done()
			return ctx.Err()
		}
		if failing.Load() {
			return errors.New("store unreachable")
		}
		return nil
	})
	ready := func(what string, want float64) {
		t.Helper()
		start := time.Now()
		got, ok := sample(scrape(t, m), "agentweave_ready")
		if !ok || got != want {
			t.Errorf("%s: agentweave_ready = %v (exported %v), want %v", what, got, ok, want)
		}
		// The check timeout is 2s; the scrape waits ReadyTimeout at most.
		if d := time.Since(start); d > observe.ReadyTimeout+time.Second {
			t.Errorf("%s: the scrape took %v, want at most ReadyTimeout (%v) and some", what, d, observe.ReadyTimeout)
		}
	}
	ready("checks pass", 1)
	failing.Store(true)
	ready("a check fails", 0)
	failing.Store(false)
	ready("it passes again", 1)
	blocking.Store(true)
	ready("a check hangs", 0)
	blocking.Store(false)
	h.SetShuttingDown()
	ready("shutting down", 0)
}

// BenchmarkDenied is the cost of a denial (allowed decisions do not pay it).
func BenchmarkDenied(b *testing.B) {
	m, err := observe.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.Denied(observe.Inbound, "spiffe://example.org/agent/reporter/production", "search", "reporters may not search")
	}
}
