package pbdata_test

import (
	"encoding/json"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	a2apb "github.com/a2aproject/a2a-go/v2/a2apb/v1"
	"github.com/a2aproject/a2a-go/v2/a2apb/v1/pbconv"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/agentweave/agentweave-go/a2a/internal/pbdata"
)

type point struct {
	X int `json:"x"`
}

// values are data part contents of every JSON kind, and Go values a
// client may hand over.
var values = []struct {
	name string
	in   any
	want any // as JSON decodes it
}{
	{"object", map[string]any{"a": 1.0, "b": []any{"x"}}, map[string]any{"a": 1.0, "b": []any{"x"}}},
	{"array", []any{1.0, "two", false, nil}, []any{1.0, "two", false, nil}},
	{"string", "text", "text"},
	{"number", 4.5, 4.5},
	{"bool", true, true},
	{"null", nil, nil},
	{"empty object", map[string]any{}, map[string]any{}},
	{"struct", point{X: 3}, map[string]any{"x": 3.0}},
	{"slice of structs", []point{{1}, {2}}, []any{map[string]any{"x": 1.0}, map[string]any{"x": 2.0}}},
	{"object holding a struct", map[string]any{"p": point{X: 1}}, map[string]any{"p": map[string]any{"x": 1.0}}},
	{"looks boxed", map[string]any{pbdata.Key: "not a box"}, map[string]any{pbdata.Key: "not a box"}},
}

func taskWith(v any) *a2acore.Task {
	msg := a2acore.NewMessage(a2acore.MessageRoleAgent, a2acore.NewDataPart(v), a2acore.NewTextPart("t"))
	return &a2acore.Task{
		ID: "t-1", ContextID: "c-1",
		Status:    a2acore.TaskStatus{State: a2acore.TaskStateCompleted, Message: msg},
		Artifacts: []*a2acore.Artifact{{ID: "a-1", Parts: a2acore.ContentParts{a2acore.NewDataPart(v)}}},
		History:   []*a2acore.Message{msg},
	}
}

// TestToProto: through Box, pbconv (a2a-go's own conversion), then
// UnboxProto, every data value becomes the google.protobuf.Value A2A's
// proto says, and the a2a value given is left as it was.
func TestToProto(t *testing.T) {
	t.Parallel()
	for _, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			task := taskWith(tt.in)
			before, _ := json.Marshal(task)
			pb, err := pbconv.ToProtoTask(pbdata.Box(task))
			if err != nil {
				t.Fatalf("pbconv.ToProtoTask(Box(task)) = %v", err)
			}
			pbdata.UnboxProto(pb)
			want, err := structpb.NewValue(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			for i, got := range []*a2apb.Part{pb.GetStatus().GetMessage().GetParts()[0], pb.GetArtifacts()[0].GetParts()[0], pb.GetHistory()[0].GetParts()[0]} {
				if !proto.Equal(got.GetData(), want) {
					t.Errorf("part %d data = %v, want %v", i, protojson.Format(got.GetData()), protojson.Format(want))
				}
			}
			if after, _ := json.Marshal(task); string(after) != string(before) {
				t.Errorf("Box changed its argument:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestFromProto: a message as A2A's proto has it, through BoxProto,
// pbconv, then Unbox, keeps every data value (pbconv alone keeps objects
// only).
func TestFromProto(t *testing.T) {
	t.Parallel()
	for _, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := structpb.NewValue(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			pbReq := &a2apb.SendMessageRequest{Message: &a2apb.Message{
				MessageId: "m-1", Role: a2apb.Role_ROLE_USER,
				Parts: []*a2apb.Part{{Content: &a2apb.Part_Data{Data: v}}},
			}}
			pbdata.BoxProto(pbReq)
			req, err := pbconv.FromProtoSendMessageRequest(pbReq)
			if err != nil {
				t.Fatal(err)
			}
			pbdata.Unbox(req)
			if diff := cmp.Diff(tt.want, req.Message.Parts[0].Data()); diff != "" {
				t.Errorf("data (-want +got):\n%s", diff)
			}

			// Streams and answers too.
			stream := &a2apb.StreamResponse{Payload: &a2apb.StreamResponse_ArtifactUpdate{ArtifactUpdate: &a2apb.TaskArtifactUpdateEvent{
				TaskId: "t", ContextId: "c", Artifact: &a2apb.Artifact{ArtifactId: "a", Parts: []*a2apb.Part{{Content: &a2apb.Part_Data{Data: v}}}},
			}}}
			pbdata.BoxProto(stream)
			ev, err := pbconv.FromProtoStreamResponse(stream)
			if err != nil {
				t.Fatal(err)
			}
			pbdata.Unbox(ev)
			if diff := cmp.Diff(tt.want, ev.(*a2acore.TaskArtifactUpdateEvent).Artifact.Parts[0].Data()); diff != "" {
				t.Errorf("stream data (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBoxLeavesObjectsAlone: the common case, objects of JSON values,
// costs no copy.
func TestBoxLeavesObjectsAlone(t *testing.T) {
	t.Parallel()
	task := taskWith(map[string]any{"a": "b"})
	if got := pbdata.Box(task); got != task {
		t.Error("Box copied a task it did not need to change")
	}
	var nilTask *a2acore.Task
	if got := pbdata.Box(nilTask); got != nil {
		t.Error("Box(nil) != nil")
	}
	var none a2acore.SendMessageResult
	if got := pbdata.Box(none); got != nil {
		t.Error("Box(nil interface) != nil")
	}
}

// FuzzRoundTrip: any JSON value in a data part crosses the gRPC binding
// both ways (a2a to protobuf and back) unchanged.
func FuzzRoundTrip(f *testing.F) {
	for _, seed := range []string{`{"a":1}`, `[1,"two",null]`, `"s"`, `3.5`, `true`, `null`, `{}`, `[]`, `{"\u0000agentweave/a2a/data-part-value":1}`, `[{"\u0000agentweave/a2a/data-part-value":[]}]`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		var v any
		if json.Unmarshal([]byte(raw), &v) != nil {
			return
		}
		if _, err := structpb.NewValue(v); err != nil {
			return // not a protobuf value (invalid UTF-8, say)
		}
		pb, err := pbconv.ToProtoTask(pbdata.Box(taskWith(v)))
		if err != nil {
			t.Fatalf("ToProtoTask: %v", err)
		}
		pbdata.UnboxProto(pb)
		b, err := proto.Marshal(pb)
		if err != nil {
			t.Fatal(err)
		}
		var wire a2apb.Task
		if err := proto.Unmarshal(b, &wire); err != nil {
			t.Fatal(err)
		}
		pbdata.BoxProto(&wire)
		back, err := pbconv.FromProtoTask(&wire)
		if err != nil {
			t.Fatalf("FromProtoTask: %v", err)
		}
		pbdata.Unbox(back)
		if diff := cmp.Diff(v, back.Artifacts[0].Parts[0].Data()); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", raw, diff)
		}
	})
}
