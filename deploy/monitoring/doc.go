// Package monitoring builds the Helm chart's Grafana dashboard and tests the
// chart's monitoring against a real agent.
//
// # The dashboard
//
// [Dashboard] builds the dashboard with the Grafana Foundation SDK, and
// [DashboardJSON] writes it as the chart ships it, in
// deploy/helm/agentweave/files/dashboard.json. Edit the Go code, then
// regenerate and commit the JSON:
//
//	cd deploy && go generate ./monitoring/...
//
// The chart's templates/dashboard.yaml puts the JSON in a ConfigMap for
// Grafana's dashboard sidecar (monitoring.dashboard in values). The
// dashboard's variables are the data source, the namespace, the job (the
// admin Service a release's ServiceMonitor scrapes, <fullname>-admin) and
// the pods ([VarDatasource], [VarNamespace], [VarJob], [VarPod]); every
// panel selects namespace="$namespace", job="$job", pod=~"$pod".
//
// # The alert rules
//
// The chart's templates/prometheusrule.yaml (monitoring.prometheusRule in
// values) holds the alerts; each expression selects one release's agents
// with the chart's agentweave.metricsSelector. docs/deploy.md has a runbook
// section per alert, "### Alert: <name>", which each alert's runbook_url
// points to.
//
// # What the tests prove
//
// The tests render the chart with Helm's own install action (client-only
// dry run), parse every alert expression and every dashboard query with
// Prometheus's PromQL parser, and check that:
//
//   - every selector of an alert selects this release (namespace and job),
//     and every dashboard selector selects by the dashboard's variables;
//   - every metric the queries name is exported by a real agent started in
//     the test (agentweavetest: mutual TLS, embedded OPA, audit file) after
//     an allowed call, a denied call and a call to a stopped peer;
//   - promtool (from .bin, built by make kube) accepts the rules with every
//     linter, and its unit tests (testdata/alerts_test.yaml) see the alerts
//     fire and stay quiet as they should;
//   - the committed dashboard JSON is what [DashboardJSON] writes now, and
//     the ConfigMap carries it unchanged;
//   - testdata/values-monitoring.yaml and values-monitoring.schema.json, the
//     defaults and schema of monitoring.prometheusRule and
//     monitoring.dashboard, agree with each other and with the chart.
package monitoring

//go:generate go run ./cmd/gendashboard -o ../helm/agentweave/files/dashboard.json
