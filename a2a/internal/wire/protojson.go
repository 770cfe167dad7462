package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// A2A's JSON is the protobuf JSON mapping (A2A §5.5, ADR-001), whose
// parsers accept both a field's lowerCamelCase JSON name and its original
// proto name: {"taskId": …} and {"task_id": …} mean the same. a2a-go's
// types know only the JSON names, and encoding/json skips the others in
// silence, so a request from a ProtoJSON client (Python's and Java's
// SDKs parse and may send either) loses fields. CamelCase rewrites the
// proto names to the JSON names before a2a-go decodes the request — the
// keys of the request's messages only, at the positions the proto gives
// them. Free-form values (google.protobuf.Struct metadata, the Value of a
// data part) are user data and are copied byte for byte: a generic
// rewrite of every "task_id" key would change a caller's payload.

// Object describes the JSON object of one protobuf message of the A2A
// proto (spec/a2a.proto v1.0.1): its fields, and the messages nested in
// them.
type Object struct {
	Name   string
	Fields []Field
}

// Field is a field of a protobuf message.
type Field struct {
	JSON  string // the lowerCamelCase JSON name (what a2a-go reads)
	Proto string // the original proto field name
	// Object is the message a message-typed field holds (one, or a list
	// of them when Repeated); nil for scalars, enums, timestamps and
	// free-form values, whose bytes are never rewritten.
	Object   *Object
	Repeated bool
}

func scalar(proto string) Field { return Field{JSON: jsonName(proto), Proto: proto} }

// jsonName is protoc's lowerCamelCase JSON name of a proto field name.
func jsonName(proto string) string {
	var b strings.Builder
	upper := false
	for _, c := range proto {
		switch {
		case c == '_':
			upper = true
		case upper && 'a' <= c && c <= 'z':
			b.WriteRune(c - 'a' + 'A')
			upper = false
		default:
			b.WriteRune(c)
			upper = false
		}
	}
	return b.String()
}

func message(name string, fields ...Field) *Object { return &Object{Name: name, Fields: fields} }

func sub(proto string, o *Object) Field { f := scalar(proto); f.Object = o; return f }

func list(proto string, o *Object) Field { f := sub(proto, o); f.Repeated = true; return f }

// The request messages of A2A v1.0.1 (spec/a2a.proto) and the messages
// they contain. Metadata (Struct) and data (Value) are free-form.
var (
	authenticationInfo = message("AuthenticationInfo", scalar("scheme"), scalar("credentials"))
	// TaskPushNotificationConfig is CreateTaskPushNotificationConfig's request.
	TaskPushNotificationConfig = message("TaskPushNotificationConfig",
		scalar("tenant"), scalar("id"), scalar("task_id"), scalar("url"), scalar("token"),
		sub("authentication", authenticationInfo))
	sendMessageConfiguration = message("SendMessageConfiguration",
		scalar("accepted_output_modes"), sub("task_push_notification_config", TaskPushNotificationConfig),
		scalar("history_length"), scalar("return_immediately"))
	part = message("Part",
		scalar("text"), scalar("raw"), scalar("url"), scalar("data"), scalar("metadata"),
		scalar("filename"), scalar("media_type"))
	messageObject = message("Message",
		scalar("message_id"), scalar("context_id"), scalar("task_id"), scalar("role"), list("parts", part),
		scalar("metadata"), scalar("extensions"), scalar("reference_task_ids"))
	// SendMessageRequest is SendMessage's and SendStreamingMessage's.
	SendMessageRequest = message("SendMessageRequest",
		scalar("tenant"), sub("message", messageObject), sub("configuration", sendMessageConfiguration), scalar("metadata"))
	GetTaskRequest   = message("GetTaskRequest", scalar("tenant"), scalar("id"), scalar("history_length"))
	ListTasksRequest = message("ListTasksRequest",
		scalar("tenant"), scalar("context_id"), scalar("status"), scalar("page_size"), scalar("page_token"),
		scalar("history_length"), scalar("status_timestamp_after"), scalar("include_artifacts"))
	CancelTaskRequest                    = message("CancelTaskRequest", scalar("tenant"), scalar("id"), scalar("metadata"))
	SubscribeToTaskRequest               = message("SubscribeToTaskRequest", scalar("tenant"), scalar("id"))
	GetTaskPushNotificationConfigRequest = message("GetTaskPushNotificationConfigRequest",
		scalar("tenant"), scalar("task_id"), scalar("id"))
	DeleteTaskPushNotificationConfigRequest = message("DeleteTaskPushNotificationConfigRequest",
		scalar("tenant"), scalar("task_id"), scalar("id"))
	ListTaskPushNotificationConfigsRequest = message("ListTaskPushNotificationConfigsRequest",
		scalar("tenant"), scalar("task_id"), scalar("page_size"), scalar("page_token"))
	GetExtendedAgentCardRequest = message("GetExtendedAgentCardRequest", scalar("tenant"))
)

