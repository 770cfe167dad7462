package configschema

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/agentweave/agentweave-go/config"
)

// DurationPattern matches what time.ParseDuration accepts, save for values
// too large for a time.Duration: an optional sign, then 0 or a sequence of
// decimal numbers each with a unit (ns, us, µs, μs, ms, s, m, h), such as
// 300ms, -1.5h or 2h45m. It is valid in RE2 and ECMA 262 alike.
const DurationPattern = `^[-+]?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`

// Node is a JSON Schema, limited to the keywords that draft-07 and 2020-12
// read the same way. Its JSON lists properties in the order of the Go
// struct's fields.
type Node struct {
	// Type is one or more of object, array, string, integer, number,
	// boolean and null.
	Type        []string
	Description string
	// Enum is the allowed strings; with type null, null is allowed too.
	Enum    []string
	Pattern string
	// Items is the schema of an array's elements.
	Items *Node
	// Properties are an object's keys; an object admits no other key
	// (additionalProperties false).
	Properties []Property
}

// Property is one key of an object [Node].
type Property struct {
	Name string
	Node *Node
}

// Property returns the node of the object's key name, or nil.
func (n *Node) Property(name string) *Node {
	for _, p := range n.Properties {
		if p.Name == name {
			return p.Node
		}
	}
	return nil
}

func (n *Node) nullable() bool { return slices.Contains(n.Type, "null") }

