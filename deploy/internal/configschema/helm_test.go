package configschema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"

	"github.com/agentweave/agentweave-go/config"
)

const (
	examplesDir = "../../../examples"
	chartSchema = "../../helm/agentweave/values.schema.json"
)

// drafts are the dialects the chart's schema is read in: Helm v3 validates
// with a draft-07 library, Helm v4 with a 2020-12 one.
var drafts = []struct{ name, uri string }{
	{"draft-07", "http://json-schema.org/draft-07/schema#"},
	{"2020-12", "https://json-schema.org/draft/2020-12/schema"},
}

// wrapSchema returns a chart schema shaped like the chart's: the value
// config refers to definitions.agentConfig.
func wrapSchema(t *testing.T, draftURI string) []byte {
	t.Helper()
	def, err := mustSchema(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, `{"$schema":%q,"type":"object","properties":{"config":{"$ref":"#/definitions/agentConfig"}},"definitions":{"agentConfig":%s}}`, draftURI, def)
}

// validateConfig validates an agent configuration the way Helm validates
// the chart's value config: read as Helm reads a values file, checked
// with Helm's own validator (santhosh-tekuri/jsonschema/v6).
func validateConfig(schema []byte, cfg map[string]any) error {
	return util.ValidateAgainstSingleSchema(common.Values{"config": cfg}, schema)
}

func readValues(t *testing.T, yamlDoc string) map[string]any {
	t.Helper()
	v, err := common.ReadValues([]byte(yamlDoc))
	if err != nil {
		t.Fatalf("ReadValues(%q) error = %v", yamlDoc, err)
	}
	return v.AsMap()
}

// exampleConfigs returns the agent configurations under examples/: the
// YAML files whose top level has an agent key.
func exampleConfigs(t *testing.T) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	err := filepath.WalkDir(examplesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || (filepath.Ext(path) != ".yaml" && filepath.Ext(path) != ".yml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		v := readValues(t, string(data))
		if _, ok := v["agent"]; ok {
			rel, _ := filepath.Rel(examplesDir, path)
			out[filepath.ToSlash(rel)] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSchemaAcceptsExamples(t *testing.T) {
	t.Parallel()
	configs := exampleConfigs(t)
	for _, want := range []string{"conformance/agent.yaml", "quickstart/orchestrator.yaml", "quickstart/search.yaml"} {
		if _, ok := configs[want]; !ok {
			t.Errorf("examples/%s is not among the agent configurations found: %v", want, slices.Sorted(maps.Keys(configs)))
		}
	}
	for _, d := range drafts {
		schema := wrapSchema(t, d.uri)
		for name, cfg := range configs {
			t.Run(d.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				if err := validateConfig(schema, cfg); err != nil {
					t.Errorf("examples/%s: %v", name, err)
				}
			})
		}
	}
}

// merge sets src's keys into dst, recursively.
func merge(dst, src map[string]any) {
	for k, v := range src {
		if sv, ok := v.(map[string]any); ok {
			if dv, ok := dst[k].(map[string]any); ok {
				merge(dv, sv)
				continue
			}
		}
		dst[k] = v
	}
}

// TestSchemaDecides: what the schema accepts and refuses, next to what the
// loader does with the same values (as the chart hands them on: Helm's
// values written out again, here as JSON). Where they differ the schema is
// stricter, on purpose (see Schema).
func TestSchemaDecides(t *testing.T) {
	t.Parallel()
	// A configuration the loader accepts without environment variables.
	const base = `
agent: {name: demo, trust_domain: example.org, environment: development}
identity: {spiffe_endpoint: "unix:///run/spire/agent.sock"}
authorization: {provider: allow-all}
`
	tests := []struct {
		name         string
		yaml         string // merged over base
		schemaAccept bool
		loaderAccept bool
		wantInError  string // a part of the schema's error
	}{
		{name: "base", yaml: "", schemaAccept: true, loaderAccept: true},
		{name: "unknown top-level key", yaml: "tracing: {enabled: true}", wantInError: "at '/config': additional properties 'tracing'"},
		{name: "unknown nested key", yaml: "transport: {retry: {max_attemps: 3}}", wantInError: "at '/config/transport/retry': additional properties 'max_attemps'"}, //nolint:misspell // a misspelled key on purpose
		{name: "unknown key in a list item", yaml: "peers: [{spiffe_id: spiffe://example.org/agent/b/dev, url: https://b.example.org, name: b}]", wantInError: "at '/config/peers/0': additional properties 'name'"},
		{name: "string for integer", yaml: `server: {port: "8443"}`, wantInError: "/config/server/port"},
		{name: "object for list", yaml: "agent: {capabilities: {name: plan}}", wantInError: "/config/agent/capabilities"},
		{name: "list for object", yaml: "tasks: [memory]", wantInError: "/config/tasks"},
		{name: "string for boolean", yaml: `tasks: {push: {enabled: "true"}}`, wantInError: "/config/tasks/push/enabled"},
		{name: "number for duration", yaml: "identity: {start_timeout: 30}", wantInError: "/config/identity/start_timeout"},
		{name: "bad duration", yaml: "identity: {start_timeout: 30 seconds}", wantInError: "/config/identity/start_timeout"},
		{name: "duration without unit", yaml: `identity: {start_timeout: "30"}`, wantInError: "/config/identity/start_timeout"},
		{name: "bad enum", yaml: "agent: {environment: prod}", wantInError: "/config/agent/environment"},
		{name: "bad nested enum", yaml: "observability: {logging: {level: verbose}}", wantInError: "/config/observability/logging/level"},
		{name: "durations", yaml: `identity: {start_timeout: 1.5h}
authorization: {timeout: 500µs, reload_interval: "-1s"}
transport: {retry: {base_delay: 100ms, max_delay: 1m30s}}`, schemaAccept: true, loaderAccept: true},
		{name: "zero duration", yaml: `authorization: {reload_interval: "0"}`, schemaAccept: true, loaderAccept: true},
		{name: "integer for number", yaml: "transport: {retry: {factor: 3}}", schemaAccept: true, loaderAccept: true},
		{name: "YAML 1.1 boolean", yaml: "tasks: {push: {enabled: yes}}", schemaAccept: true, loaderAccept: true},
		{name: "null pointer is the default", yaml: "observability: {metrics: {enabled: null}, tracing: {sample_ratio: null}}\nauthorization: {cache_size: null}", schemaAccept: true, loaderAccept: true},
		{name: "enum values", yaml: `transport: {tls_min_version: "1.2"}
tasks: {store: sqlite, sqlite_path: /var/lib/agent/tasks.db}`, schemaAccept: true, loaderAccept: true},

		// Stricter than the loader.
		{name: "null for a non-pointer", yaml: "server: {host: null}", loaderAccept: true, wantInError: "/config/server/host"},
		{name: "null section", yaml: "tasks: null", loaderAccept: true, wantInError: "/config/tasks"},
		{name: "unquoted version", yaml: "agent: {version: 1.10}", loaderAccept: true, wantInError: "/config/agent/version"}, // the loader would read "1.1"
		{name: "integer in a string list", yaml: "identity: {allowed_trust_domains: [1]}", loaderAccept: true, wantInError: "/config/identity/allowed_trust_domains/0"},
		{name: "unquoted TLS version", yaml: "transport: {tls_min_version: 1.3}", loaderAccept: true, wantInError: "/config/transport/tls_min_version"},
		{name: "fraction for integer", yaml: "tasks: {memory_limit: 1.5}", loaderAccept: true, wantInError: "/config/tasks/memory_limit"}, // the loader truncates to 1
		{name: "empty enum value", yaml: `tasks: {store: ""}`, loaderAccept: true, wantInError: "/config/tasks/store"},                    // the loader's default: memory
	}
	schemas := map[string][]byte{}
	for _, d := range drafts {
		schemas[d.name] = wrapSchema(t, d.uri)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := readValues(t, base)
			merge(cfg, readValues(t, tt.yaml))
			for _, d := range drafts {
				err := validateConfig(schemas[d.name], cfg)
				switch {
				case tt.schemaAccept && err != nil:
					t.Errorf("%s: validation error = %v, want none", d.name, err)
				case !tt.schemaAccept && err == nil:
					t.Errorf("%s: validation accepts it, want a refusal", d.name)
				case !tt.schemaAccept && !strings.Contains(err.Error(), tt.wantInError):
					t.Errorf("%s: validation error = %v, want it to name %q", d.name, err, tt.wantInError)
				}
			}
			data, err := json.Marshal(cfg)
			if err != nil {
				t.Fatal(err)
			}
			_, err = config.Parse(data, tt.name, nil)
			if got := err == nil; got != tt.loaderAccept {
				t.Errorf("config.Parse(%s) error = %v, want accepted %t", data, err, tt.loaderAccept)
			}
		})
	}
}

