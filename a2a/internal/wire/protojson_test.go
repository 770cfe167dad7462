package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/google/go-cmp/cmp"
)

// requests are the schemas of the request messages and the a2a-go types
// their JSON decodes into.
var requests = []struct {
	o *Object
	v any
}{
	{SendMessageRequest, &a2acore.SendMessageRequest{}},
	{GetTaskRequest, &a2acore.GetTaskRequest{}},
	{ListTasksRequest, &a2acore.ListTasksRequest{}},
	{CancelTaskRequest, &a2acore.CancelTaskRequest{}},
	{SubscribeToTaskRequest, &a2acore.SubscribeToTaskRequest{}},
	{TaskPushNotificationConfig, &a2acore.PushConfig{}},
	{GetTaskPushNotificationConfigRequest, &a2acore.GetTaskPushConfigRequest{}},
	{DeleteTaskPushNotificationConfigRequest, &a2acore.DeleteTaskPushConfigRequest{}},
	{ListTaskPushNotificationConfigsRequest, &a2acore.ListTaskPushConfigRequest{}},
	{GetExtendedAgentCardRequest, &a2acore.GetExtendedAgentCardRequest{}},
}

// protoMessages parses the message definitions of the A2A proto
// (testdata/a2a-v1.0.1.proto, spec/a2a.proto of A2A v1.0.1): for each
// message, its fields' names and types.
func protoMessages(t *testing.T) map[string]map[string]string {
	t.Helper()
	src, err := os.ReadFile("testdata/a2a-v1.0.1.proto")
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[string]map[string]string{}
	field := regexp.MustCompile(`^\s*(?:optional\s+|repeated\s+)?([\w.]+|map<[^>]+>)\s+(\w+)\s*=\s*\d+`)
	var cur map[string]string
	depth := 0
	for line := range strings.Lines(string(src)) {
		line, _, _ = strings.Cut(line, "//")
		if m := regexp.MustCompile(`^message (\w+) \{`).FindStringSubmatch(line); m != nil {
			cur, depth = map[string]string{}, 0
			msgs[m[1]] = cur
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
		if cur == nil {
			continue
		}
		if m := field.FindStringSubmatch(line); m != nil && !strings.HasPrefix(strings.TrimSpace(line), "option ") {
			cur[m[2]] = m[1]
		}
		if depth == 0 {
			cur = nil
		}
	}
	return msgs
}

// TestSchemaIsTheProto: every request message's schema lists exactly the
// proto's fields, by their proto names, and descends into exactly the
// fields whose type is another A2A message.
func TestSchemaIsTheProto(t *testing.T) {
	t.Parallel()
	msgs := protoMessages(t)
	if len(msgs) < 40 {
		t.Fatalf("parsed %d messages from the proto, want them all", len(msgs))
	}
	seen := map[*Object]bool{}
	var check func(o *Object)
	check = func(o *Object) {
		if seen[o] {
			return
		}
		seen[o] = true
		fields, ok := msgs[o.Name]
		if !ok {
			t.Errorf("%s is not a message of the proto", o.Name)
			return
		}
		var got, want []string
		for _, f := range o.Fields {
			got = append(got, f.Proto)
			if f.JSON != jsonName(f.Proto) {
				t.Errorf("%s.%s: JSON name %q, want %q", o.Name, f.Proto, f.JSON, jsonName(f.Proto))
			}
			typ := fields[f.Proto]
			_, message := msgs[typ]
			if message != (f.Object != nil) {
				t.Errorf("%s.%s (%s): nested schema %v, want one exactly for A2A messages", o.Name, f.Proto, typ, f.Object != nil)
			}
			if f.Object != nil {
				if f.Object.Name != typ {
					t.Errorf("%s.%s is a %s, not a %s", o.Name, f.Proto, typ, f.Object.Name)
				}
				check(f.Object)
			}
		}
		for name := range fields {
			want = append(want, name)
		}
		slices.Sort(got)
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s fields (-proto +schema):\n%s", o.Name, diff)
		}
	}
	for _, r := range requests {
		check(r.o)
	}
	for _, m := range []string{
		"SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
		"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig", "ListTaskPushNotificationConfigs",
		"DeleteTaskPushNotificationConfig", "GetExtendedAgentCard",
	} {
		if Params(m) == nil {
			t.Errorf("Params(%q) = nil", m)
		}
	}
}

