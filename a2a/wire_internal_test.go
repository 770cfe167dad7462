package a2a

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// bindingDecode decodes body as a2a-go's JSON-RPC binding does for
// SendMessage (a2asrv's jsonrpcHandler.ServeHTTP and onSendMessage): the
// envelope with a streaming decoder, the parameters as raw JSON decoded
// again into a2a.SendMessageRequest. ok is false where the binding would
// answer with an error.
func bindingDecode(body []byte) (req *a2acore.SendMessageRequest, id any, ok bool) {
	var env struct {
		JSONRPC string          `json:"jsonrpc"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params,omitempty"`
		ID      any             `json:"id"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&env); err != nil {
		return nil, nil, false
	}
	switch env.ID.(type) {
	case nil, string, float64:
	default:
		return nil, nil, false
	}
	if env.JSONRPC != "2.0" || env.Method != "SendMessage" {
		return nil, nil, false
	}
	var r a2acore.SendMessageRequest
	if err := json.Unmarshal(env.Params, &r); err != nil {
		return nil, nil, false
	}
	return &r, env.ID, true
}

var sendSeeds = []string{
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"data":{"query":"spiffe","limit":3}}],"metadata":{"capability":"search"}}}}`,
	`{"jsonrpc":"2.0","id":7,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_UNSPECIFIED","parts":[{"text":"hi <b>&amp;</b>","mediaType":"text/plain","filename":"a.txt","metadata":{"x":[1,2,{"y":null}]}}],"contextId":"c","taskId":"t","extensions":["urn:x"],"referenceTaskIds":["r1","r2"]},"configuration":{"acceptedOutputModes":["text/plain"],"returnImmediately":true,"historyLength":2,"taskPushNotificationConfig":{"url":"https://127.0.0.1/hook","token":"tok","authentication":{"scheme":"Bearer","credentials":"c"}}},"metadata":{"k":"v"},"tenant":"t1"}}`,
	`{"jsonrpc":"2.0","id":null,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"raw":"aGVsbG8="},{"url":"https://example.org/f","mediaType":"image/png"},null,{"url":"","text":"u"}]}}}`,
	`{"jsonrpc":"2.0","method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[]}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","parts":null,"role":null}}}`,
	` {"JSONRPC":"2.0","ID":"1","Method":"SendMessage","Params":{"Message":{"MessageID":"m","Role":"ROLE_USER","Parts":[{"TEXT":"x"}]}}} `,
	`{"jsonrpc":"2.0","id":-1.5e3,"method":"SendMessage","unknown":{"a":[1,{"b":null}]},"params":{"message":{"messageId":"m\n\u00e9\ud83d\ude00","role":"ROLE_USER","parts":[{"raw":"aGVs\nbG8=","data":null},{"data":{"n":-0,"big":1e308,"s":"ünï\"","l":[[],{}]}}],"extensions":[],"referenceTaskIds":[]}}}`,
	// What the fast path leaves to the binding.
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"a","metadata":{"k":1}}],"parts":[{"text":"b"}]}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","parts":[{"text":"a"}]}},"params":{"message":{"messageId":"n","parts":[{"text":"b"}]}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"a","data":1}]}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{}]}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"te\u0078t":"a"}]}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"a"}],"metadata":{"ключ":1}}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"a"}]}}} trailing`,
	`{"jsonrpc":"2.0","id":{"a":1},"method":"SendMessage","params":{"message":{"messageId":"m"}}}`,
	`{"jsonrpc":"1.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m"}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"GetTask","params":{"id":"SendMessage"}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","role":1}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":"x"}`,
	`[{"jsonrpc":"2.0","id":"1","method":"SendMessage"}]`,
}

// FuzzSendDecoding: whatever the fast path decodes, a2a-go's binding
// accepts too and decodes to an equal request with the same ID.
func FuzzSendDecoding(f *testing.F) {
	for _, s := range sendSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, id, ok := decodeSend(body)
		if !ok {
			return
		}
		ref, refID, refOK := bindingDecode(body)
		if !refOK {
			t.Fatalf("the fast path accepted a request the binding refuses: %q", body)
		}
		if !reflect.DeepEqual(req, ref) || !reflect.DeepEqual(id, refID) {
			t.Fatalf("body %q\nfast path: %#v (id %#v)\nbinding:   %#v (id %#v)", body, req, id, ref, refID)
		}
	})
}

// The seeds that must take the fast path do, and the odd ones do not.
func TestSendDecodingSeeds(t *testing.T) {
	for i, s := range sendSeeds {
		_, _, ok := decodeSend([]byte(s))
		if want := i < 7; ok != want {
			t.Errorf("seed %d: fast path %v, want %v: %s", i, ok, want, s)
		}
	}
}

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
		got, gerr := appendResult(nil, id, res)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("a2a-go's encoding error %v, ours %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("encodings differ\nours:   %s\na2a-go: %s", got, want)
		}
	})
}

