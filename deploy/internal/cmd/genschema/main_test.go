package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/agentweave/agentweave-go/deploy/internal/configschema"
)

var update = flag.Bool("update", false, "rewrite testdata/values.schema.golden.json")

// def stands for the generated definition: its key order (b before a) must
// survive.
const def = `{"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"}},"additionalProperties":false}`

func readFixture(t *testing.T) []byte {
	t.Helper()
	in, err := os.ReadFile("testdata/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// keys returns the keys of the object at the given path, in order.
func keys(t *testing.T, data []byte, path ...string) []string {
	t.Helper()
	v, err := decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range path {
		v, _ = v.(*object).get(p)
	}
	var out []string
	for _, m := range v.(*object).members {
		out = append(out, m.key)
	}
	return out
}

// TestRewriteGolden: the fixture, a hand-written schema, comes back with
// definitions.agentConfig replaced and everything else in its order.
func TestRewriteGolden(t *testing.T) {
	t.Parallel()
	in := readFixture(t)
	got, err := rewrite(in, []byte(def))
	if err != nil {
		t.Fatalf("rewrite() error = %v", err)
	}
	const golden = "testdata/values.schema.golden.json"
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rewrite() =\n%s\nwant (%s)\n%s", got, golden, want)
	}

	for _, path := range [][]string{nil, {"properties"}, {"definitions"}, {"properties", "image"}} {
		if k, wantK := keys(t, got, path...), keys(t, in, path...); !reflect.DeepEqual(k, wantK) {
			t.Errorf("keys of %v = %q, want %q", path, k, wantK)
		}
	}
	if k, wantK := keys(t, got, "definitions", "agentConfig", "properties"), []string{"b", "a"}; !reflect.DeepEqual(k, wantK) {
		t.Errorf("agentConfig property order = %q, want %q", k, wantK)
	}
	// Everything but agentConfig means the same; numbers keep their text.
	var inV, gotV map[string]any
	if err := json.Unmarshal(in, &inV); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &gotV); err != nil {
		t.Fatal(err)
	}
	var defV any
	if err := json.Unmarshal([]byte(def), &defV); err != nil {
		t.Fatal(err)
	}
	inV["definitions"].(map[string]any)["agentConfig"] = defV
	if !reflect.DeepEqual(inV, gotV) {
		t.Errorf("rewrite() changed more than definitions.agentConfig")
	}
	for _, s := range []string{`"maximum": 1e3`, `"default": 1.0`, `<keys> & their order`, `"default": []`, `"items": {}`} {
		if !bytes.Contains(got, []byte(s)) {
			t.Errorf("rewrite() lost %s", s)
		}
	}
}

func TestRewriteIsIdempotent(t *testing.T) {
	t.Parallel()
	once, err := rewrite(readFixture(t), []byte(def))
	if err != nil {
		t.Fatal(err)
	}
	twice, err := rewrite(once, []byte(def))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(once, twice) {
		t.Errorf("a second rewrite() =\n%s\nwant the first\n%s", twice, once)
	}
}

func TestRewriteAdds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "no definitions",
			in:   `{"type":"object","properties":{}}`,
			want: `{"type":"object","properties":{},"definitions":{"agentConfig":{"type":"object"}}}`,
		},
		{
			name: "no agentConfig",
			in:   `{"definitions":{"port":{"type":"integer"}},"type":"object"}`,
			want: `{"definitions":{"port":{"type":"integer"},"agentConfig":{"type":"object"}},"type":"object"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := rewrite([]byte(tt.in), []byte(`{"type":"object"}`))
			if err != nil {
				t.Fatalf("rewrite() error = %v", err)
			}
			var want bytes.Buffer
			if err := json.Indent(&want, []byte(tt.want), "", "  "); err != nil {
				t.Fatal(err)
			}
			want.WriteByte('\n')
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("rewrite() =\n%s\nwant\n%s", got, want.Bytes())
			}
		})
	}
}

func TestRewriteErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
	}{
		{name: "not an object", in: `[]`},
		{name: "definitions not an object", in: `{"definitions":[]}`},
		{name: "truncated", in: `{"type":`},
		{name: "two values", in: `{} {}`},
		{name: "duplicate key", in: `{"type":"object","type":"array"}`},
		{name: "empty", in: ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := rewrite([]byte(tt.in), []byte(def)); err == nil {
				t.Errorf("rewrite(%q) = %s, want an error", tt.in, got)
			}
		})
	}
}

// TestRun writes configschema.Schema() into a copy of the fixture.
func TestRun(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "values.schema.json")
	if err := os.WriteFile(path, readFixture(t), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-file", path}, io.Discard); err != nil {
		t.Fatalf("run() error = %v", err)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Definitions struct {
			AgentConfig json.RawMessage `json:"agentConfig"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(first, &file); err != nil {
		t.Fatal(err)
	}
	n, err := configschema.Schema()
	if err != nil {
		t.Fatal(err)
	}
	want, err := n.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, file.Definitions.AgentConfig); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(compact.Bytes(), want) {
		t.Errorf("definitions.agentConfig =\n%s\nwant configschema.Schema()\n%s", compact.Bytes(), want)
	}

	if err := run([]string{"-file", path}, io.Discard); err != nil {
		t.Fatalf("second run() error = %v", err)
	}
	second, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("a second run changed the file")
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "no file flag", args: nil, wantErr: "-file"},
		{name: "missing file", args: []string{"-file", filepath.Join(t.TempDir(), "absent.json")}, wantErr: "no such file"},
		{name: "extra argument", args: []string{"-file", "x.json", "y"}, wantErr: "-file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := run(tt.args, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("run(%q) error = %v, want one containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}
