package agentweave_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/config"
)

// scrapeMetrics reads an agent's /metrics from its admin listener.
func scrapeMetrics(t *testing.T, a *agentweave.Agent) map[string]*dto.MetricFamily {
	t.Helper()
	body := get(t, "http://"+a.AdminAddr()+"/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// metricSeries returns each series of family name as its labels
// (name=value, comma-separated, sorted by name) and its value: a
// counter's or gauge's value, a histogram's count.
func metricSeries(fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		out[strings.Join(labels, ",")] = m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return out
}

// sumSeries adds the values of the series of family name whose labels
// contain every one of match (name=value).
func sumSeries(fams map[string]*dto.MetricFamily, name string, match ...string) float64 {
	total := 0.0
next:
	for labels, v := range metricSeries(fams, name) {
		for _, m := range match {
			if !strings.Contains(","+labels+",", ","+m+",") {
				continue next
			}
		}
		total += v
	}
	return total
}

// TestDenialMetrics: each agent counts the denials it decides in
// agentweave_denials_total, the caller label holding the peer (the caller
// inbound, the callee outbound) and action the capability or, without
// one, the operation; the denials add up to the denied decisions.
func TestDenialMetrics(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Policy: `package agentweave.authz

default decision := {"allow": true}

decision := {"allow": false, "reason": "reporters may not fetch cards"} if {
	input.direction == "outbound"
	input.operation == "GetAgentCard"
	startswith(input.caller_spiffe_id, "spiffe://example.org/agent/reporter/")
}

decision := {"allow": false, "reason": "auditors may not search"} if {
	input.direction == "inbound"
	input.action == "search"
	startswith(input.caller_spiffe_id, "spiffe://example.org/agent/auditor/")
}
`})
	search := net.Agent("search", search)
	reporter, auditor := net.Agent("reporter"), net.Agent("auditor")

	// The reporter's own policy refuses it the search agent's card: an
	// outbound denial without a capability, counted under its operation.
	_, err := reporter.Client().Peer(t.Context(), spiffeid.RequireFromString(net.ID("search")))
	var de *authz.DenyError
	if !errors.As(err, &de) || de.Input.Direction != authz.Outbound {
		t.Fatalf("Peer(search) by reporter = %v, want an outbound denial", err)
	}
	// The search agent refuses the auditor's search: an inbound denial.
	if _, err := auditor.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1}); err == nil || !strings.Contains(err.Error(), "auditors may not search") {
		t.Fatalf("Call by auditor = %v, want the search agent's denial", err)
	}

	tests := []struct {
		agent *agentweave.Agent
		name  string
		want  map[string]float64
	}{
		{reporter, "reporter", map[string]float64{
			"action=GetAgentCard,caller=" + net.ID("search") + ",direction=outbound,reason=reporters may not fetch cards": 1,
		}},
		{search, "search", map[string]float64{
			"action=search,caller=" + net.ID("auditor") + ",direction=inbound,reason=auditors may not search": 1,
		}},
		{auditor, "auditor", map[string]float64{}}, // its decisions were all allowed
	}
	for _, tt := range tests {
		fams := scrapeMetrics(t, tt.agent)
		if diff := cmp.Diff(tt.want, metricSeries(fams, "agentweave_denials_total")); diff != "" {
			t.Errorf("%s: agentweave_denials_total (-want +got):\n%s", tt.name, diff)
		}
		denied := sumSeries(fams, "agentweave_auth_decisions_total", "decision=denied")
		if got := sumSeries(fams, "agentweave_denials_total"); got != denied {
			t.Errorf("%s: denials_total sums to %v, auth_decisions_total{decision=denied} to %v; want equal", tt.name, got, denied)
		}
	}
}

// TestAuditFailureMetrics: an audit file whose fsync fails (/dev/null on
// Linux) in production: the failed sync is timed and counted as an audit
// error, so is the record it failed, and the call the Enforcer then
// refuses is a denial with the reason "audit record could not be written".
func TestAuditFailureMetrics(t *testing.T) {
	t.Parallel()
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Skip(err)
	}
	serr := f.Sync()
	_ = f.Close()
	if serr == nil {
		t.Skip("fsync of " + os.DevNull + " succeeds here")
	}
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(name string, cfg *agentweave.Config) {
		if name == "caller" {
			cfg.Authorization.Audit = config.Audit{Destination: os.DevNull, Sync: "every"}
		}
	}})
	net.Agent("search", search)
	caller := net.Agent("caller")

	_, err = caller.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1})
	var de *authz.DenyError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), "audit record could not be written") {
		t.Fatalf("Call with a failing audit file = %v, want a denial for the audit record", err)
	}
	fams := scrapeMetrics(t, caller)
	want := map[string]float64{
		"action=search,caller=" + net.ID("search") + ",direction=outbound,reason=audit record could not be written": 1,
	}
	if diff := cmp.Diff(want, metricSeries(fams, "agentweave_denials_total")); diff != "" {
		t.Errorf("agentweave_denials_total (-want +got):\n%s", diff)
	}
	for _, c := range []struct {
		name, family string
		match        []string
		want         float64
	}{
		{"the failed fsync, timed", "agentweave_audit_sync_duration_seconds", nil, 1},
		{"the failed fsync and the record it failed", "agentweave_errors_total", []string{"kind=audit"}, 2},
		{"denied decisions", "agentweave_auth_decisions_total", []string{"direction=outbound", "decision=denied"}, 1},
		{"allowed decisions", "agentweave_auth_decisions_total", []string{"direction=outbound", "decision=allowed"}, 0},
	} {
		if got := sumSeries(fams, c.family, c.match...); got != c.want {
			t.Errorf("%s: %s%v = %v, want %v", c.name, c.family, c.match, got, c.want)
		}
	}
}