// Params returns the request message of a JSON-RPC method of A2A 1.0
// (§9.4), nil for a method A2A does not define.
func Params(method string) *Object {
	switch method {
	case "SendMessage", "SendStreamingMessage":
		return SendMessageRequest
	case "GetTask":
		return GetTaskRequest
	case "ListTasks":
		return ListTasksRequest
	case "CancelTask":
		return CancelTaskRequest
	case "SubscribeToTask":
		return SubscribeToTaskRequest
	case "CreateTaskPushNotificationConfig":
		return TaskPushNotificationConfig
	case "GetTaskPushNotificationConfig":
		return GetTaskPushNotificationConfigRequest
	case "ListTaskPushNotificationConfigs":
		return ListTaskPushNotificationConfigsRequest
	case "DeleteTaskPushNotificationConfig":
		return DeleteTaskPushNotificationConfigRequest
	case "GetExtendedAgentCard":
		return GetExtendedAgentCardRequest
	}
	return nil
}

// DuplicateFieldError reports a field given under both of its names in one
// object, which ProtoJSON refuses (protojson: "duplicate field").
type DuplicateFieldError struct {
	Object string // the message, e.g. "Message"
	Field  string // its JSON name
}

func (e *DuplicateFieldError) Error() string {
	return fmt.Sprintf("%s.%s is given twice (as %s and as its proto name)", e.Object, e.Field, e.Field)
}

// MayNeedCamelCase reports whether body can hold a proto field name at
// all: every one that differs from its JSON name has an underscore, which
// an escaped key may spell \u005f. Most requests have neither.
func MayNeedCamelCase(body []byte) bool {
	return bytes.IndexByte(body, '_') >= 0 || bytes.IndexByte(body, '\\') >= 0
}

// CamelCase rewrites the proto field names of the o object that body's
// first JSON value holds to their JSON names, and returns the result (body
// itself when nothing changes; what follows the first value is kept).
// Keys are matched as encoding/json matches them to a2a-go's fields — a
// JSON name ignoring case, a proto name exactly, escapes decoded — so the
// rewrite reaches every object a2a-go decodes. A body that is not JSON is
// returned as it is, for the decoder to refuse. The error is a
// *DuplicateFieldError.
func (o *Object) CamelCase(body []byte) ([]byte, error) {
	end := firstValue(body)
	if end < 0 {
		return body, nil
	}
	r := rewriter{in: body[:end]}
	r.value(o, false)
	if r.err != nil {
		return nil, r.err
	}
	if r.out == nil {
		return body, nil
	}
	r.out = append(r.out, body[r.copied:]...)
	return r.out, nil
}

// CamelCaseParams rewrites the params of a JSON-RPC request (every
// top-level member that encoding/json would take for "params") as
// CamelCase does for o. body must be valid JSON.
func (o *Object) CamelCaseParams(body []byte) ([]byte, error) {
	envelope := message("JSON-RPC request", Field{JSON: "params", Proto: "params", Object: o})
	r := rewriter{in: body}
	r.value(envelope, false)
	if r.err != nil {
		return nil, r.err
	}
	if r.out == nil {
		return body, nil
	}
	r.out = append(r.out, body[r.copied:]...)
	return r.out, nil
}

// CamelCaseQuery renames the proto field names of o among query's keys to
// their JSON names (the HTTP+JSON binding reads a GET request's fields from
// the query, §11.3, where gRPC transcoding accepts both names). It reports
// whether it changed anything; the error is a *DuplicateFieldError.
func (o *Object) CamelCaseQuery(query url.Values) (bool, error) {
	changed := false
	for _, f := range o.Fields {
		if f.Proto == f.JSON {
			continue
		}
		v, ok := query[f.Proto]
		if !ok {
			continue
		}
		if _, both := query[f.JSON]; both {
			return false, &DuplicateFieldError{Object: o.Name, Field: f.JSON}
		}
		delete(query, f.Proto)
		query[f.JSON] = v
		changed = true
	}
	return changed, nil
}

// firstValue returns the end of body's first JSON value, -1 if there is
// none (what json.Decoder.Decode reads).
func firstValue(body []byte) int {
	dec := json.NewDecoder(bytes.NewReader(body))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return -1
	}
	return int(dec.InputOffset())
}

