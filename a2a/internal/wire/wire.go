package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
)

// This file writes A2A 1.0 results as JSON in one pass, byte for byte as
// a2a-go's types marshal themselves (FuzzWireEncoding compares the two).
// a2a-go's MarshalJSON methods marshal every task, message and part into
// an intermediate slice that the enclosing encoder then scans again; on
// the SendMessage hot path that cost more than the engine itself
// (docs/BENCHMARKS.md). Free-form values (metadata, data parts) still go
// through encoding/json.

// AppendResult appends the JSON-RPC response carrying res, a *Task or a
// *Message, as a2a-go's binding writes it (encoding/json's Encoder, so a
// trailing newline).
func AppendResult(b []byte, id any, res a2acore.SendMessageResult) ([]byte, error) {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b, err := appendValue(b, id)
	if err != nil {
		return nil, err
	}
	b = append(b, `,"result":`...)
	switch v := res.(type) {
	case *a2acore.Task:
		if v == nil {
			return nil, errNilResult
		}
		b = append(b, `{"task":`...)
		b, err = AppendTask(b, v)
	case *a2acore.Message:
		if v == nil {
			return nil, errNilResult
		}
		b = append(b, `{"message":`...)
		b, err = appendMessage(b, v)
	default:
		return nil, fmt.Errorf("a2a: unknown result type %T", res)
	}
	if err != nil {
		return nil, err
	}
	return append(b, "}}\n"...), nil
}

var errNilResult = errors.New("a2a: nil result")

// AppendTask follows a2a.Task's field order: id, artifacts, contextId,
// history, metadata, status.
func AppendTask(b []byte, t *a2acore.Task) ([]byte, error) {
	var err error
	b = append(b, `{"id":`...)
	b = appendString(b, string(t.ID))
	if len(t.Artifacts) > 0 {
		b = append(b, `,"artifacts":[`...)
		for i, a := range t.Artifacts {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendArtifact(b, a); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	b = append(b, `,"contextId":`...)
	b = appendString(b, t.ContextID)
	if len(t.History) > 0 {
		b = append(b, `,"history":[`...)
		for i, m := range t.History {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendMessage(b, m); err != nil {
				return nil, err
			}
		}
		b = append(b, ']')
	}
	if b, err = appendMetadata(b, t.Metadata); err != nil {
		return nil, err
	}
	b = append(b, `,"status":{`...)
	if t.Status.Message != nil {
		b = append(b, `"message":`...)
		if b, err = appendMessage(b, t.Status.Message); err != nil {
			return nil, err
		}
		b = append(b, ',')
	}
	b = append(b, `"state":`...)
	b = appendString(b, t.Status.State.String())
	if ts := t.Status.Timestamp; ts != nil {
		b = append(b, `,"timestamp":"`...)
		if b, err = ts.AppendText(b); err != nil {
			return nil, err
		}
		b = append(b, '"')
	}
	return append(b, "}}"...), nil
}

// appendArtifact follows a2a.Artifact's field order: artifactId,
// description, extensions, metadata, name, parts.
func appendArtifact(b []byte, a *a2acore.Artifact) ([]byte, error) {
	if a == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, `{"artifactId":`...)
	b = appendString(b, string(a.ID))
	if a.Description != "" {
		b = append(b, `,"description":`...)
		b = appendString(b, a.Description)
	}
	if len(a.Extensions) > 0 {
		b = append(b, `,"extensions":`...)
		b = appendStrings(b, a.Extensions)
	}
	if b, err = appendMetadata(b, a.Metadata); err != nil {
		return nil, err
	}
	if a.Name != "" {
		b = append(b, `,"name":`...)
		b = appendString(b, a.Name)
	}
	b = append(b, `,"parts":`...)
	if b, err = appendParts(b, a.Parts); err != nil {
		return nil, err
	}
	return append(b, '}'), nil
}

// appendMessage follows a2a.Message's field order: messageId, contextId,
// extensions, metadata, parts, referenceTaskIds, role, taskId.
func appendMessage(b []byte, m *a2acore.Message) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, `{"messageId":`...)
	b = appendString(b, m.ID)
	if m.ContextID != "" {
		b = append(b, `,"contextId":`...)
		b = appendString(b, m.ContextID)
	}
	if len(m.Extensions) > 0 {
		b = append(b, `,"extensions":`...)
		b = appendStrings(b, m.Extensions)
	}
	if b, err = appendMetadata(b, m.Metadata); err != nil {
		return nil, err
	}
	b = append(b, `,"parts":`...)
	if b, err = appendParts(b, m.Parts); err != nil {
		return nil, err
	}
	if len(m.ReferenceTasks) > 0 {
		b = append(b, `,"referenceTaskIds":[`...)
		for i, id := range m.ReferenceTasks {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, string(id))
		}
		b = append(b, ']')
	}
	b = append(b, `,"role":`...)
	b = appendString(b, m.Role.String())
	if m.TaskID != "" {
		b = append(b, `,"taskId":`...)
		b = appendString(b, string(m.TaskID))
	}
	return append(b, '}'), nil
}