// roundTrip is what Call.Result did for every value: marshal, decode.
func roundTrip(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// FuzzResultCopy: for any JSON value, copyJSON's copy equals the value
// after a trip through encoding/json.
func FuzzResultCopy(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",null,true,{"b":{}}],"c":-0}`, `[]`, `"\ud800"`, `1e308`, `{"":[[[]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			return
		}
		c, ok := copyJSON(v, 0)
		if !ok {
			if _, err := json.Marshal(v); err == nil && depthOf(v) <= 64 {
				t.Fatalf("copyJSON refused a decoded JSON value: %q", data)
			}
			return
		}
		if want := roundTrip(t, v); !reflect.DeepEqual(c, want) {
			t.Fatalf("copy %#v, round trip %#v", c, want)
		}
	})
}

func depthOf(v any) int {
	d := 0
	switch v := v.(type) {
	case map[string]any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	case []any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}

// Values that would change on the trip are left to encoding/json, and a
// copy does not share maps or slices with the handler's value.
func TestResultCopy(t *testing.T) {
	for name, v := range map[string]any{
		"invalid UTF-8":     map[string]any{"s": "\xff"},
		"invalid key":       map[string]any{"\xff": 1.0},
		"NaN":               []any{math.NaN()},
		"int":               map[string]any{"n": 1},
		"struct":            struct{ A int }{1},
		"typed nil map":     map[string]any(nil),
		"nested typed nil":  map[string]any{"m": []any(nil)},
		"string slice":      []string{"a"},
		"too deep":          nest(70),
		"map of typed maps": map[string]any{"m": map[string]string{"a": "b"}},
	} {
		if _, ok := copyJSON(v, 0); ok {
			t.Errorf("%s: copied, want left to encoding/json", name)
		}
	}
	orig := map[string]any{"list": []any{"a", map[string]any{"k": "v"}}}
	c, ok := copyJSON(orig, 0)
	if !ok {
		t.Fatal("a JSON value was not copied")
	}
	orig["list"].([]any)[1].(map[string]any)["k"] = "changed"
	orig["new"] = true
	if got := c.(map[string]any); got["new"] != nil || got["list"].([]any)[1].(map[string]any)["k"] != "v" {
		t.Errorf("the copy shares state with the original: %v", got)
	}
}

func nest(n int) any {
	var v any = "leaf"
	for range n {
		v = []any{v}
	}
	return v
}

// BenchmarkSendDecoding: the fast path's decoding against the binding's,
// for the benchmark's request.
func BenchmarkSendDecoding(b *testing.B) {
	body := []byte(sendSeeds[0])
	b.Run("binding", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := bindingDecode(body); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, ok := decodeSend(body); !ok {
				b.Fatal("refused")
			}
		}
	})
}

// A finished task is kept encoded, and comes back equal to what was
// stored: the same JSON, and a fresh copy each time.
func TestMemoryStoreKeepsFinishedTasksEncoded(t *testing.T) {
	s := NewMemoryStore(0)
	owner := spiffeid.RequireFromString("spiffe://example.org/agent/a")
	now := time.Now()
	task := &a2acore.Task{
		ID: "t1", ContextID: "c1",
		Status:    a2acore.TaskStatus{State: a2acore.TaskStateWorking, Timestamp: &now},
		History:   []*a2acore.Message{{ID: "m", Role: a2acore.MessageRoleUser, Parts: a2acore.ContentParts{a2acore.NewDataPart(map[string]any{"q": "x", "n": 1.5})}}},
		Artifacts: []*a2acore.Artifact{{ID: "a", Name: "result", Parts: a2acore.ContentParts{a2acore.NewRawPart([]byte{1, 2}), a2acore.NewTextPart("t")}}},
		Metadata:  map[string]any{"k": []any{true, nil}},
	}
	if err := s.Create(t.Context(), owner, task); err != nil {
		t.Fatal(err)
	}
	if s.tasks["t1"].task == nil {
		t.Fatal("a running task was encoded")
	}
	done := *task
	done.Status = a2acore.TaskStatus{State: a2acore.TaskStateCompleted, Timestamp: &now}
	if _, err := s.Update(t.Context(), owner, &done, 1); err != nil {
		t.Fatal(err)
	}
	if mt := s.tasks["t1"]; mt.task != nil || len(mt.blob) == 0 {
		t.Fatal("a finished task is not kept encoded")
	}
	want, _ := json.Marshal(&done)
	for range 2 {
		got, v, err := s.Get(t.Context(), owner, "t1")
		if err != nil || v != 2 {
			t.Fatalf("Get: version %d, %v", v, err)
		}
		if b, _ := json.Marshal(got); !bytes.Equal(b, want) {
			t.Fatalf("kept task\n%s\nwant\n%s", b, want)
		}
		got.Metadata["k"] = "changed" // a copy: the next Get is unaffected
	}
	page, err := s.List(t.Context(), owner, ListQuery{PageSize: 10, State: a2acore.TaskStateCompleted, ContextID: "c1"})
	if err != nil || len(page.Tasks) != 1 || page.Tasks[0].ID != "t1" {
		t.Fatalf("List of a kept task: %+v, %v", page, err)
	}
}