// rewriter copies valid JSON text, renaming keys; out stays nil until the
// first rename, then holds in[:copied] with the renames applied.
type rewriter struct {
	in     []byte
	i      int
	out    []byte
	copied int
	err    error
}

func (r *rewriter) ws() {
	for r.i < len(r.in) {
		switch r.in[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// value reads the value at r.i: an o object is walked (a list of them when
// repeated); anything else is skipped.
func (r *rewriter) value(o *Object, repeated bool) {
	r.ws()
	if r.i >= len(r.in) || o == nil {
		r.skip()
		return
	}
	switch c := r.in[r.i]; {
	case c == '{' && !repeated:
		r.object(o)
	case c == '[' && repeated:
		r.i++
		for r.err == nil {
			r.ws()
			if r.i >= len(r.in) || r.in[r.i] == ']' {
				r.i++
				return
			}
			r.value(o, false)
			r.ws()
			if r.i < len(r.in) && r.in[r.i] == ',' {
				r.i++
			}
		}
	default:
		r.skip()
	}
}

// object walks an o object, renaming proto names and descending into the
// message-typed fields.
func (r *rewriter) object(o *Object) {
	r.i++          // past '{'
	var seen []int // field indexes, one per key that names a field
	renamed := -1  // a field some key renamed (any, for the duplicate check)
	for r.err == nil {
		r.ws()
		if r.i >= len(r.in) || r.in[r.i] == '}' {
			r.i++
			break
		}
		start := r.i
		r.skipString()
		end := r.i
		name, ok := unquote(r.in[start:end])
		r.ws()
		r.i++ // ':'
		idx, rename := -1, false
		if ok {
			idx, rename = o.lookup(name)
		}
		if idx < 0 {
			r.skip()
		} else {
			seen = append(seen, idx)
			if rename {
				renamed = idx
				r.replace(start, end, `"`+o.Fields[idx].JSON+`"`)
			}
			r.value(o.Fields[idx].Object, o.Fields[idx].Repeated)
		}
		r.ws()
		if r.i < len(r.in) && r.in[r.i] == ',' {
			r.i++
		}
	}
	if renamed < 0 || r.err != nil {
		return
	}
	// ProtoJSON refuses a field given twice; only objects that use a
	// proto name are checked, so JSON names alone decode as they always did.
	count := map[int]int{}
	for _, idx := range seen {
		if count[idx]++; count[idx] == 2 {
			r.err = &DuplicateFieldError{Object: o.Name, Field: o.Fields[idx].JSON}
			return
		}
	}
}

// lookup finds the field a key names: its JSON name ignoring case (as
// encoding/json matches), or its proto name exactly (rename is then true).
func (o *Object) lookup(key string) (idx int, rename bool) {
	for i, f := range o.Fields {
		if key == f.JSON {
			return i, false
		}
	}
	for i, f := range o.Fields {
		if f.Proto != f.JSON && key == f.Proto {
			return i, true
		}
	}
	for i, f := range o.Fields {
		if strings.EqualFold(key, f.JSON) {
			return i, false
		}
	}
	return -1, false
}

// replace puts s in place of in[start:end].
func (r *rewriter) replace(start, end int, s string) {
	if r.out == nil {
		r.out = make([]byte, 0, len(r.in)+len(s))
	}
	r.out = append(r.out, r.in[r.copied:start]...)
	r.out = append(r.out, s...)
	r.copied = end
}

// unquote decodes a JSON string token.
func unquote(tok []byte) (string, bool) {
	if len(tok) < 2 {
		return "", false
	}
	if bytes.IndexByte(tok, '\\') < 0 {
		return string(tok[1 : len(tok)-1]), true
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return "", false
	}
	return s, true
}

// skipString moves past the string at r.i.
func (r *rewriter) skipString() {
	r.i++ // '"'
	for r.i < len(r.in) {
		switch r.in[r.i] {
		case '\\':
			r.i += 2
			continue
		case '"':
			r.i++
			return
		}
		r.i++
	}
}

// skip moves past the value at r.i without looking into it (iteratively:
// nesting costs no stack).
func (r *rewriter) skip() {
	r.ws()
	depth := 0
	for r.i < len(r.in) {
		switch r.in[r.i] {
		case '"':
			r.skipString()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return
			}
			depth--
			if depth == 0 {
				r.i++
				return
			}
		case ',', ':':
			if depth == 0 {
				return
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return
			}
		}
		r.i++
	}
}
