package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// yamlDocument parses data as a node tree, for the lines of keys; nil
// when that fails (problems then have no lines).
func yamlDocument(data []byte) *yaml.Node {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	return &doc
}

// keyLine returns the line of key (dotted, with [i] indexes) in doc, or of
// the deepest part of it that is present; 0 when none is.
func keyLine(doc *yaml.Node, key string) int {
	line, _ := findKey(doc, key)
	return line
}

// findKey returns the line of key in doc and whether key itself is there;
// when it is not, the line of the deepest part of it that is (0 for none).
func findKey(doc *yaml.Node, key string) (line int, found bool) {
	if doc == nil || key == "" {
		return 0, false
	}
	n := resolveAlias(doc)
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = resolveAlias(n.Content[0])
	}
	for part := range strings.SplitSeq(key, ".") {
		name, indexes, _ := strings.Cut(part, "[")
		v, l := mappingValue(n, name)
		if v == nil {
			return line, false
		}
		n, line = v, l
		for raw := range strings.SplitSeq(strings.TrimSuffix(indexes, "]"), "][") {
			if raw == "" {
				continue
			}
			i, err := strconv.Atoi(raw)
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return line, false
			}
			n = resolveAlias(n.Content[i])
			line = n.Line
		}
	}
	return line, true
}

// mappingValue returns the value of key name in the mapping n and the line
// of the key.
func mappingValue(n *yaml.Node, name string) (*yaml.Node, int) {
	if n.Kind != yaml.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Value == name {
			return resolveAlias(n.Content[i+1]), k.Line
		}
	}
	return nil, 0
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// setBy reports whether key, or a key it is part of, is in keys: "peers"
// covers "peers[1].url", "server" covers "server.port".
func setBy(keys map[string]bool, key string) bool {
	for k := key; k != ""; {
		if keys[k] {
			return true
		}
		i := strings.LastIndexAny(k, ".[")
		if i < 0 {
			return false
		}
		k = k[:i]
	}
	return false
}
