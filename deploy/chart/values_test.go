package chart_test

import (
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/action"
	"helm.sh/helm/v4/pkg/chart/common"

	"github.com/agentweave/agentweave-go/deploy/chart"
)

// TestSchemaRefusesBadValues: values.schema.json refuses wrong types, unknown
// keys (at the top, nested, and inside the agent's configuration) and values
// outside their enumerations, naming the key.
func TestSchemaRefusesBadValues(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values map[string]any
		want   []string // substrings of the error
	}{
		{"no trust domain", map[string]any{}, []string{"trustDomain"}},
		{"unknown top-level key", map[string]any{"trustDomain": "example.org", "replicas": 3}, []string{"replicas"}},
		{"unknown nested key", map[string]any{"trustDomain": "example.org", "spiffe": map[string]any{"socketPath": "/x"}}, []string{"socketPath"}},
		{"wrong type", map[string]any{"trustDomain": "example.org", "replicaCount": "three"}, []string{"replicaCount"}},
		{"port out of range", map[string]any{"trustDomain": "example.org", "service": map[string]any{"port": 70000}}, []string{"/service/port"}},
		{"bad mode", map[string]any{"trustDomain": "example.org", "authorization": map[string]any{"mode": "remote"}}, []string{"/authorization/mode", "embedded", "sidecar"}},
		{"bad environment", map[string]any{"trustDomain": "example.org", "agent": map[string]any{"environment": "prod"}}, []string{"/agent/environment"}},
		{"bad store", map[string]any{"trustDomain": "example.org", "tasks": map[string]any{"store": "redis"}}, []string{"/tasks/store"}},
		{"grant without callers", map[string]any{"trustDomain": "example.org", "authorization": map[string]any{"grants": map[string]any{"inbound": []any{map[string]any{"actions": []any{"echo"}}}}}}, []string{"callers"}},
		{"not a SPIFFE ID pattern", map[string]any{"trustDomain": "example.org", "authorization": map[string]any{"grants": map[string]any{"inbound": []any{map[string]any{"callers": []any{"https://example.org/x"}, "actions": []any{"echo"}}}}}}, []string{"callers"}},
		{"unknown configuration key", map[string]any{"trustDomain": "example.org", "config": map[string]any{"transport": map[string]any{"allowed_caller": []any{"spiffe://example.org/x"}}}}, []string{"allowed_caller"}},
		{"wrong configuration type", map[string]any{"trustDomain": "example.org", "config": map[string]any{"server": map[string]any{"rate_limit": map[string]any{"requests_per_second": "many"}}}}, []string{"requests_per_second"}},
		{"bad configuration enum", map[string]any{"trustDomain": "example.org", "config": map[string]any{"transport": map[string]any{"tls_min_version": "1.1"}}}, []string{"tls_min_version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := chart.Render(t.Context(), "bad", "agents", tt.values)
			if err == nil {
				t.Fatal("rendered, want a schema error")
			}
			msg := err.Error()
			if !strings.Contains(msg, "schema") {
				t.Errorf("error is not the schema's: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not name %q: %v", w, err)
				}
			}
		})
	}
}

// TestTemplateRefusals: combinations the schema cannot express fail with a
// message that says what to do.
func TestTemplateRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values map[string]any
		want   string
	}{
		{"derived configuration key", map[string]any{"trustDomain": "example.org", "config": map[string]any{"server": map[string]any{"port": 9443}}}, "config.server.port is set by the chart"},
		{"identity in config", map[string]any{"trustDomain": "example.org", "config": map[string]any{"identity": map[string]any{"spiffe_id": "spiffe://example.org/x"}}}, "config.identity.spiffe_id is set by the chart"},
		{"postgres without a Secret", map[string]any{"trustDomain": "example.org", "tasks": map[string]any{"store": "postgres"}}, "tasks.postgres.existingSecret is required"},
		{"sqlite with replicas", map[string]any{"trustDomain": "example.org", "replicaCount": 2, "tasks": map[string]any{"store": "sqlite"}}, "tasks.store sqlite keeps tasks in one pod"},
		{"bundle without a URL", map[string]any{"trustDomain": "example.org", "authorization": map[string]any{"mode": "sidecar", "sidecar": map[string]any{"bundle": map[string]any{"enabled": true}}}}, "authorization.sidecar.bundle.url is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := chart.Render(t.Context(), "bad", "agents", tt.values)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestLintStrict: `helm lint --strict` is clean for the defaults (with the
// one required value) and for every values file of ci/.
func TestLintStrict(t *testing.T) {
	t.Parallel()
	kv, err := common.ParseKubeVersion(chart.KubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	sets := map[string]map[string]any{"defaults": {"trustDomain": "example.org"}}
	for _, sc := range scenarios(t) {
		sets[sc.name] = sc.values
	}
	for name, values := range sets {
		l := action.NewLint()
		l.Strict = true
		l.Namespace = "agents"
		l.KubeVersion = kv
		res := l.Run([]string{chart.Dir()}, values)
		for _, m := range res.Messages {
			t.Logf("%s: %s", name, m)
		}
		if len(res.Errors) > 0 {
			t.Errorf("%s: helm lint --strict: %v", name, res.Errors)
		}
	}
}