// goKeys returns the JSON keys a2a-go decodes for type typ, and the type of
// each: a2a.Part's content is flattened into its kinds (Part.UnmarshalJSON).
func goKeys(typ reflect.Type) map[string]reflect.Type {
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
	}
	keys := map[string]reflect.Type{}
	if typ.Kind() != reflect.Struct {
		return nil
	}
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		keys[name] = f.Type
	}
	if typ == reflect.TypeFor[a2acore.Part]() {
		delete(keys, "content")
		for _, k := range []string{"text", "raw", "url", "data"} {
			keys[k] = reflect.TypeFor[any]()
		}
	}
	return keys
}

// TestSchemaIsA2AGo: the schema's JSON names are the keys a2a-go's types
// decode, level by level, so a field a2a-go adds shows up here.
func TestSchemaIsA2AGo(t *testing.T) {
	t.Parallel()
	var check func(o *Object, typ reflect.Type)
	check = func(o *Object, typ reflect.Type) {
		keys := goKeys(typ)
		var got, want []string
		for _, f := range o.Fields {
			got = append(got, f.JSON)
			if ft, ok := keys[f.JSON]; ok && f.Object != nil {
				check(f.Object, ft)
			}
		}
		for k := range keys {
			want = append(want, k)
		}
		slices.Sort(got)
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s keys (-a2a-go %s +schema):\n%s", o.Name, typ, diff)
		}
	}
	for _, r := range requests {
		check(r.o, reflect.TypeOf(r.v))
	}
}

func TestCamelCase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"JSON names unchanged", `{"message":{"messageId":"m","taskId":"t"}}`, `{"message":{"messageId":"m","taskId":"t"}}`, false},
		{
			"proto names renamed", `{"message":{"message_id":"m","context_id":"c","task_id":"t","reference_task_ids":["r"],"parts":[{"text":"x","media_type":"text/plain"}]},"configuration":{"accepted_output_modes":["a"],"history_length":2,"return_immediately":true,"task_push_notification_config":{"task_id":"t","url":"u"}}}`,
			`{"message":{"messageId":"m","contextId":"c","taskId":"t","referenceTaskIds":["r"],"parts":[{"text":"x","mediaType":"text/plain"}]},"configuration":{"acceptedOutputModes":["a"],"historyLength":2,"returnImmediately":true,"taskPushNotificationConfig":{"taskId":"t","url":"u"}}}`, false,
		},
		{
			"user data kept", `{"metadata":{"task_id":1},"message":{"metadata":{"context_id":{"message_id":2}},"parts":[{"data":{"task_id":3,"l":[{"media_type":4}]},"metadata":{"media_type":5}}]}}`,
			`{"metadata":{"task_id":1},"message":{"metadata":{"context_id":{"message_id":2}},"parts":[{"data":{"task_id":3,"l":[{"media_type":4}]},"metadata":{"media_type":5}}]}}`, false,
		},
		{"unknown keys kept", `{"task_id":1,"message":{"foo_bar":[{"task_id":2}]}}`, `{"task_id":1,"message":{"foo_bar":[{"task_id":2}]}}`, false},
		{"escaped proto name", `{"message":{"task\u005fid":"t"}}`, `{"message":{"taskId":"t"}}`, false},
		{"JSON name in another case", `{"MESSAGE":{"task_id":"t"}}`, `{"MESSAGE":{"taskId":"t"}}`, false},
		{"proto names match exactly", `{"message":{"TASK_ID":"t"}}`, `{"message":{"TASK_ID":"t"}}`, false},
		{"space around keys", "{ \"message\" : { \"task_id\"\n:\t\"t\" } }", "{ \"message\" : { \"taskId\"\n:\t\"t\" } }", false},
		{"what follows is kept", `{"message":{"task_id":"t"}} {"task_id":1}`, `{"message":{"taskId":"t"}} {"task_id":1}`, false},
		{"not JSON", `{"message":{"task_id":`, `{"message":{"task_id":`, false},
		{"wrong shapes skipped", `{"message":[{"task_id":1}],"configuration":"x"}`, `{"message":[{"task_id":1}],"configuration":"x"}`, false},
		{"both names", `{"message":{"taskId":"a","task_id":"b"}}`, "", true},
		{"proto name twice", `{"message":{"task_id":"a","task_id":"b"}}`, "", true},
		{"JSON name twice is a2a-go's business", `{"message":{"taskId":"a","taskId":"b"}}`, `{"message":{"taskId":"a","taskId":"b"}}`, false},
	}
	for _, tt := range tests {
		got, err := SendMessageRequest.CamelCase([]byte(tt.in))
		var dup *DuplicateFieldError
		if tt.err {
			if !errors.As(err, &dup) || dup.Object != "Message" || dup.Field != "taskId" {
				t.Errorf("%s: error = %v, want Message.taskId given twice", tt.name, err)
			}
			continue
		}
		if err != nil || string(got) != tt.want {
			t.Errorf("%s: CamelCase = %s, %v\nwant %s", tt.name, got, err, tt.want)
		}
	}
	params := `{"jsonrpc":"2.0","id":1,"method":"GetTask","Params":{"id":"t","history_length":0},"history_length":1}`
	if got, err := GetTaskRequest.CamelCaseParams([]byte(params)); err != nil ||
		string(got) != `{"jsonrpc":"2.0","id":1,"method":"GetTask","Params":{"id":"t","historyLength":0},"history_length":1}` {
		t.Errorf("CamelCaseParams = %s, %v", got, err)
	}
	q := url.Values{"page_size": {"2"}, "context_id": {"c"}, "include_artifacts": {"true"}, "status": {"x"}, "other_key": {"y"}}
	if changed, err := ListTasksRequest.CamelCaseQuery(q); !changed || err != nil ||
		q.Encode() != "contextId=c&includeArtifacts=true&other_key=y&pageSize=2&status=x" {
		t.Errorf("CamelCaseQuery = %v, %v: %s", changed, err, q.Encode())
	}
	if _, err := ListTasksRequest.CamelCaseQuery(url.Values{"page_size": {"2"}, "pageSize": {"3"}}); err == nil {
		t.Error("CamelCaseQuery with both names: no error")
	}
	if MayNeedCamelCase([]byte(`{"message":{"messageId":"m","parts":[{"text":"hi"}]}}`)) {
		t.Error("MayNeedCamelCase of a plain request = true")
	}
}

