// Package configschema derives the JSON Schema of an agent's configuration
// file ([config.Config]) from the Go types, so that the Helm chart's
// values.schema.json can check the chart's `config` value at
// `helm install` time and can never drift from what the SDK reads.
//
// [Schema] builds the schema in three steps:
//
//  1. It walks [config.Config] by reflection, the way the loader's YAML
//     decoder does: each struct is an object of its `yaml` tags with
//     additionalProperties false (the loader sets KnownFields), a slice is
//     an array, a string a string, an int an integer, a float a number, a
//     bool a boolean and a time.Duration a string matching
//     [DurationPattern] (the decoder refuses a YAML number for a duration).
//     A pointer field also accepts null: to the decoder, `key:` with no
//     value leaves a pointer nil, and the loader then applies the default,
//     which for these fields differs from the zero value (cache_size 0
//     turns the cache off, null means the default 10000).
//  2. It parses the config package's source for each field's doc comment
//     and sets it as the field's description.
//  3. It finds every call oneOf(p, "key.path", value, "a", "b", ...) in the
//     package's validation and sets enum on the key's node. A key path that
//     names no string field is an error, not a dropped enum.
//
// The result is draft-07 and 2020-12 alike (Helm v3 validates with the
// former, Helm v4 with the latter): it uses only type, properties,
// additionalProperties, items, enum, pattern and description.
//
// The chart's values.schema.json holds it as definitions.agentConfig, which
// the generator in internal/cmd/genschema rewrites; regenerate with
//
//	cd deploy && go generate ./...
//
// The loader stays the authority: the schema catches unknown keys, wrong
// types and values outside an enumeration, but not ranges, patterns such as
// agent.name's, URLs, or the rules that depend on several keys or on the
// environment. See [Schema] for where it is stricter.
package configschema
