// Package pbdata carries data parts of any JSON value through a2a-go
// v2.4.0's protobuf conversion (a2apb/v1/pbconv), used by its gRPC
// binding on both sides. A2A types a data part as google.protobuf.Value:
// an object, array, string, number, boolean or null (a2a.proto, Part.data).
// pbconv handles objects only: converting a part whose value is anything
// else to protobuf fails ("DataPart value must be a map"), and converting
// one from protobuf yields a nil map, the value lost.
//
// Around each conversion, a value pbconv cannot carry travels boxed: in an
// object whose one key is [Key]. To protobuf: [Box] the a2a value, convert
// it with pbconv, then [UnboxProto] the protobuf message, which is then as
// A2A says. From protobuf: [BoxProto] the message, convert it, then
// [Unbox] the a2a value. An object whose one key is Key is boxed too, so
// that unboxing never changes a value that was not boxed.
package pbdata

import (
	"encoding/json"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	a2apb "github.com/a2aproject/a2a-go/v2/a2apb/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// Key is the one key of a boxed value's object.
const Key = "\x00agentweave/a2a/data-part-value"

// convertible reports whether pbconv converts v as it is: an object of
// values structpb knows, that is not a box.
func convertible(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	if _, boxed := m[Key]; boxed && len(m) == 1 {
		return false
	}
	for _, e := range m {
		if !jsonValue(e, 0) {
			return false
		}
	}
	return true
}

// jsonValue reports whether structpb.NewValue takes v.
func jsonValue(v any, depth int) bool {
	if depth > 100 {
		return false
	}
	switch v := v.(type) {
	case nil, bool, string, float64, float32, int, int32, int64, uint, uint32, uint64, json.Number, []byte:
		return true
	case map[string]any:
		for _, e := range v {
			if !jsonValue(e, depth+1) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range v {
			if !jsonValue(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// box returns the content pbconv converts for a data value: v itself, v
// made JSON (a Go struct becomes the object encoding/json makes of it), or
// the box of that.
func box(v any) any {
	if convertible(v) {
		return v
	}
	if !jsonValue(v, 0) {
		if b, err := json.Marshal(v); err == nil {
			var j any
			if json.Unmarshal(b, &j) == nil {
				v = j
			}
		}
		if convertible(v) {
			return v
		}
	}
	return map[string]any{Key: v}
}

// unbox is box undone on a value made by pbconv.
func unbox(v any) (any, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v, false
	}
	inner, ok := m[Key]
	return inner, ok
}

// boxParts returns parts with their data values boxed, or parts itself
// when none needs it.
func boxParts(parts a2acore.ContentParts) a2acore.ContentParts {
	var out a2acore.ContentParts
	for i, p := range parts {
		d, ok := p.Content.(a2acore.Data)
		if !ok || convertible(d.Value) {
			continue
		}
		if out == nil {
			out = append(a2acore.ContentParts(nil), parts...)
		}
		c := *p
		c.Content = a2acore.Data{Value: box(d.Value)}
		out[i] = &c
	}
	if out == nil {
		return parts
	}
	return out
}

func boxMessage(m *a2acore.Message) *a2acore.Message {
	if m == nil {
		return nil
	}
	parts := boxParts(m.Parts)
	if sameSlice(parts, m.Parts) {
		return m
	}
	c := *m
	c.Parts = parts
	return &c
}

func boxArtifact(a *a2acore.Artifact) *a2acore.Artifact {
	if a == nil {
		return nil
	}
	parts := boxParts(a.Parts)
	if sameSlice(parts, a.Parts) {
		return a
	}
	c := *a
	c.Parts = parts
	return &c
}

// boxEach applies f to each element of s, copying s only if f changes one.
func boxEach[T comparable](s []T, f func(T) T) []T {
	var out []T
	for i, e := range s {
		if b := f(e); b != e {
			if out == nil {
				out = append([]T(nil), s...)
			}
			out[i] = b
		}
	}
	if out == nil {
		return s
	}
	return out
}

func boxTask(t *a2acore.Task) *a2acore.Task {
	if t == nil {
		return nil
	}
	msg := boxMessage(t.Status.Message)
	arts := boxEach(t.Artifacts, boxArtifact)
	hist := boxEach(t.History, boxMessage)
	if msg == t.Status.Message && sameSlice(arts, t.Artifacts) && sameSlice(hist, t.History) {
		return t
	}
	c := *t
	c.Status.Message, c.Artifacts, c.History = msg, arts, hist
	return &c
}

func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// Box returns v, one of the a2a values the gRPC binding converts (a
// message, task, event, send request or result, task list), with every
// data part pbconv cannot convert boxed. v is not modified: what changes
// is copied, and v itself is returned when nothing does.
func Box[T any](v T) T {
	var out any
	switch x := any(v).(type) {
	case *a2acore.Message:
		out = boxMessage(x)
	case *a2acore.Task:
		out = boxTask(x)
	case *a2acore.TaskStatusUpdateEvent:
		out = x
		if x == nil {
			break
		}
		if m := boxMessage(x.Status.Message); m != x.Status.Message {
			c := *x
			c.Status.Message = m
			out = &c
		}
	case *a2acore.TaskArtifactUpdateEvent:
		out = x
		if x == nil {
			break
		}
		if a := boxArtifact(x.Artifact); a != x.Artifact {
			c := *x
			c.Artifact = a
			out = &c
		}
	case *a2acore.SendMessageRequest:
		out = x
		if x == nil {
			break
		}
		if m := boxMessage(x.Message); m != x.Message {
			c := *x
			c.Message = m
			out = &c
		}
	case *a2acore.ListTasksResponse:
		out = x
		if x == nil {
			break
		}
		if ts := boxEach(x.Tasks, boxTask); !sameSlice(ts, x.Tasks) {
			c := *x
			c.Tasks = ts
			out = &c
		}
	default:
		return v
	}
	return out.(T)
}

// Unbox unboxes, in place, the data parts of v, an a2a value pbconv just
// made (see [Box] for the types).
func Unbox(v any) {
	switch v := v.(type) {
	case *a2acore.Message:
		unboxMessage(v)
	case *a2acore.Task:
		unboxTask(v)
	case *a2acore.TaskStatusUpdateEvent:
		if v != nil {
			unboxMessage(v.Status.Message)
		}
	case *a2acore.TaskArtifactUpdateEvent:
		if v != nil && v.Artifact != nil {
			unboxParts(v.Artifact.Parts)
		}
	case *a2acore.SendMessageRequest:
		if v != nil {
			unboxMessage(v.Message)
		}
	case *a2acore.ListTasksResponse:
		if v != nil {
			for _, t := range v.Tasks {
				unboxTask(t)
			}
		}
	}
}

func unboxParts(parts a2acore.ContentParts) {
	for _, p := range parts {
		if d, ok := p.Content.(a2acore.Data); ok {
			if inner, ok := unbox(d.Value); ok {
				p.Content = a2acore.Data{Value: inner}
			}
		}
	}
}

func unboxMessage(m *a2acore.Message) {
	if m != nil {
		unboxParts(m.Parts)
	}
}

func unboxTask(t *a2acore.Task) {
	if t == nil {
		return
	}
	unboxMessage(t.Status.Message)
	for _, a := range t.Artifacts {
		if a != nil {
			unboxParts(a.Parts)
		}
	}
	for _, m := range t.History {
		unboxMessage(m)
	}
}

// UnboxProto replaces, in place, every boxed data value of m (a message
// pbconv just made) by the value it holds, as A2A's proto has it.
func UnboxProto(m any) { walkProto(m, unboxValue) }

// BoxProto boxes, in place, every data value of m (a message just
// received) that pbconv would lose or misread.
func BoxProto(m any) { walkProto(m, boxValue) }

func unboxValue(p *a2apb.Part) {
	d, ok := p.GetContent().(*a2apb.Part_Data)
	if !ok {
		return
	}
	if s := d.Data.GetStructValue(); s != nil && len(s.GetFields()) == 1 {
		if inner, ok := s.GetFields()[Key]; ok {
			d.Data = inner
		}
	}
}

func boxValue(p *a2apb.Part) {
	d, ok := p.GetContent().(*a2apb.Part_Data)
	if !ok {
		return
	}
	if s := d.Data.GetStructValue(); s != nil {
		if _, boxed := s.GetFields()[Key]; !boxed || len(s.GetFields()) != 1 {
			return
		}
	}
	v := d.Data
	if v == nil {
		v = structpb.NewNullValue()
	}
	d.Data = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{Key: v}})
}

// walkProto calls f on every part of m, a gRPC binding message.
func walkProto(m any, f func(*a2apb.Part)) {
	switch m := m.(type) {
	case *a2apb.SendMessageRequest:
		walkMessage(m.GetMessage(), f)
	case *a2apb.SendMessageResponse:
		walkMessage(m.GetMessage(), f)
		walkTask(m.GetTask(), f)
	case *a2apb.StreamResponse:
		walkMessage(m.GetMessage(), f)
		walkTask(m.GetTask(), f)
		walkMessage(m.GetStatusUpdate().GetStatus().GetMessage(), f)
		walkParts(m.GetArtifactUpdate().GetArtifact().GetParts(), f)
	case *a2apb.Task:
		walkTask(m, f)
	case *a2apb.ListTasksResponse:
		for _, t := range m.GetTasks() {
			walkTask(t, f)
		}
	}
}

func walkParts(parts []*a2apb.Part, f func(*a2apb.Part)) {
	for _, p := range parts {
		if p != nil {
			f(p)
		}
	}
}

func walkMessage(m *a2apb.Message, f func(*a2apb.Part)) { walkParts(m.GetParts(), f) }

func walkTask(t *a2apb.Task, f func(*a2apb.Part)) {
	walkMessage(t.GetStatus().GetMessage(), f)
	for _, a := range t.GetArtifacts() {
		walkParts(a.GetParts(), f)
	}
	for _, m := range t.GetHistory() {
		walkMessage(m, f)
	}
}