// appendParts writes a2a.ContentParts: null when nil, as a2a-go does.
func appendParts(b []byte, parts a2acore.ContentParts) ([]byte, error) {
	if parts == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	var err error
	for i, p := range parts {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = appendPart(b, p); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// appendPart writes a part flattened as a2a.Part.MarshalJSON does: the
// content as text, raw, data or url, then filename, mediaType, metadata.
func appendPart(b []byte, p *a2acore.Part) ([]byte, error) {
	if p == nil {
		return append(b, "null"...), nil
	}
	var err error
	b = append(b, '{')
	n := len(b)
	switch c := p.Content.(type) {
	case a2acore.Text:
		b = append(b, `"text":`...)
		b = appendString(b, string(c))
	case a2acore.Raw:
		b = append(b, `"raw":`...)
		if c == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, c)
			b = append(b, '"')
		}
	case a2acore.Data:
		b = append(b, `"data":`...)
		if b, err = appendValue(b, c.Value); err != nil {
			return nil, err
		}
	case a2acore.URL:
		if c != "" {
			b = append(b, `"url":`...)
			b = appendString(b, string(c))
		}
	}
	if p.Filename != "" {
		b = append(sep(b, n), `"filename":`...)
		b = appendString(b, p.Filename)
	}
	if p.MediaType != "" {
		b = append(sep(b, n), `"mediaType":`...)
		b = appendString(b, p.MediaType)
	}
	if len(p.Metadata) > 0 {
		b = append(sep(b, n), `"metadata":`...)
		if b, err = appendValue(b, p.Metadata); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// sep appends a comma if the object that started at n has a field.
func sep(b []byte, n int) []byte {
	if len(b) > n {
		return append(b, ',')
	}
	return b
}

// appendMetadata writes `,"metadata":{…}` unless m is empty.
func appendMetadata(b []byte, m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return b, nil
	}
	b = append(b, `,"metadata":`...)
	return appendValue(b, m)
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendValue appends v as encoding/json marshals it. JSON values (what
// decoding into an interface produces) are written here; anything else,
// and any value encoding/json would refuse, goes to encoding/json.
func appendValue(b []byte, v any) ([]byte, error) {
	if out, ok := appendJSONValue(b, v, 0); ok {
		return out, nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

// appendJSONValue writes JSON values as encoding/json does: object keys
// sorted, floats in its format. ok is false (and b must be discarded) for
// anything else.
func appendJSONValue(b []byte, v any, depth int) ([]byte, bool) {
	if depth > 64 {
		return b, false
	}
	switch v := v.(type) {
	case nil:
		return append(b, "null"...), true
	case bool:
		return strconv.AppendBool(b, v), true
	case string:
		return appendString(b, v), true
	case float64:
		return appendFloat(b, v)
	case map[string]any:
		if v == nil {
			return append(b, "null"...), true
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var ok bool
			if b, ok = appendJSONValue(b, v[k], depth+1); !ok {
				return b, false
			}
		}
		return append(b, '}'), true
	case []any:
		if v == nil {
			return append(b, "null"...), true
		}
		b = append(b, '[')
		for i, e := range v {
			if i > 0 {
				b = append(b, ',')
			}
			var ok bool
			if b, ok = appendJSONValue(b, e, depth+1); !ok {
				return b, false
			}
		}
		return append(b, ']'), true
	}
	return b, false
}

// appendFloat is encoding/json's float64 format: like ES6, the shortest
// decimal that round-trips, in exponent form below 1e-6 and from 1e21,
// with a one-digit negative exponent written without its leading zero.
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1] // e-07 → e-7
			b = b[:n-1]
		}
	}
	return b, true
}

// appendString appends s as a JSON string exactly as encoding/json does
// (HTML-safe escaping, invalid UTF-8 replaced). Strings of plain
// printable ASCII, which IDs, states and names are, are copied as they
// are; any other string is left to encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			j, _ := json.Marshal(s) // a string always marshals
			return append(b, j...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
