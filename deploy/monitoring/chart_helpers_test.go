package monitoring_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	chartcommon "helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/loader"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	release "helm.sh/helm/v4/pkg/release/v1"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	"sigs.k8s.io/yaml"
)

// The release every test renders: helm install weave deploy/helm/agentweave
// --namespace agents.
const (
	chartDir         = "../helm/agentweave"
	releaseName      = "weave"
	releaseNamespace = "agents"
	fullname         = "weave-agentweave"  // agentweave.fullname
	job              = fullname + "-admin" // the admin Service, the job of agentweave.metricsSelector
	monitoringTpls   = "templates/_helpers.tpl templates/prometheusrule.yaml templates/dashboard.yaml"
	valuesFixture    = "testdata/values-monitoring.yaml"
	schemaFixture    = "testdata/values-monitoring.schema.json"
	dashboardFile    = "../helm/agentweave/files/dashboard.json"
	runbookBase      = "https://github.com/agentweave/agentweave-go/blob/main/docs/deploy.md"
	ruleAPIVersion   = "monitoring.coreos.com/v1"
	dashboardCMKey   = "agentweave.json"
	dashboardCMLabel = "grafana_dashboard"
	kubeVersion      = "v1.37.2" // the kube-apiserver `make kube` builds
)

// monitoringValues returns the values the tests install with: the chart's
// monitoring defaults (testdata/values-monitoring.yaml, read as helm reads
// a -f file), the values the chart requires of every install, and then
// each override ("monitoring.prometheusRule.enabled", true).
func monitoringValues(t *testing.T, overrides ...any) map[string]any {
	t.Helper()
	b, err := os.ReadFile(valuesFixture)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := chartcommon.ReadValues(b)
	if err != nil {
		t.Fatalf("%s: %v", valuesFixture, err)
	}
	vals["trustDomain"] = "example.org" // required by agentweave.trustDomain
	if len(overrides)%2 != 0 {
		t.Fatalf("monitoringValues: overrides must be path, value pairs")
	}
	for i := 0; i < len(overrides); i += 2 {
		setPath(t, vals, overrides[i].(string), overrides[i+1])
	}
	return vals
}

// setPath sets a dotted path of vals to v, creating maps on the way.
func setPath(t *testing.T, vals map[string]any, path string, v any) {
	t.Helper()
	keys := strings.Split(path, ".")
	m := vals
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = v
}

// renderChart renders the chart as `helm install --dry-run=client` does
// (Helm v4's action.Install, client only: values merged over values.yaml
// and checked against values.schema.json, then every template rendered) and
// returns the rendered objects.
//
// While the chart has no values.yaml (it is being written), a whole-chart
// failure falls back to rendering _helpers.tpl and the two monitoring
// templates only, and says so in the log; once values.yaml exists the whole
// chart must render.
func renderChart(t *testing.T, vals map[string]any) []object {
	t.Helper()
	c := loadChart(t)
	addSchemaFragment(t, c)
	manifest, err := install(t, c, vals)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(chartDir, "values.yaml")); statErr == nil {
			t.Fatalf("the whole chart does not render with monitoring enabled: %v", err)
		}
		t.Logf("the chart has no values.yaml yet and does not render whole (%v): rendering %s only", err, monitoringTpls)
		only := *c
		only.Templates = slices.DeleteFunc(slices.Clone(c.Templates), func(f *chartcommon.File) bool {
			return !strings.Contains(monitoringTpls, f.Name)
		})
		if manifest, err = install(t, &only, vals); err != nil {
			t.Fatalf("rendering %s: %v", monitoringTpls, err)
		}
	}
	return parseManifest(t, manifest)
}