// MarshalJSON writes the node with its keywords in a fixed order (type,
// description, enum, pattern, items, properties, additionalProperties) and
// its properties in field order.
func (n *Node) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	sep := ""
	member := func(key string, v any) error {
		b.WriteString(sep)
		sep = ","
		if err := writeJSON(&b, key); err != nil {
			return err
		}
		b.WriteByte(':')
		return writeJSON(&b, v)
	}
	var err error
	switch len(n.Type) {
	case 0:
	case 1:
		err = errors.Join(err, member("type", n.Type[0]))
	default:
		err = errors.Join(err, member("type", n.Type))
	}
	if n.Description != "" {
		err = errors.Join(err, member("description", n.Description))
	}
	if len(n.Enum) > 0 {
		enum := make([]any, 0, len(n.Enum)+1)
		for _, e := range n.Enum {
			enum = append(enum, e)
		}
		if n.nullable() {
			enum = append(enum, nil)
		}
		err = errors.Join(err, member("enum", enum))
	}
	if n.Pattern != "" {
		err = errors.Join(err, member("pattern", n.Pattern))
	}
	if n.Items != nil {
		err = errors.Join(err, member("items", n.Items))
	}
	if slices.Contains(n.Type, "object") {
		b.WriteString(sep)
		sep = ","
		b.WriteString(`"properties":{`)
		for i, p := range n.Properties {
			if i > 0 {
				b.WriteByte(',')
			}
			err = errors.Join(err, writeJSON(&b, p.Name))
			b.WriteByte(':')
			err = errors.Join(err, writeJSON(&b, p.Node))
		}
		b.WriteString(`},"additionalProperties":false`)
	}
	b.WriteByte('}')
	if err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeJSON writes v as compact JSON, leaving <, > and & as they are (the
// descriptions quote defaults such as "<name> agent").
func writeJSON(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// Schema returns the JSON Schema of [config.Config], described and
// enumerated from the config package's source (found with the go command,
// so it runs where the module's source is: go generate and go test).
//
// It is stricter than the loader where the loader would silently turn a
// likely mistake into a default or into another value:
//   - null is refused for a key that is not a pointer (the decoder ignores
//     it, leaving the default); a pointer key accepts null, its default;
//   - a string key needs a string: the decoder takes `version: 1.10` as the
//     string "1.10", but Helm has already read it as the number 1.1;
//   - an integer key needs an integer (the decoder truncates 1.5 to 1);
//   - a boolean key needs true or false (the decoder also takes the
//     strings "yes", "on", "off"…);
//   - a key with an enumeration needs one of its values, not "" (the
//     loader reads "" as the default).
func Schema() (*Node, error) {
	src, err := loadSource()
	if err != nil {
		return nil, err
	}
	return fromSource(src)
}

// fromSource is Schema from the parsed source.
func fromSource(src *source) (*Node, error) {
	g := &generator{src: src}
	root, err := g.node(reflect.TypeFor[config.Config](), "", "")
	if err != nil {
		return nil, err
	}
	for _, e := range src.enums {
		n, err := lookup(root, e.key)
		if err != nil {
			return nil, fmt.Errorf("configschema: %s: oneOf(%q): %w", e.pos, e.key, err)
		}
		if len(n.Type) == 0 || n.Type[0] != "string" || n.Pattern != "" {
			return nil, fmt.Errorf("configschema: %s: oneOf(%q): the key is not a plain string", e.pos, e.key)
		}
		if n.Enum != nil {
			return nil, fmt.Errorf("configschema: %s: oneOf(%q): the key has two enumerations", e.pos, e.key)
		}
		n.Enum = e.values
	}
	return root, nil
}

// lookup returns the node of a dotted key path such as
// "transport.retry.max_attempts".
func lookup(root *Node, key string) (*Node, error) {
	n := root
	for seg := range strings.SplitSeq(key, ".") {
		next := n.Property(seg)
		if next == nil {
			return nil, fmt.Errorf("no key %q in the configuration", key)
		}
		n = next
	}
	return n, nil
}

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

type generator struct{ src *source }

// node returns the schema of type t at key path (for errors), described by
// doc (the field's comment).
func (g *generator) node(t reflect.Type, path, doc string) (*Node, error) {
	if reflect.PointerTo(t).Implements(textUnmarshalerType) || hasMethod(t, "UnmarshalYAML") {
		// yaml.v3 hands such a type its own text: only a hand-written
		// schema could say what it accepts.
		return nil, fmt.Errorf("configschema: %s: %s decodes itself; describe it in configschema", where(path), t)
	}
	if t == durationType {
		return &Node{Type: []string{"string"}, Description: doc, Pattern: DurationPattern}, nil
	}
	switch t.Kind() { //nolint:exhaustive // the kinds config uses; the rest is refused below
	case reflect.Pointer:
		n, err := g.node(t.Elem(), path, doc)
		if err != nil {
			return nil, err
		}
		n.Type = append(n.Type, "null")
		return n, nil
	case reflect.String:
		return &Node{Type: []string{"string"}, Description: doc}, nil
	case reflect.Bool:
		return &Node{Type: []string{"boolean"}, Description: doc}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return &Node{Type: []string{"integer"}, Description: doc}, nil
	case reflect.Float32, reflect.Float64:
		return &Node{Type: []string{"number"}, Description: doc}, nil
	case reflect.Slice:
		items, err := g.node(t.Elem(), path+"[]", g.src.typeDoc(t.Elem()))
		if err != nil {
			return nil, err
		}
		return &Node{Type: []string{"array"}, Description: doc, Items: items}, nil
	case reflect.Struct:
		return g.object(t, path, doc)
	}
	// Unsigned integers, maps, arrays, interfaces: nothing in config uses
	// them yet. Say so rather than guess.
	return nil, fmt.Errorf("configschema: %s: %s is not supported; add it to configschema", where(path), t)
}

func (g *generator) object(t reflect.Type, path, doc string) (*Node, error) {
	if doc == "" {
		doc = g.src.typeDoc(t)
	}
	n := &Node{Type: []string{"object"}, Description: doc, Properties: []Property{}}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, flags, _ := strings.Cut(tag, ",")
		if name == "-" && flags == "" {
			continue
		}
		if !f.IsExported() {
			continue // the decoder skips unexported fields, embedded or not
		}
		if strings.Contains(","+flags+",", ",inline,") {
			return nil, fmt.Errorf("configschema: %s: inline field %s is not supported; add it to configschema", where(path), f.Name)
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default key
		}
		key := name
		if path != "" {
			key = path + "." + name
		}
		if n.Property(name) != nil {
			return nil, fmt.Errorf("configschema: %s: two fields have key %q", where(path), name)
		}
		doc := renamed(g.src.fieldDoc(t, f.Name), f.Name, name)
		if ft := f.Type; doc == "" && ft.Kind() == reflect.Struct && ft != durationType {
			doc = renamed(g.src.typeDoc(ft), ft.Name(), name)
		}
		child, err := g.node(f.Type, key, doc)
		if err != nil {
			return nil, err
		}
		n.Properties = append(n.Properties, Property{Name: name, Node: child})
	}
	return n, nil
}

// renamed makes a comment that starts with a Go name ("StartTimeout bounds
// the wait") start with the YAML key instead ("start_timeout bounds the
// wait"), the name a reader of the file knows.
func renamed(doc, goName, key string) string {
	if rest, ok := strings.CutPrefix(doc, goName+" "); ok {
		return key + " " + rest
	}
	return doc
}

func hasMethod(t reflect.Type, name string) bool {
	_, ok := reflect.PointerTo(t).MethodByName(name)
	return ok
}

func where(path string) string {
	if path == "" {
		return "the configuration"
	}
	return path
}
