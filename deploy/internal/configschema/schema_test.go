package configschema

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/config"
)

func mustSchema(t *testing.T) *Node {
	t.Helper()
	n, err := Schema()
	if err != nil {
		t.Fatalf("Schema() error = %v", err)
	}
	return n
}

// yamlKey is the key yaml.v3 decodes field f from, or "" for none.
func yamlKey(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	switch name {
	case "-":
		return ""
	case "":
		return strings.ToLower(f.Name)
	}
	return name
}

// structPaths lists every key path of t's YAML with its Go type, walking
// the struct independently of the generator.
func structPaths(t reflect.Type, prefix string, out map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		key := yamlKey(f)
		if key == "" {
			continue
		}
		path := prefix + key
		out[path] = f.Type
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			if ft.Kind() == reflect.Slice {
				path += "[]"
			}
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() {
			structPaths(ft, path+".", out)
		}
	}
}

func schemaPaths(n *Node, prefix string, out map[string]*Node) {
	for _, p := range n.Properties {
		path := prefix + p.Name
		out[path] = p.Node
		c := p.Node
		for c.Items != nil {
			path += "[]"
			c = c.Items
		}
		schemaPaths(c, path+".", out)
	}
}

// wantType is the JSON type a Go type's values have.
func wantType(t reflect.Type) []string {
	var null []string
	if t.Kind() == reflect.Pointer {
		t, null = t.Elem(), []string{"null"}
	}
	if t == reflect.TypeFor[time.Duration]() {
		return append([]string{"string"}, null...)
	}
	m := map[reflect.Kind]string{
		reflect.String: "string", reflect.Bool: "boolean", reflect.Int: "integer", reflect.Int64: "integer",
		reflect.Float64: "number", reflect.Slice: "array", reflect.Struct: "object",
	}
	return append([]string{m[t.Kind()]}, null...)
}

// TestSchemaKeysAreFields: every key the schema knows is a field of
// config.Config, every field is a key of the schema, of the field's type,
// and every field with a comment is described.
func TestSchemaKeysAreFields(t *testing.T) {
	t.Parallel()
	root := mustSchema(t)
	fields := map[string]reflect.Type{}
	structPaths(reflect.TypeFor[config.Config](), "", fields)
	keys := map[string]*Node{}
	schemaPaths(root, "", keys)
	for path := range keys {
		if _, ok := fields[path]; !ok {
			t.Errorf("schema key %s is not a field of config.Config", path)
		}
	}
	for path, ft := range fields {
		n, ok := keys[path]
		if !ok {
			t.Errorf("field %s (%s) is missing from the schema", path, ft)
			continue
		}
		if want := wantType(ft); !slices.Equal(n.Type, want) {
			t.Errorf("%s: type = %v, want %v (Go %s)", path, n.Type, want, ft)
		}
		if ft == reflect.TypeFor[time.Duration]() && n.Pattern != DurationPattern {
			t.Errorf("%s: pattern = %q, want DurationPattern", path, n.Pattern)
		}
	}
	if len(fields) < 80 {
		t.Errorf("config.Config has %d key paths, want the ~90 it had when this test was written: is structPaths broken?", len(fields))
	}

	src, err := loadSource()
	if err != nil {
		t.Fatal(err)
	}
	var described func(st reflect.Type, n *Node)
	described = func(st reflect.Type, n *Node) {
		for i := range st.NumField() {
			f := st.Field(i)
			c := n.Property(yamlKey(f))
			if c == nil {
				continue // reported above
			}
			if src.fieldDoc(st, f.Name) != "" && c.Description == "" {
				t.Errorf("%s.%s has a comment but no description", st.Name(), f.Name)
			}
			ft := f.Type
			for ft.Kind() == reflect.Slice {
				ft, c = ft.Elem(), c.Items
			}
			if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Duration]() {
				described(ft, c)
			}
		}
	}
	described(reflect.TypeFor[config.Config](), root)
}

