package monitoring_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/agentweave/agentweave-go/deploy/monitoring"
)

// TestDashboardJSONIsGenerated fails when the committed
// files/dashboard.json is not what the generator writes now: edit
// dashboard.go, then run go generate ./monitoring/... in deploy/.
func TestDashboardJSONIsGenerated(t *testing.T) {
	t.Parallel()
	want, err := monitoring.DashboardJSON()
	if err != nil {
		t.Fatalf("DashboardJSON() = %v", err)
	}
	got, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale (%d bytes, the generator writes %d): run `go generate ./monitoring/...` in deploy/ and commit it", dashboardFile, len(got), len(want))
	}
}

// TestDashboardQueriesParse parses every panel query and variable query of
// the committed JSON with Prometheus's parser, Grafana's variables replaced
// by values, and requires every selector to select by the dashboard's
// variables: namespace and job exactly, and the pod variable (variables
// select as far as they are defined).
func TestDashboardQueriesParse(t *testing.T) {
	t.Parallel()
	qs := dashboardQueries(t)
	for _, p := range parseQueries(t, qs, true) {
		// A variable's query selects by the variables before it.
		want := map[string]bool{"namespace": true, "job": true, "pod": true}
		switch p.where {
		case "variable " + monitoring.VarNamespace:
			want = map[string]bool{}
		case "variable " + monitoring.VarJob:
			want = map[string]bool{"namespace": true}
		case "variable " + monitoring.VarPod:
			want = map[string]bool{"namespace": true, "job": true}
		}
		for _, vs := range p.selectors {
			if ns, ok := matcher(vs, "namespace", labels.MatchEqual); want["namespace"] && (!ok || ns != releaseNamespace) {
				t.Errorf("%s: selector %s does not select namespace=\"$namespace\"", p.where, vs)
			}
			if j, ok := matcher(vs, "job", labels.MatchEqual); want["job"] && (!ok || j != job) {
				t.Errorf("%s: selector %s does not select job=\"$job\"", p.where, vs)
			}
			if pod, ok := matcher(vs, "pod", labels.MatchRegexp); want["pod"] && (!ok || pod != grafanaValues["pod"]) {
				t.Errorf("%s: selector %s does not select pod=~\"$pod\"", p.where, vs)
			}
		}
	}
}

func TestDashboardVariables(t *testing.T) {
	t.Parallel()
	d, err := monitoring.Dashboard()
	if err != nil {
		t.Fatalf("Dashboard() = %v", err)
	}
	var got []string
	for _, v := range d.Templating.List {
		got = append(got, v.Name)
	}
	want := []string{monitoring.VarDatasource, monitoring.VarNamespace, monitoring.VarJob, monitoring.VarPod}
	if len(got) != len(want) {
		t.Fatalf("variables = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("variables = %v, want %v", got, want)
			break
		}
	}
	if d.Uid == nil || *d.Uid != monitoring.DashboardUID {
		t.Errorf("uid = %v, want %s", d.Uid, monitoring.DashboardUID)
	}
}
