package wire

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
)

// bindingEncode is how a2a-go's binding writes a SendMessage result.
func bindingEncode(id any, res a2acore.SendMessageResult) ([]byte, error) {
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      any    `json:"id"`
		Result  any    `json:"result,omitempty"`
	}{"2.0", id, a2acore.StreamResponse{Event: res}})
	return buf.Bytes(), err
}

// FuzzWireEncoding: the one-pass encoder writes exactly the bytes of
// a2a-go's, and fails where it fails.
func FuzzWireEncoding(f *testing.F) {
	f.Add("task-1", "hello", []byte("raw"), []byte(`{"hits":["a","b"],"n":3}`), "capability", uint32(0))
	f.Add("t\u2028<&>\"\\\x01\xff", "ünïcödé\t", []byte{}, []byte(`[1,2.5,"x",null,true]`), "", uint32(0xffffffff))
	f.Add("", "", []byte(nil), []byte(`not json`), "k", uint32(0x5a5a5a5a))
	f.Add("id", "text", []byte{0, 1, 2}, []byte(`"s"`), "m", uint32(0x12345678))
	f.Add("n", "t", []byte("r"), []byte(`[1e-7,1e21,1e20,123456789012345678901234,-0,0.000001,5e-324,1.7976931348623157e308,-1e-10,{"b":1,"a":{"\u00e9":2,"<":3}}]`), "x", uint32(0x0000a000))
	f.Add("n", "t", []byte("r"), []byte(`{"z":[],"y":{},"x":[null,true,false,""]}`), "\xff", uint32(0x00007000))
	f.Fuzz(func(t *testing.T, s, text string, raw, data []byte, key string, bits uint32) {
		var value any
		if err := json.Unmarshal(data, &value); err != nil {
			value = string(data)
		}
		bit := func(n int) bool { return bits>>n&1 == 1 }
		states := []a2acore.TaskState{"", a2acore.TaskStateCompleted, a2acore.TaskStateWorking, a2acore.TaskState(text)}
		roles := []a2acore.MessageRole{"", a2acore.MessageRoleUser, a2acore.MessageRoleAgent, a2acore.MessageRole(s)}
		parts := a2acore.ContentParts{a2acore.NewTextPart(text), a2acore.NewDataPart(value)}
		if bit(0) {
			parts = append(parts, &a2acore.Part{Content: a2acore.Raw(raw), Filename: s, MediaType: text})
		}
		if bit(1) {
			parts = append(parts, &a2acore.Part{Content: a2acore.URL(s), Metadata: map[string]any{key: value}}, nil, &a2acore.Part{})
		}
		if bit(2) {
			parts = nil
		}
		msg := &a2acore.Message{
			ID: s, ContextID: text, Role: roles[bits>>3&3], Parts: parts, TaskID: a2acore.TaskID(key),
		}
		if bit(5) {
			msg.Extensions, msg.ReferenceTasks = []string{s, key}, []a2acore.TaskID{a2acore.TaskID(text)}
			msg.Metadata = map[string]any{key: value, "n": float64(bits)}
		}
		var res a2acore.SendMessageResult = msg
		if !bit(6) {
			ts := time.Unix(int64(bits)*7919-int64(bits>>20)*1e9, int64(bits%1e9)).In(time.FixedZone("z", int(bits%(26*3600))-13*3600))
			if bit(7) {
				ts = time.Date(10000+int(bits%5), 1, 1, 0, 0, 0, 0, time.UTC) // not RFC 3339: both fail
			}
			task := &a2acore.Task{
				ID: a2acore.TaskID(s), ContextID: key,
				Status: a2acore.TaskStatus{State: states[bits>>8&3]},
			}
			if bit(10) {
				task.Status.Timestamp = &ts
			}
			if bit(11) {
				task.Status.Message = msg
			}
			if bit(12) {
				task.History = []*a2acore.Message{msg, nil}
			}
			if bit(13) {
				task.Artifacts = []*a2acore.Artifact{{ID: a2acore.ArtifactID(key), Name: text, Description: s, Parts: parts, Extensions: []string{key}, Metadata: map[string]any{s: value}}, nil}
			}
			if bit(14) {
				task.Metadata = map[string]any{text: value}
			}
			res = task
		}
		var id any = s
		switch bits >> 16 & 3 {
		case 1:
			id = float64(bits) / 7
		case 2:
			id = nil
		}
		want, werr := bindingEncode(id, res)
		got, gerr := AppendResult(nil, id, res)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("a2a-go's encoding error %v, ours %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("encodings differ\nours:   %s\na2a-go: %s", got, want)
		}
	})
}
