package monitoring_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// scrapePolicy allows calls within the trust domain, except to the
// capability "forbidden", which it denies with a reason.
const scrapePolicy = `package agentweave.authz

default decision := {"allow": false, "reason": "outside the trust domain"}

decision := {"allow": false, "reason": "nobody may call forbidden"} if input.action == "forbidden"

decision := {"allow": true} if {
	input.caller_trust_domain == input.callee_trust_domain
	input.action != "forbidden"
}
`

// TestQueriedMetricsAreExported collects the metric names every alert
// expression and every dashboard query selects (parsed with Prometheus's
// PromQL parser) and requires a real agent to export each on its admin
// listener's /metrics: a metric renamed or never added in observe/ makes
// a panel empty and an alert silent, and fails this test with its name.
//
// The agent is a real one (agentweavetest: production mode, mutual TLS,
// embedded OPA, an audit file fsynced per record) driven so that every
// family has a series: an allowed call, a call the policy denies, and a
// call to a peer that is gone, which opens that peer's circuit breaker.
func TestQueriedMetricsAreExported(t *testing.T) {
	t.Parallel()
	_, rules, _ := renderRules(t)
	var alertQueries []query
	for _, r := range rules {
		alertQueries = append(alertQueries, query{where: "alert " + r.Alert, expr: r.Expr})
	}
	used := map[string][]string{} // metric name → where it is queried
	for _, p := range append(parseQueries(t, alertQueries, false), parseQueries(t, dashboardQueries(t), true)...) {
		for _, vs := range p.selectors {
			if n := metricName(vs); !slices.Contains(used[n], p.where) {
				used[n] = append(used[n], p.where)
			}
		}
	}

	families := scrapeDrivenAgent(t)
	names := slices.Sorted(maps.Keys(used))
	t.Logf("%d metric names queried: %s", len(names), strings.Join(names, ", "))
	var unknown []string
	for name, where := range used {
		if !exported(families, name) {
			unknown = append(unknown, fmt.Sprintf("%s (in %s)", name, strings.Join(where, "; ")))
		}
	}
	slices.Sort(unknown)
	if len(unknown) > 0 {
		var have []string
		for n := range families {
			if strings.HasPrefix(n, "agentweave_") {
				have = append(have, n)
			}
		}
		slices.Sort(have)
		t.Errorf("the chart's queries name %d metrics a real agent does not export:\n  %s\nthe agent exports: %s",
			len(unknown), strings.Join(unknown, "\n  "), strings.Join(have, ", "))
	}
}

// exported reports whether families has name, or name is a histogram's or
// summary's _bucket, _sum or _count series of a family it has.
func exported(families map[string]*dto.MetricFamily, name string) bool {
	if f, ok := families[name]; ok && len(f.GetMetric()) > 0 {
		return true
	}
	base := baseName(name)
	if base == name {
		return false
	}
	f, ok := families[base]
	if !ok || len(f.GetMetric()) == 0 {
		return false
	}
	switch f.GetType() {
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return true
	case dto.MetricType_SUMMARY:
		return !strings.HasSuffix(name, "_bucket")
	default:
		return false
	}
}

// scrapeDrivenAgent starts agents on loopback, has the caller make an
// allowed call, a denied call and a call to a stopped peer, and returns the
// caller's /metrics, parsed.
func scrapeDrivenAgent(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	net := agentweavetest.New(t, agentweavetest.Options{
		Policy:       scrapePolicy,
		AgentOptions: []agentweave.Option{agentweave.WithLogger(slog.New(slog.DiscardHandler))},
		Config: func(_ string, cfg *agentweave.Config) {
			// fsync every audit record (agentweave_audit_sync_duration_seconds
			// observes each); one failure opens a breaker; no retries.
			cfg.Authorization.Audit.Sync = "every"
			cfg.Transport.CircuitBreaker = config.CircuitBreaker{FailureThreshold: 1, RecoveryTimeout: time.Minute, SuccessThreshold: 1}
			cfg.Transport.Retry.MaxAttempts = 1
		},
	})
	echo := func(_ context.Context, req *agentweave.Request) (any, error) { return "ok", nil }
	net.Agent("search",
		agentweave.Capability{Name: "search", Description: "answers ok", Handler: echo},
		agentweave.Capability{Name: "forbidden", Description: "never reached", Handler: echo})
	gone := net.Agent("gone")
	if err := gone.Close(); err != nil {
		t.Fatal(err)
	}
	caller := net.Agent("caller")
	ctx := t.Context()

	if _, err := caller.Call(ctx, net.ID("search"), "search", map[string]string{"q": "x"}); err != nil {
		t.Fatalf("Call(search) = %v, want success", err)
	}
	var de *authz.DenyError
	if _, err := caller.Call(ctx, net.ID("search"), "forbidden", nil); !errors.As(err, &de) {
		t.Fatalf("Call(forbidden) = %v, want a policy denial", err)
	}
	if _, err := caller.Call(ctx, net.ID("gone"), "ping", nil); err == nil {
		t.Fatal("Call(gone) succeeded, want a connection failure")
	}

	families := scrape(t, caller.AdminAddr())

	// The traffic happened: the breaker of the stopped peer is open.
	open := false
	for _, m := range families["agentweave_circuit_breaker_state"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "target" && l.GetValue() == net.ID("gone") && m.GetGauge().GetValue() == 2 {
				open = true
			}
		}
	}
	if !open {
		t.Errorf("agentweave_circuit_breaker_state{target=%q} is not 2 (open) after a call to the stopped peer", net.ID("gone"))
	}
	return families
}