// addSchemaFragment adds testdata/values-monitoring.schema.json to the
// chart's values.schema.json (in memory) where the chart's lacks
// monitoring.prometheusRule or monitoring.dashboard, saying so in the log:
// until the chart holds the fragment, its schema refuses the values the
// tests render with. TestChartHoldsMonitoringDefaults requires the chart to
// hold it.
func addSchemaFragment(t *testing.T, c *chart.Chart) {
	t.Helper()
	if len(c.Schema) == 0 {
		return
	}
	frag := schemaFragment(t)
	var schema map[string]any
	if err := json.Unmarshal(c.Schema, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	mon := schemaAt(schema, "monitoring")
	if mon == nil {
		t.Fatalf("values.schema.json has no properties.monitoring object")
	}
	props, _ := mon["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		mon["properties"] = props
	}
	var added []string
	for k, v := range frag {
		if _, ok := props[k]; !ok {
			props[k] = v
			added = append(added, k)
		}
	}
	if len(added) == 0 {
		return
	}
	slices.Sort(added)
	t.Logf("values.schema.json lacks monitoring.%s: rendering with %s's added", strings.Join(added, ", monitoring."), schemaFixture)
	b, err := json.Marshal(schema)
	if err != nil {
		t.Fatal(err)
	}
	c.Schema = b
}

// schemaAt returns the object schema of a top-level property.
func schemaAt(schema map[string]any, key string) map[string]any {
	props, _ := schema["properties"].(map[string]any)
	m, _ := props[key].(map[string]any)
	return m
}

// schemaFragment returns testdata/values-monitoring.schema.json: the
// schemas of prometheusRule and dashboard, by key.
func schemaFragment(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(schemaFixture)
	if err != nil {
		t.Fatal(err)
	}
	var frag map[string]any
	if err := json.Unmarshal(b, &frag); err != nil {
		t.Fatalf("%s: %v", schemaFixture, err)
	}
	return frag
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loader.Load(%s) = %v", chartDir, err)
	}
	c, ok := ch.(*chart.Chart)
	if !ok {
		t.Fatalf("loader.Load(%s) = %T, want a v2 chart", chartDir, ch)
	}
	return c
}

func install(t *testing.T, c *chart.Chart, vals map[string]any) (string, error) {
	t.Helper()
	inst := action.NewInstall(action.NewConfiguration(action.ConfigurationSetLogger(slog.DiscardHandler)))
	inst.DryRunStrategy = action.DryRunClient
	inst.ReleaseName = releaseName
	inst.Namespace = releaseNamespace
	kv, err := chartcommon.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	inst.KubeVersion = kv
	rel, err := inst.RunWithContext(t.Context(), c, vals)
	if err != nil {
		return "", err
	}
	r, ok := rel.(*release.Release)
	if !ok {
		return "", errors.New("install returned no v1 release")
	}
	return r.Manifest, nil
}

// object is one rendered Kubernetes object: its identity, and the document.
type object struct {
	APIVersion string     `json:"apiVersion"`
	Kind       string     `json:"kind"`
	Metadata   objectMeta `json:"metadata"`
	raw        []byte     // the YAML document
}

type objectMeta struct {
	Name        string            `json:"name"`
	Namespace   string            `json:"namespace"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func parseManifest(t *testing.T, manifest string) []object {
	t.Helper()
	docs := releaseutil.SplitManifests(manifest)
	objs := make([]object, 0, len(docs))
	keys := slices.Collect(maps.Keys(docs))
	sort.Sort(releaseutil.BySplitManifestsOrder(keys)) // document order
	for _, k := range keys {
		var o object
		if err := yaml.Unmarshal([]byte(docs[k]), &o); err != nil {
			t.Fatalf("rendered document %s is not YAML: %v\n%s", k, err, docs[k])
		}
		if o.Kind == "" {
			continue
		}
		o.raw = []byte(docs[k])
		objs = append(objs, o)
	}
	return objs
}

// find returns the rendered objects of kind.
func find(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// prometheusRule is the part of a rendered PrometheusRule the tests read.
type prometheusRule struct {
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []rule `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

type rule struct {
	Alert       string            `json:"alert"`
	Record      string            `json:"record"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// renderRules renders the chart with the PrometheusRule enabled and returns
// it: the object, its rules, and its spec as a Prometheus rule file (the
// groups: document promtool reads).
func renderRules(t *testing.T, overrides ...any) (object, []rule, []byte) {
	t.Helper()
	objs := renderChart(t, monitoringValues(t, append([]any{"monitoring.prometheusRule.enabled", true}, overrides...)...))
	prs := find(objs, "PrometheusRule")
	if len(prs) != 1 {
		t.Fatalf("rendered %d PrometheusRules, want 1", len(prs))
	}
	var pr prometheusRule
	if err := yaml.Unmarshal(prs[0].raw, &pr); err != nil {
		t.Fatal(err)
	}
	var rules []rule
	for _, g := range pr.Spec.Groups {
		rules = append(rules, g.Rules...)
	}
	var doc struct {
		Spec any `json:"spec"`
	}
	if err := yaml.Unmarshal(prs[0].raw, &doc); err != nil {
		t.Fatal(err)
	}
	file, err := yaml.Marshal(doc.Spec)
	if err != nil {
		t.Fatal(err)
	}
	return prs[0], rules, file
}