// TestAuditSyncMetric: with sync every, each audited decision's fsync is
// timed in agentweave_audit_sync_duration_seconds.
func TestAuditSyncMetric(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(_ string, cfg *agentweave.Config) {
		cfg.Authorization.Audit.Sync = "every"
	}})
	net.Agent("search", search)
	orch := net.Agent("orchestrator")
	if n := sumSeries(scrapeMetrics(t, orch), "agentweave_audit_sync_duration_seconds"); n != 0 {
		t.Errorf("audit_sync_duration_seconds count before any decision = %v, want 0", n)
	}
	if _, err := orch.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1}); err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyFiles(net.AuditFile("orchestrator"))
	if err != nil {
		t.Fatal(err)
	}
	fams := scrapeMetrics(t, orch)
	// One fsync per record, or fewer when records arrive together (group
	// commit).
	if n := sumSeries(fams, "agentweave_audit_sync_duration_seconds"); n < 1 || n > float64(rep.Records) {
		t.Errorf("audit_sync_duration_seconds count = %v, want 1 to %d (the records written)", n, rep.Records)
	}
	if n := sumSeries(fams, "agentweave_errors_total", "kind=audit"); n != 0 {
		t.Errorf(`errors_total{kind="audit"} = %v, want 0`, n)
	}
}

// TestPolicyRevisionMetric: agentweave_policy_revision_info has one series,
// the revision that decides (the one audit records name), and follows a
// reload.
func TestPolicyRevisionMetric(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{})
	s := net.Agent("search", search)
	orch := net.Agent("orchestrator")
	revision := func() string {
		t.Helper()
		got := metricSeries(scrapeMetrics(t, s), "agentweave_policy_revision_info")
		if len(got) != 1 {
			t.Fatalf("agentweave_policy_revision_info = %v, want one series", got)
		}
		for labels, v := range got {
			rev, ok := strings.CutPrefix(labels, "revision=")
			if !ok || v != 1 {
				t.Fatalf("agentweave_policy_revision_info = %v, want {revision=…} 1", got)
			}
			return rev
		}
		return ""
	}
	audited := func(rev string) {
		t.Helper()
		if _, err := orch.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(net.AuditFile("search"))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if last := lines[len(lines)-1]; !strings.Contains(last, `"policy_revision":"`+rev+`"`) {
			t.Errorf("the last decision was made by another revision than %s: %s", rev, last)
		}
	}
	first := revision()
	if !strings.HasPrefix(first, "sha256:") {
		t.Errorf("revision = %q, want the policy's sha256:…", first)
	}
	audited(first)

	net.SetPolicy(agentweavetest.DefaultPolicy + "\n# changed\nallow if input.operation == \"GetAgentCard\"\n")
	waitFor(t, func() bool { return revision() != first })
	audited(revision())
	if got := sumSeries(scrapeMetrics(t, s), "agentweave_policy_reloads_total", "result=ok"); got != 1 {
		t.Errorf(`policy_reloads_total{result="ok"} = %v, want 1`, got)
	}
}

// TestPolicyRevisionMetricRemote: with opa_endpoint, the revision is
// "remote" (the OPA server's own metrics name its bundles').
func TestPolicyRevisionMetricRemote(t *testing.T) {
	t.Parallel()
	opa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.URL.Path, "/v1/data/agentweave/authz") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"result":{"allow":true}}`))
	}))
	t.Cleanup(opa.Close)
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(_ string, cfg *agentweave.Config) {
		cfg.Authorization.PolicyDir, cfg.Authorization.OPAEndpoint = "", opa.URL
	}})
	s := net.Agent("search", search)
	want := map[string]float64{"revision=remote": 1}
	if diff := cmp.Diff(want, metricSeries(scrapeMetrics(t, s), "agentweave_policy_revision_info")); diff != "" {
		t.Errorf("agentweave_policy_revision_info (-want +got):\n%s", diff)
	}
}

// TestReadyMetric: agentweave_ready is 1 while the agent is ready and 0
// once a shutdown begins, while in-flight work drains.
func TestReadyMetric(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{})
	started, release := make(chan struct{}), make(chan struct{})
	slow := net.Agent("slow", agentweave.Capability{
		Name: "work", Description: "works until released",
		Handler: func(ctx context.Context, _ *agentweave.Request) (any, error) {
			close(started)
			select {
			case <-release:
				return "done", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	})
	ready := func() float64 {
		v, ok := metricSeries(scrapeMetrics(t, slow), "agentweave_ready")[""]
		if !ok {
			t.Fatal("agentweave_ready not exported")
		}
		return v
	}
	if got := ready(); got != 1 {
		t.Errorf("agentweave_ready = %v while serving, want 1", got)
	}
	caller := net.Agent("caller")
	called := make(chan error, 1)
	go func() {
		_, err := caller.Call(t.Context(), net.ID("slow"), "work", nil)
		called <- err
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- slow.Shutdown(t.Context()) }()
	waitFor(t, func() bool { return ready() == 0 })
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if err := <-called; err != nil {
		t.Errorf("in-flight call across shutdown = %v", err)
	}
}