// node is a JSON value that keeps its objects' key order and duplicates.
type node struct {
	scalar any // json.Number, string, bool or nil
	keys   []string
	vals   []*node // object members, or array elements when keys is nil
	obj    bool
	arr    bool
}

func parseNode(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch tok {
	case json.Delim('{'):
		n := &node{obj: true}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := parseNode(dec)
			if err != nil {
				return nil, err
			}
			n.keys, n.vals = append(n.keys, k.(string)), append(n.vals, v)
		}
		_, err := dec.Token()
		return n, err
	case json.Delim('['):
		n := &node{arr: true}
		for dec.More() {
			v, err := parseNode(dec)
			if err != nil {
				return nil, err
			}
			n.vals = append(n.vals, v)
		}
		_, err := dec.Token()
		return n, err
	}
	return &node{scalar: tok}, nil
}

func (n *node) encode(b *bytes.Buffer) {
	switch {
	case n.obj:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			kb, _ := json.Marshal(k)
			b.Write(kb)
			b.WriteByte(':')
			n.vals[i].encode(b)
		}
		b.WriteByte('}')
	case n.arr:
		b.WriteByte('[')
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			v.encode(b)
		}
		b.WriteByte(']')
	default:
		if num, ok := n.scalar.(json.Number); ok {
			b.WriteString(string(num))
			return
		}
		vb, _ := json.Marshal(n.scalar)
		b.Write(vb)
	}
}

