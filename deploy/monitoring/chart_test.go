package monitoring_test

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/prometheus/model/labels"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	chartutil "helm.sh/helm/v4/pkg/chart/common/util"
	"sigs.k8s.io/yaml"
)

// requiredAlerts are the alerts the chart promises operators (docs/deploy.md
// has a runbook section for each).
var requiredAlerts = []string{
	"AgentWeaveAuditWriteFailing",
	"AgentWeaveDenyRateSpike",
	"AgentWeaveHandshakeFailureSpike",
	"AgentWeaveNotReady",
	"AgentWeaveOPASidecarBreakerOpen",
	"AgentWeavePolicyReloadFailing",
	"AgentWeaveReadinessFlapping",
	"AgentWeaveSVIDExpiringWithoutRotation",
}

// TestChartHoldsMonitoringDefaults requires the chart's values.yaml and
// values.schema.json to hold monitoring.prometheusRule and
// monitoring.dashboard as testdata has them: the defaults every other test
// renders with, and the schema TestValuesSchemaFragment checks
// (descriptions aside).
func TestChartHoldsMonitoringDefaults(t *testing.T) {
	t.Parallel()
	c := loadChart(t)
	want, _ := monitoringValues(t)["monitoring"].(map[string]any)
	got, _ := c.Values["monitoring"].(map[string]any)
	var schema map[string]any
	if err := json.Unmarshal(c.Schema, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	gotSchema, _ := schemaAt(schema, "monitoring")["properties"].(map[string]any)
	wantSchema := schemaFragment(t)
	noDescriptions := cmpopts.IgnoreMapEntries(func(k string, _ any) bool { return k == "description" })
	for _, k := range []string{"prometheusRule", "dashboard"} {
		if diff := cmp.Diff(want[k], got[k]); diff != "" {
			t.Errorf("values.yaml monitoring.%s differs from %s (-want +got):\n%s", k, valuesFixture, diff)
		}
		if diff := cmp.Diff(wantSchema[k], gotSchema[k], noDescriptions); diff != "" {
			t.Errorf("values.schema.json monitoring.%s differs from %s (-want +got):\n%s", k, schemaFixture, diff)
		}
	}
}

func TestMonitoringOffByDefault(t *testing.T) {
	t.Parallel()
	objs := renderChart(t, monitoringValues(t))
	for _, o := range objs {
		if o.Kind == "PrometheusRule" || (o.Kind == "ConfigMap" && o.Metadata.Labels[dashboardCMLabel] != "") {
			t.Errorf("with monitoring's defaults the chart renders %s %s, want neither PrometheusRule nor dashboard", o.Kind, o.Metadata.Name)
		}
	}
}

func TestPrometheusRule(t *testing.T) {
	t.Parallel()
	pr, rules, _ := renderRules(t,
		"monitoring.prometheusRule.labels", map[string]any{"release": "kube-prometheus-stack", "app.kubernetes.io/part-of": "payments"},
		"monitoring.prometheusRule.annotations", map[string]any{"owner": "sre"},
		"monitoring.prometheusRule.alertLabels", map[string]any{"team": "payments", "severity": "ignored"},
	)
	if pr.APIVersion != ruleAPIVersion || pr.Metadata.Name != fullname || pr.Metadata.Namespace != releaseNamespace {
		t.Errorf("PrometheusRule = %s %s/%s, want %s %s/%s", pr.APIVersion, pr.Metadata.Namespace, pr.Metadata.Name, ruleAPIVersion, releaseNamespace, fullname)
	}
	// The values' labels are merged over the chart's, and win.
	for k, want := range map[string]string{
		"release":                      "kube-prometheus-stack",
		"app.kubernetes.io/part-of":    "payments",
		"app.kubernetes.io/name":       "agentweave",
		"app.kubernetes.io/instance":   releaseName,
		"app.kubernetes.io/managed-by": "Helm",
	} {
		if got := pr.Metadata.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q", k, got, want)
		}
	}
	if got := pr.Metadata.Annotations["owner"]; got != "sre" {
		t.Errorf("annotation owner = %q, want sre", got)
	}

	var alerts []string
	for _, r := range rules {
		alerts = append(alerts, r.Alert)
		if r.Alert == "" {
			t.Errorf("rule %q is not an alert", r.Expr)
			continue
		}
		sev := r.Labels["severity"]
		if sev != "critical" && sev != "warning" {
			t.Errorf("%s: severity = %q, want the values' critical or warning (over alertLabels' severity)", r.Alert, sev)
		}
		if r.Labels["team"] != "payments" {
			t.Errorf("%s: labels = %v, want alertLabels' team=payments", r.Alert, r.Labels)
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		if got, want := r.Annotations["runbook_url"], runbookBase+"#alert-"+strings.ToLower(r.Alert); got != want {
			t.Errorf("%s: runbook_url = %q, want %q (the anchor of \"### Alert: %s\" in docs/deploy.md)", r.Alert, got, want, r.Alert)
		}
	}
	slices.Sort(alerts)
	if diff := cmp.Diff(requiredAlerts, alerts); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}

// TestPrometheusRuleScoped parses every alert expression and requires each
// of its selectors to select this release's agents exactly as
// agentweave.metricsSelector does: namespace and the admin Service's job.
func TestPrometheusRuleScoped(t *testing.T) {
	t.Parallel()
	_, rules, _ := renderRules(t)
	var qs []query
	for _, r := range rules {
		qs = append(qs, query{where: "alert " + r.Alert, expr: r.Expr})
	}
	for _, p := range parseQueries(t, qs, false) {
		for _, vs := range p.selectors {
			ns, okNS := matcher(vs, "namespace", labels.MatchEqual)
			j, okJob := matcher(vs, "job", labels.MatchEqual)
			if !okNS || !okJob || ns != releaseNamespace || j != job {
				t.Errorf("%s: selector %s does not select namespace=%q, job=%q", p.where, vs, releaseNamespace, job)
			}
		}
	}
}

// TestPrometheusRuleThresholds changes each configurable threshold and
// finds it in its alert.
func TestPrometheusRuleThresholds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		path  string
		value any
		alert string
		want  string // in the alert's expr, or "for:<d>" / "severity:<s>"
	}{
		{"svid threshold", "svidExpiry.thresholdSeconds", 600, "AgentWeaveSVIDExpiringWithoutRotation", "- time()) < 600"},
		{"svid for", "svidExpiry.for", "15m", "AgentWeaveSVIDExpiringWithoutRotation", "for:15m"},
		{"policy window", "policyReload.window", "2h", "AgentWeavePolicyReloadFailing", "[2h]"},
		{"audit window", "auditWrite.window", "10m", "AgentWeaveAuditWriteFailing", "[10m]"},
		{"audit severity", "auditWrite.severity", "page", "AgentWeaveAuditWriteFailing", "severity:page"},
		{"deny ratio", "denyRate.ratio", 0.5, "AgentWeaveDenyRateSpike", ") > 0.5\nand"},
		{"deny minimum", "denyRate.minPerSecond", 2, "AgentWeaveDenyRateSpike", "[5m])) > 2"},
		{"deny window", "denyRate.window", "15m", "AgentWeaveDenyRateSpike", `decision="denied"}[15m]`},
		{"opa target", "opaBreaker.target", "opa https://opa:8181", "AgentWeaveOPASidecarBreakerOpen", `target=~"opa https://opa:8181"`},
		{"flapping changes", "readinessFlapping.changes", 8, "AgentWeaveReadinessFlapping", "[15m]) > 8"},
		{"flapping window", "readinessFlapping.window", "1h", "AgentWeaveReadinessFlapping", "[1h]) > 4"},
		{"not ready for", "notReady.for", "10m", "AgentWeaveNotReady", "for:10m"},
		{"handshake rate", "handshakeFailures.perSecond", 5, "AgentWeaveHandshakeFailureSpike", "[5m])) > 5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, rules, _ := renderRules(t, "monitoring.prometheusRule."+tt.path, tt.value)
			i := slices.IndexFunc(rules, func(r rule) bool { return r.Alert == tt.alert })
			if i < 0 {
				t.Fatalf("no alert %s", tt.alert)
			}
			r := rules[i]
			var got string
			switch {
			case strings.HasPrefix(tt.want, "for:"):
				got = "for:" + r.For
			case strings.HasPrefix(tt.want, "severity:"):
				got = "severity:" + r.Labels["severity"]
			default:
				got = r.Expr
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("with %s = %v, %s has %q, want %q in it", tt.path, tt.value, tt.alert, got, tt.want)
			}
		})
	}
}

