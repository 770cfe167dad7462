package jsonrpc

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
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