// snakeName is a JSON name's proto name (the proto's field names are
// lower_snake_case).
func snakeName(s string) string {
	var b strings.Builder
	for _, c := range s {
		if 'A' <= c && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

// respell renames keys at the positions a2a-go's type typ decodes (found
// by reflection, not from the schema): toProto spells each key that names
// a field (as encoding/json matches) by its proto name; otherwise a key
// that is exactly a field's proto name is spelled by its JSON name (what
// ProtoJSON parsers accept). Free-form values are left alone.
func respell(n *node, typ reflect.Type, toProto bool) {
	keys := goKeys(typ)
	if keys == nil {
		return
	}
	if n.arr {
		for _, v := range n.vals {
			respell(v, typ, toProto)
		}
		return
	}
	if !n.obj {
		return
	}
	for i, k := range n.keys {
		var name string
		var ft reflect.Type
		for jn, t := range keys {
			switch {
			case toProto && strings.EqualFold(k, jn), !toProto && k == jn:
				name, ft = jn, t
			case !toProto && k == snakeName(jn) && name == "":
				name, ft = jn, t
				n.keys[i] = jn
			}
		}
		if toProto && name != "" {
			n.keys[i] = snakeName(name)
		}
		if ft != nil && ft != reflect.TypeFor[any]() && ft.Kind() != reflect.Map {
			respell(n.vals[i], ft, toProto)
		}
	}
}

// FuzzCamelCase: a request spelled with proto names decodes, after
// CamelCase, to the same request as spelled with JSON names; and CamelCase
// renames exactly the proto names at a2a-go's fields, never a key inside
// user data (both checked against respell, which knows the positions from
// a2a-go's types by reflection).
func FuzzCamelCase(f *testing.F) {
	for _, s := range []string{
		`{"message":{"messageId":"m","contextId":"c","taskId":"t","role":"ROLE_USER","referenceTaskIds":["r"],"extensions":["e"],"parts":[{"text":"x","mediaType":"text/plain","filename":"f","metadata":{"task_id":1}},{"data":{"context_id":[{"message_id":2}]}},{"raw":"aGk="},{"url":"https://x"}],"metadata":{"media_type":"m"}},"configuration":{"acceptedOutputModes":["a"],"historyLength":2,"returnImmediately":true,"taskPushNotificationConfig":{"taskId":"t","url":"u","token":"k","authentication":{"scheme":"Bearer","credentials":"c"}}},"metadata":{"task_id":"x"},"tenant":"t"}`,
		`{"id":"t","historyLength":3,"tenant":"x"}`,
		`{"contextId":"c","status":"TASK_STATE_WORKING","pageSize":5,"pageToken":"p","historyLength":0,"statusTimestampAfter":"2026-01-02T03:04:05Z","includeArtifacts":true}`,
		`{"id":"t","metadata":{"page_size":1}}`,
		`{"taskId":"t","id":"c","pageSize":1,"pageToken":"p"}`,
		`{"message":{"task_id":"t","TaskId":"u"}}`,
		`{"MESSAGE":{"PARTS":[{"MediaType":"x","text":"y"}]}}`,
		`{"message":{"task\u005fid":"t","metadata":{"a_b":{"c_d":1}}}}`,
		`[]`, `{"message":[{"message_id":1}]}`, `{"message":null}`,
	} {
		for i := range requests {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		r := requests[int(which)%len(requests)]
		typ := reflect.TypeOf(r.v)
		decode := func(b []byte) (any, bool) {
			v := reflect.New(typ.Elem()).Interface()
			return v, json.Unmarshal(b, v) == nil
		}
		spelled := func(toProto bool, b []byte) []byte {
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			n, err := parseNode(dec)
			if err != nil {
				return nil
			}
			if _, err := dec.Token(); err != io.EOF {
				return nil
			}
			respell(n, typ, toProto)
			var buf bytes.Buffer
			n.encode(&buf)
			return buf.Bytes()
		}
		want := spelled(false, body) // as a ProtoJSON parser reads it
		if want == nil {
			return
		}
		expected, ok := decode(want)
		got, err := r.o.CamelCase(body)
		if err != nil {
			return // a field given twice: refused, as ProtoJSON does
		}
		if !ok {
			return
		}
		fromCamel, ok := decode(got)
		if !ok || !reflect.DeepEqual(fromCamel, expected) {
			t.Fatalf("%s %s\nCamelCase: %s\ndecodes to %+v\nwant       %+v", r.o.Name, body, got, fromCamel, expected)
		}
		// The same request spelled with proto names decodes the same.
		proto := spelled(true, body)
		snake, err := r.o.CamelCase(proto)
		if err != nil {
			return // JSON names that fold together became one proto name twice
		}
		fromProto, ok := decode(snake)
		if !ok || !reflect.DeepEqual(fromProto, fromCamel) {
			t.Fatalf("%s %s\nin proto names %s\nCamelCase: %s\ndecodes to %+v\nwant       %+v", r.o.Name, body, proto, snake, fromProto, fromCamel)
		}
	})
}