// scrape GETs an agent's /metrics in the text format and parses it.
func scrape(t *testing.T, adminAddr string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+adminAddr+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return families
}

// TestOPASidecarBreakerIsExported stops a real OPA server an agent decides
// with (authorization.opa_endpoint, the chart's sidecar mode) until the
// agent's OPA breaker opens, and requires a series of
// agentweave_circuit_breaker_state whose target matches the
// AgentWeaveOPASidecarBreakerOpen alert's default opaBreaker.target, not
// closed: without it that alert can never fire.
func TestOPASidecarBreakerIsExported(t *testing.T) {
	t.Parallel()
	policy := filepath.Join(t.TempDir(), "policy")
	if err := os.Mkdir(policy, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policy, "policy.rego"), []byte(agentweavetest.DefaultPolicy), 0o600); err != nil {
		t.Fatal(err)
	}
	server := harness.StartOPA(t, policy) // skips, or fails under CI / AGENTWEAVE_REQUIRE_INFRA, without .bin/opa
	net := agentweavetest.New(t, agentweavetest.Options{
		AgentOptions: []agentweave.Option{agentweave.WithLogger(slog.New(slog.DiscardHandler))},
		Config: func(_ string, cfg *agentweave.Config) {
			// The OPA server decides instead of the network's policy directory.
			cfg.Authorization = config.Authorization{
				OPAEndpoint:    server.URL,
				Timeout:        300 * time.Millisecond,
				CircuitBreaker: config.CircuitBreaker{FailureThreshold: 1, RecoveryTimeout: time.Minute, SuccessThreshold: 1},
				Audit:          cfg.Authorization.Audit,
			}
		},
	})
	net.Agent("search")
	caller := net.Agent("caller")
	if _, err := caller.Call(t.Context(), net.ID("search"), "ping", nil); err != nil {
		t.Fatalf("Call(ping) with OPA up = %v", err)
	}
	server.Stop(t)
	var de *authz.DenyError
	for range 3 {
		if _, err := caller.Call(t.Context(), net.ID("search"), "ping", nil); !errors.As(err, &de) {
			t.Fatalf("Call(ping) with OPA down = %v, want a denial (fail closed)", err)
		}
	}
	if !strings.Contains(de.Decision.Reason, "circuit open") {
		t.Fatalf("third denial with OPA down: reason %q, want the OPA breaker open (failure_threshold 1)", de.Decision.Reason)
	}

	vals := monitoringValues(t)
	target := vals["monitoring"].(map[string]any)["prometheusRule"].(map[string]any)["opaBreaker"].(map[string]any)["target"].(string)
	re := regexp.MustCompile("^(?:" + target + ")$") // anchored, as PromQL's =~ is
	families := scrape(t, caller.AdminAddr())
	var targets []string
	for _, m := range families["agentweave_circuit_breaker_state"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() != "target" {
				continue
			}
			targets = append(targets, fmt.Sprintf("%s=%g", l.GetValue(), m.GetGauge().GetValue()))
			if re.MatchString(l.GetValue()) && m.GetGauge().GetValue() > 0 {
				return
			}
		}
	}
	t.Errorf("with OPA down and its breaker open, no agentweave_circuit_breaker_state series has a target matching %q and a non-zero state (series: %v): AgentWeaveOPASidecarBreakerOpen can never fire", target, targets)
}