// TestLoaderKnowsEverySchemaKey sets every key of the schema to a value of
// its schema type and has the real loader (KnownFields, the same decoder)
// read it: no key is unknown to it, no value of the right type refused.
func TestLoaderKnowsEverySchemaKey(t *testing.T) {
	t.Parallel()
	root := mustSchema(t)
	var sample func(n *Node) any
	sample = func(n *Node) any {
		switch n.Type[0] {
		case "object":
			m := map[string]any{}
			for _, p := range n.Properties {
				m[p.Name] = sample(p.Node)
			}
			return m
		case "array":
			return []any{sample(n.Items)}
		case "string":
			switch {
			case len(n.Enum) > 0:
				return n.Enum[len(n.Enum)-1]
			case n.Pattern != "":
				return "1m30s"
			}
			return "x"
		case "integer":
			return 7
		case "number":
			return 0.5
		case "boolean":
			return true
		}
		t.Fatalf("no sample for type %v", n.Type)
		return nil
	}
	decodeProblems := func(doc any) []string {
		data, err := json.Marshal(doc) // JSON is YAML
		if err != nil {
			t.Fatal(err)
		}
		_, err = config.Parse(data, "sample", nil)
		var ce *config.Error
		if !errors.As(err, &ce) {
			t.Fatalf("config.Parse() error = %v, want a *config.Error listing validation problems", err)
		}
		var decode []string
		for _, p := range ce.Problems {
			if strings.HasPrefix(p, "line ") { // the decoder's problems; the others are validation's
				decode = append(decode, p)
			}
		}
		return decode
	}
	doc := sample(root).(map[string]any)
	if got := decodeProblems(doc); len(got) > 0 {
		t.Errorf("the loader refuses keys or values the schema accepts:\n%s", strings.Join(got, "\n"))
	}
	// The check can fail: an unknown key is a decoder problem.
	doc["transport"].(map[string]any)["retries"] = 3
	if got := decodeProblems(doc); len(got) != 1 {
		t.Errorf("with an unknown key, decoder problems = %q, want one", got)
	}
}

// TestEnumsFromValidate: every oneOf call of config/validate.go gave its
// key's enum, and no other key has one.
func TestEnumsFromValidate(t *testing.T) {
	t.Parallel()
	root := mustSchema(t)
	src, err := loadSource()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, e := range src.enums {
		found[e.key] = true
		n, err := lookup(root, e.key)
		if err != nil {
			t.Errorf("oneOf(%q) at %s: %v", e.key, e.pos, err)
			continue
		}
		if !slices.Equal(n.Enum, e.values) {
			t.Errorf("%s: enum = %q, want %q (from %s)", e.key, n.Enum, e.values, e.pos)
		}
	}
	keys := map[string]*Node{}
	schemaPaths(root, "", keys)
	for path, n := range keys {
		if n.Enum != nil && !found[path] {
			t.Errorf("%s has an enum no oneOf call gave", path)
		}
	}
	// The keys the validation enumerated when this was written: if the
	// finder breaks, these go missing.
	for _, key := range []string{
		"agent.environment", "identity.provider", "authorization.provider", "authorization.default_action",
		"transport.tls_min_version", "tasks.store",
		"observability.tracing.exporter", "observability.logging.level", "observability.logging.format",
	} {
		if !found[key] {
			t.Errorf("no oneOf call found for %s", key)
		}
	}
}

