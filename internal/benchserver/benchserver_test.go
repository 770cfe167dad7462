package benchserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/internal/benchserver"
	"github.com/agentweave/agentweave-go/internal/loadgen"
)

// TestAgentConfig checks the YAML that AgentConfig writes for the bench
// driver, which runs each variant as another process reading its
// configuration file: the test is about that file loading, so it parses
// YAML.
func TestAgentConfig(t *testing.T) {
	t.Parallel()
	for _, v := range benchserver.Variants {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			y, err := benchserver.AgentConfig(v.Name, "unix:///tmp/aw-bench/bench.sock", "/policies", "/tmp/audit.log", 50000)
			if v.H2C {
				if err == nil {
					t.Errorf("AgentConfig(%s) = nil error, want one: h2c variants take no configuration", v.Name)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Parse([]byte(y), v.Name+".yaml", nil)
			if err != nil {
				t.Fatalf("AgentConfig(%s) does not load: %v\n%s", v.Name, err, y)
			}
			if cfg.Tasks.MemoryLimit != 50000 {
				t.Errorf("tasks.memory_limit = %d, want 50000", cfg.Tasks.MemoryLimit)
			}
			full := v.Name != benchserver.MTLS
			if got := cfg.Agent.Environment == config.Production; got != full {
				t.Errorf("production = %v, want %v", got, full)
			}
			if full && (!*cfg.Observability.Metrics.Enabled || !cfg.Observability.Tracing.Enabled || *cfg.Observability.Tracing.SampleRatio != 0) {
				t.Errorf("full variant without metrics or tracing at ratio 0:\n%s", y)
			}
		})
	}
	if _, ok := benchserver.Lookup("nope"); ok {
		t.Error(`Lookup("nope") found a variant`)
	}
}

func TestH2CHandlers(t *testing.T) {
	t.Parallel()
	body, err := loadgen.SendMessageBody(benchserver.Capability, benchserver.Data)
	if err != nil {
		t.Fatal(err)
	}
	for name, h := range map[string]http.Handler{"plain": http.HandlerFunc(benchserver.PlainEcho), "a2ago": benchserver.A2AGoHandler()} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(h)
			t.Cleanup(srv.Close)
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("A2A-Version", "1.0")
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != http.StatusOK || loadgen.Classify(nil, resp.StatusCode, out) != "" ||
				!strings.Contains(string(out), "TASK_STATE_COMPLETED") || !json.Valid(out) {
				t.Errorf("%s answered %d %s, want the completed task", name, resp.StatusCode, out)
			}
			if !strings.Contains(string(out), `"query":"spiffe"`) {
				t.Errorf("%s answered %s, want the payload echoed", name, out)
			}
		})
	}
}