func TestDashboardConfigMap(t *testing.T) {
	t.Parallel()
	want, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		overrides     []any
		wantNamespace string
		wantLabels    map[string]string
		wantAnnots    map[string]string
	}{
		{
			name:          "defaults",
			wantNamespace: releaseNamespace,
			wantLabels:    map[string]string{dashboardCMLabel: "1", "app.kubernetes.io/instance": releaseName},
		},
		{
			name: "folder, namespace and sidecar label",
			overrides: []any{
				"monitoring.dashboard.namespace", "monitoring",
				"monitoring.dashboard.labels",
				map[string]any{"grafana_dashboard": "agents"},
				"monitoring.dashboard.annotations",
				map[string]any{"grafana_folder": "AgentWeave"},
			},
			wantNamespace: "monitoring",
			wantLabels:    map[string]string{dashboardCMLabel: "agents", "app.kubernetes.io/name": "agentweave"},
			wantAnnots:    map[string]string{"grafana_folder": "AgentWeave"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			objs := renderChart(t, monitoringValues(t, append([]any{"monitoring.dashboard.enabled", true}, tt.overrides...)...))
			var cms []object
			for _, o := range find(objs, "ConfigMap") {
				if o.Metadata.Name == fullname+"-dashboard" {
					cms = append(cms, o)
				}
			}
			if len(cms) != 1 {
				t.Fatalf("rendered %d ConfigMaps named %s-dashboard, want 1", len(cms), fullname)
			}
			cm := cms[0]
			if cm.Metadata.Namespace != tt.wantNamespace {
				t.Errorf("namespace = %q, want %q", cm.Metadata.Namespace, tt.wantNamespace)
			}
			for k, v := range tt.wantLabels {
				if cm.Metadata.Labels[k] != v {
					t.Errorf("label %s = %q, want %q (labels %v)", k, cm.Metadata.Labels[k], v, cm.Metadata.Labels)
				}
			}
			if diff := cmp.Diff(tt.wantAnnots, cm.Metadata.Annotations); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
			var data struct {
				Data map[string]string `json:"data"`
			}
			if err := yaml.Unmarshal(cm.raw, &data); err != nil {
				t.Fatal(err)
			}
			got := data.Data[dashboardCMKey]
			if got+"\n" != string(want) {
				t.Errorf("data[%s] is not files/dashboard.json (%d bytes, want %d)", dashboardCMKey, len(got), len(want)-1)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("data[%s] is not JSON", dashboardCMKey)
			}
		})
	}
}