// TestEnumErrors: what the enumeration finder cannot read is an error,
// never a dropped enum.
func TestEnumErrors(t *testing.T) {
	t.Parallel()
	const header = "package config\nconst Dev = \"development\"\nfunc oneOf(p *problems, key, v string, allowed ...string) {}\n"
	tests := []struct {
		name    string
		src     string
		wantErr string // "" for none
	}{
		{name: "literals and constants", src: header + `func f() { oneOf(nil, "agent.environment", "", Dev, "production") }`},
		{name: "key not literal", src: header + `func f(k string) { oneOf(nil, k, "", "a", "b") }`, wantErr: "not a string literal"},
		{name: "value not constant", src: header + `func f(k string) { oneOf(nil, "agent.environment", "", k) }`, wantErr: "not a string literal"},
		{name: "spread values", src: header + `func f(v []string) { oneOf(nil, "agent.environment", "", v...) }`, wantErr: "written out"},
		{name: "no values", src: header + `func f() { oneOf(nil, "agent.environment", "") }`, wantErr: "written out"},
		{name: "no oneOf func", src: "package config\nfunc f() {}\n", wantErr: "has no func oneOf"},
		{name: "unknown key", src: header + `func f() { oneOf(nil, "agent.environmnet", "", "a") }`, wantErr: `no key "agent.environmnet"`},
		{name: "not a string key", src: header + `func f() { oneOf(nil, "server.port", "", "a") }`, wantErr: "not a plain string"},
		{name: "duration key", src: header + `func f() { oneOf(nil, "server.idle_timeout", "", "a") }`, wantErr: "not a plain string"},
		{name: "object key", src: header + `func f() { oneOf(nil, "server", "", "a") }`, wantErr: "not a plain string"},
		{name: "two enumerations", src: header + `func f() { oneOf(nil, "tasks.store", "", "a"); oneOf(nil, "tasks.store", "", "b") }`, wantErr: "two enumerations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "validate.go", tt.src, parser.ParseComments)
			if err != nil {
				t.Fatal(err)
			}
			pkgPath := reflect.TypeFor[config.Config]().PkgPath()
			src, err := parseSource(pkgPath, fset, []*ast.File{f})
			var root *Node
			if err == nil {
				root, err = fromSource(src)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error = %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
			case tt.wantErr == "":
				n, _ := lookup(root, "agent.environment")
				if want := []string{"development", "production"}; !slices.Equal(n.Enum, want) {
					t.Errorf("agent.environment enum = %q, want %q", n.Enum, want)
				}
			}
		})
	}
}

// TestUnsupportedTypes: a Go type the generator cannot describe faithfully
// is an error.
func TestUnsupportedTypes(t *testing.T) {
	t.Parallel()
	src, err := loadSource()
	if err != nil {
		t.Fatal(err)
	}
	g := &generator{src: src}
	type inline struct {
		A string `yaml:"a"`
	}
	tests := []struct {
		name string
		typ  reflect.Type
	}{
		{name: "map", typ: reflect.TypeFor[struct {
			M map[string]string `yaml:"m"`
		}]()},
		{name: "unsigned", typ: reflect.TypeFor[struct {
			U uint `yaml:"u"`
		}]()},
		{name: "text unmarshaler", typ: reflect.TypeFor[struct {
			T time.Time `yaml:"t"`
		}]()},
		{name: "inline", typ: reflect.TypeFor[struct {
			I inline `yaml:",inline"`
		}]()},
		{name: "duplicate key", typ: reflect.TypeFor[struct {
			A string `yaml:"a"`
			B string `yaml:"a"`
		}]()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if n, err := g.node(tt.typ, "", ""); err == nil {
				t.Errorf("node(%s) = %+v, want an error", tt.typ, n)
			}
		})
	}
}

func TestNodeJSON(t *testing.T) {
	t.Parallel()
	n := &Node{Type: []string{"object"}, Description: "a <b> & c", Properties: []Property{
		{Name: "z", Node: &Node{Type: []string{"string", "null"}, Enum: []string{"x"}}},
		{Name: "a", Node: &Node{Type: []string{"array"}, Items: &Node{Type: []string{"string"}, Pattern: "^a$"}}},
	}}
	got, err := n.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"object","description":"a <b> & c","properties":{` +
		`"z":{"type":["string","null"],"enum":["x",null]},` +
		`"a":{"type":"array","items":{"type":"string","pattern":"^a$"}}},"additionalProperties":false}`
	if string(got) != want {
		t.Errorf("MarshalJSON() =\n%s\nwant\n%s", got, want)
	}
}
