package jsonrpc

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/google/go-cmp/cmp"
)

// recorder is a RequestHandler that keeps the SendMessage request a2a-go's
// binding decoded, and answers it with a message.
type recorder struct {
	a2asrv.RequestHandler
	req *a2acore.SendMessageRequest
}

func (r *recorder) SendMessage(_ context.Context, req *a2acore.SendMessageRequest) (a2acore.SendMessageResult, error) {
	r.req = req
	return a2acore.NewMessage(a2acore.MessageRoleAgent, a2acore.NewTextPart("ok")), nil
}

// bindingDecode serves body with a2a-go's own JSON-RPC binding
// (a2asrv.NewJSONRPCHandler, in process) and returns the request it handed
// its handler and the id it answered with; ok is false when the handler
// was not called or the answer is not a result.
func bindingDecode(body []byte) (req *a2acore.SendMessageRequest, id any, ok bool) {
	rec := &recorder{}
	w := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	a2asrv.NewJSONRPCHandler(rec).ServeHTTP(w, r)
	var resp struct {
		ID     any             `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if rec.req == nil || json.Unmarshal(w.Body.Bytes(), &resp) != nil || resp.Error != nil || resp.Result == nil {
		return nil, nil, false
	}
	return rec.req, resp.ID, true
}

var sendSeeds = []string{
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"data":{"query":"spiffe","limit":3}}],"metadata":{"capability":"search"}}}}`,
	`{"jsonrpc":"2.0","id":7,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_UNSPECIFIED","parts":[{"text":"hi <b>&amp;</b>","mediaType":"text/plain","filename":"a.txt","metadata":{"x":[1,2,{"y":null}]}}],"contextId":"c","taskId":"t","extensions":["urn:x"],"referenceTaskIds":["r1","r2"]},"configuration":{"acceptedOutputModes":["text/plain"],"returnImmediately":true,"historyLength":2,"taskPushNotificationConfig":{"url":"https://127.0.0.1/hook","token":"tok","authentication":{"scheme":"Bearer","credentials":"c"}}},"metadata":{"k":"v"},"tenant":"t1"}}`,
	`{"jsonrpc":"2.0","id":null,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_AGENT","parts":[{"raw":"aGVsbG8="},{"url":"https://example.org/f","mediaType":"image/png"},null,{"url":"","text":"u"}]}}}`,
	`{"jsonrpc":"2.0","method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[]}}}`,
	`{"jsonrpc":"2.0","id":"1","method":"SendMessage","params":{"message":{"messageId":"m","parts":null,"role":null}}}`,
	` {"JSONRPC":"2.0","ID":"1","Method":"SendMessage","Params":{"Message":{"MessageID":"m","Role":"ROLE_USER","Parts":[{"TEXT":"x"}]}}} `,
	`{"jsonrpc":"2.0","id":-1.5e3,"method":"SendMessage","params":{"message":{"messageId":"m\n\u00e9\ud83d\ude00","role":"ROLE_USER","parts":[{"raw":"aGVs\nbG8=","data":null},{"data":{"n":-0,"big":1e308,"s":"ünï\"","l":[[],{}]}}],"extensions":[],"referenceTaskIds":[]}}}`,
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
	// Keys the fast path does not know, at each level.
	`{"jsonrpc":"2.0","id":1,"method":"SendMessage","unknown":{"a":[1,{"b":null}]},"params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"a"}]}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"requestId":"r","message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"a"}]}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","task_id":"t","parts":[{"text":"a"}]}}}`,
	`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"a","media_type":"text/plain"}]}}}`,
}

// fastSeeds is how many of sendSeeds the fast path decodes itself.
const fastSeeds = 7

// FuzzSendDecoding: whatever the fast path decodes, a2a-go's own JSON-RPC
// binding (served in process over a recording handler) accepts too, and
// hands its handler an equal request, answering with the same ID.
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
	t.Parallel()
	for i, s := range sendSeeds {
		_, _, ok := decodeSend([]byte(s))
		if want := i < fastSeeds; ok != want {
			t.Errorf("seed %d: fast path %v, want %v: %s", i, ok, want, s)
		}
	}
}