// TestValuesSchemaFragment checks the JSON-schema fragment for
// monitoring.prometheusRule and monitoring.dashboard (which the chart's
// values.schema.json holds under monitoring.properties) with Helm's own
// validator: the defaults pass, typos and wrong types fail.
func TestValuesSchemaFragment(t *testing.T) {
	t.Parallel()
	frag, err := os.ReadFile(schemaFixture)
	if err != nil {
		t.Fatal(err)
	}
	var props map[string]any
	if err := json.Unmarshal(frag, &props); err != nil {
		t.Fatalf("%s: %v", schemaFixture, err)
	}
	schema, err := json.Marshal(map[string]any{
		"type": "object",
		"properties": map[string]any{
			"monitoring": map[string]any{"type": "object", "properties": props},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		overrides []any
		wantErr   string
	}{
		{name: "defaults"},
		{name: "enabled with labels", overrides: []any{"monitoring.prometheusRule.enabled", true, "monitoring.prometheusRule.labels", map[string]any{"release": "prom"}}},
		{name: "misspelt key", overrides: []any{"monitoring.prometheusRule.svidExpiry.threshold", 600}, wantErr: "threshold"},
		{name: "unknown alert block", overrides: []any{"monitoring.prometheusRule.latency", map[string]any{}}, wantErr: "latency"},
		{name: "ratio above 1", overrides: []any{"monitoring.prometheusRule.denyRate.ratio", 25}, wantErr: "ratio"},
		{name: "duration in words", overrides: []any{"monitoring.prometheusRule.notReady.for", "5 minutes"}, wantErr: "for"},
		{name: "fractional changes", overrides: []any{"monitoring.prometheusRule.readinessFlapping.changes", 2.5}, wantErr: "changes"},
		{name: "label not a string", overrides: []any{"monitoring.dashboard.labels", map[string]any{"grafana_dashboard": 1}}, wantErr: "grafana_dashboard"},
		{name: "bad namespace", overrides: []any{"monitoring.dashboard.namespace", "Monitoring"}, wantErr: "namespace"},
		{name: "runbook with anchor", overrides: []any{"monitoring.prometheusRule.runbookBaseURL", "https://wiki/x#y"}, wantErr: "runbookBaseURL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			vals := monitoringValues(t, tt.overrides...)
			// Through YAML as helm reads values files: numbers as JSON numbers.
			b, err := yaml.Marshal(vals)
			if err != nil {
				t.Fatal(err)
			}
			v, err := chartcommon.ReadValues(b)
			if err != nil {
				t.Fatal(err)
			}
			err = chartutil.ValidateAgainstSingleSchema(v, schema)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("ValidateAgainstSingleSchema = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("ValidateAgainstSingleSchema = %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}