// TestChartSchemaIsCurrent: the chart's values.schema.json holds Schema()
// as definitions.agentConfig.
func TestChartSchemaIsCurrent(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(chartSchema)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s does not exist yet (the chart's schema is written by hand first)", chartSchema)
	}
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Definitions map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatalf("%s: %v", chartSchema, err)
	}
	want, err := mustSchema(t).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var wantV any
	if err := json.Unmarshal(want, &wantV); err != nil {
		t.Fatal(err)
	}
	got, ok := file.Definitions["agentConfig"]
	if !ok {
		t.Fatalf("%s has no definitions.agentConfig: run go generate ./... in deploy", chartSchema)
	}
	if diffs := jsonDiff("definitions.agentConfig", wantV, got, nil); len(diffs) > 0 {
		if len(diffs) > 10 {
			diffs = append(diffs[:10], "…")
		}
		t.Errorf("%s is out of date with config.Config: run go generate ./... in deploy\n(-want +got)\n%s", chartSchema, strings.Join(diffs, "\n"))
	}
}

// jsonDiff lists where two decoded JSON values differ.
func jsonDiff(path string, want, got any, out []string) []string {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		for _, k := range slices.Sorted(maps.Keys(wm)) {
			if _, ok := gm[k]; !ok {
				out = append(out, fmt.Sprintf("-%s.%s", path, k))
				continue
			}
			out = jsonDiff(path+"."+k, wm[k], gm[k], out)
		}
		for _, k := range slices.Sorted(maps.Keys(gm)) {
			if _, ok := wm[k]; !ok {
				out = append(out, fmt.Sprintf("+%s.%s", path, k))
			}
		}
		return out
	}
	if !reflect.DeepEqual(want, got) {
		w, _ := json.Marshal(want)
		g, _ := json.Marshal(got)
		out = append(out, fmt.Sprintf("-%s: %s\n+%s: %s", path, w, path, g))
	}
	return out
}