// jsonKeys returns the JSON keys a2a-go decodes into a value of type T
// (its fields' json tags). a2a.Part's content is flattened on the wire
// into one key per kind of content, found by encoding each kind.
func jsonKeys[T any]() []string {
	var keys []string
	for f := range reflect.TypeFor[T]().Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		keys = append(keys, name)
	}
	if reflect.TypeFor[T]() == reflect.TypeFor[a2acore.Part]() {
		keys = slices.DeleteFunc(keys, func(k string) bool { return k == "content" })
		for _, c := range []a2acore.PartContent{a2acore.Text("x"), a2acore.Raw("x"), a2acore.Data{Value: 1}, a2acore.URL("x")} {
			b, _ := json.Marshal(&a2acore.Part{Content: c})
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			for k := range m {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

// TestFastPathKeys: the fast path knows exactly the keys of the a2a-go
// types it decodes in place of the binding (found by reflection, so a
// field a2a-go adds fails this test), its parser decodes each of them, and
// a request with any other key goes to the binding.
func TestFastPathKeys(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name      string
		a2ago, us []string
	}{
		{"SendMessageRequest", jsonKeys[a2acore.SendMessageRequest](), paramsKeys},
		{"Message", jsonKeys[a2acore.Message](), messageKeys},
		{"Part", jsonKeys[a2acore.Part](), partKeys},
	} {
		if diff := cmp.Diff(tt.a2ago, sorted(tt.us)); diff != "" {
			t.Errorf("%s keys (-a2a-go +fast path):\n%s", tt.name, diff)
		}
	}
	// Each level's keys with a value of their type, in a request the fast
	// path decodes; then one key at a time replaced by one it does not know.
	sample := map[string]string{
		"jsonrpc": `"2.0"`, "method": `"SendMessage"`, "id": `1`,
		"tenant": `"t"`, "configuration": `{"historyLength":1}`, "metadata": `{"k":"v"}`,
		"messageId": `"m"`, "contextId": `"c"`, "extensions": `["e"]`, "referenceTaskIds": `["r"]`, "role": `"ROLE_USER"`, "taskId": `"t"`,
		"text": `"x"`, "filename": `"f"`, "mediaType": `"text/plain"`,
	}
	object := func(keys []string, value map[string]string, skip string) string {
		var b strings.Builder
		b.WriteByte('{')
		for _, k := range keys {
			if k == skip {
				k = "zz" + k
			}
			if b.Len() > 1 {
				b.WriteByte(',')
			}
			b.WriteString(`"` + k + `":`)
			if v, ok := value[k]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(sample[k])
			}
		}
		b.WriteByte('}')
		return b.String()
	}
	contentKeys := []string{"text", "raw", "data", "url"}
	build := func(level, skip string) string {
		sk := func(l string) string {
			if l == level {
				return skip
			}
			return ""
		}
		partNoContent := slices.DeleteFunc(slices.Clone(partKeys), func(k string) bool { return slices.Contains(contentKeys, k) })
		part := object(append(partNoContent, "text"), nil, sk("part"))
		if level == "part" && slices.Contains(contentKeys, skip) {
			part = object(append(partNoContent, skip), map[string]string{"raw": `"eA=="`, "data": `{"d":1}`, "url": `"https://x"`}, "")
		}
		msg := object(messageKeys, map[string]string{"parts": "[" + part + "]"}, sk("message"))
		params := object(paramsKeys, map[string]string{"message": msg}, sk("params"))
		return object(envelopeKeys, map[string]string{"params": params}, sk("envelope"))
	}
	for level, keys := range map[string][]string{"envelope": envelopeKeys, "params": paramsKeys, "message": messageKeys, "part": partKeys} {
		for _, k := range keys {
			body := build(level, k)
			if level == "part" && slices.Contains(contentKeys, k) {
				if _, _, ok := decodeSend([]byte(body)); !ok {
					t.Errorf("the fast path does not decode a part's %q: %s", k, body)
				}
				if req, _, ok := decodeSend([]byte(body)); ok {
					if ref, _, _ := bindingDecode([]byte(body)); !reflect.DeepEqual(req, ref) {
						t.Errorf("part %q decoded as %#v, the binding %#v", k, req, ref)
					}
				}
				continue
			}
			if _, _, ok := decodeSend([]byte(body)); ok {
				t.Errorf("%s: the fast path decoded a request with an unknown key %q: %s", level, "zz"+k, body)
			}
		}
	}
	full := build("", "")
	req, _, ok := decodeSend([]byte(full))
	ref, _, refOK := bindingDecode([]byte(full))
	if !ok || !refOK || !reflect.DeepEqual(req, ref) {
		t.Errorf("a request with every key: fast path %v %#v, binding %v %#v", ok, req, refOK, ref)
	}
}

// BenchmarkSendDecoding: the fast path's decoding against the binding's
// whole handling of the request (it decodes, calls the handler, encodes).
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
