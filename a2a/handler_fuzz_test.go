package a2a_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// FuzzHandler: every request body and A2A-Version a client can send, to
// both bindings, gets an answer: a JSON-RPC error or result (JSON), or a
// 4xx; never a 5xx, a panic or a hang. The agent keeps working after each.
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","metadata":{"` + a2a.ExtensionURI + `":"echo"},"parts":[{"data":{"q":1}}]}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"GetTask","params":{"id":"nope"}}`,
		`{"jsonrpc":"2.0","id":3,"method":"ListTasks","params":{"pageSize":1000,"pageToken":"!!"}}`,
		`{"jsonrpc":"2.0","id":4,"method":"CancelTask","params":{"id":""}}`,
		`{"jsonrpc":"2.0","id":5,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","taskId":"t","parts":[]}}}`,
		`{"jsonrpc":"2.0","id":6,"method":"Nope"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}]`,
		`{"jsonrpc":"2.0","id":{"a":1},"method":"GetTask"}`,
		`{"jsonrpc":"2.0","id":1e999,"method":"GetTask","params":{"id":1}}`,
		`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"parts":[{"text":"` + strings.Repeat("[", 64) + `"}]}}}`,
		`{`, ``, `null`, `"x"`,
		// The JSON-RPC front: envelope types, trailing data, the fast path's
		// refusals (duplicate, escaped, folded keys).
		`{"jsonrpc":2,"id":1,"method":"GetTask"}`, `{"jsonrpc":"2.0","id":1,"method":5}`, "2A\x00",
		`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}} {}`,
		`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","metadata":{"` + a2a.ExtensionURI + `":"echo"},"parts":[{"data":1}],"Parts":[{"text":"x"}]}}}`,
		`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","metadata":{"` + a2a.ExtensionURI + `":"echo"},"parts":[{"d\u0061ta":{"q":"\u00e9"}}]}}}`,
	} {
		f.Add(seed, "1.0", false)
		f.Add(seed, "", true)
	}
	f.Add(`{"jsonrpc":"2.0","id":7,"method":"SendStreamingMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","metadata":{"`+a2a.ExtensionURI+`":"echo"},"parts":[{"data":{}}]}}}`, "1.0", false)
	f.Add(`{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"hi"}]}}`, "1.0", true)
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}`, "9.9", false)

	e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: []a2a.Capability{{
		Name: "echo", Description: "echo",
		Handler: func(ctx context.Context, c *a2a.Request) (any, error) {
			v, _ := c.Data()
			return nil, c.Result(ctx, v)
		},
	}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = e.Close() })
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "fuzz", Description: "fuzz", URLs: []string{"https://127.0.0.1"}}, e.Capabilities())
	if err != nil {
		f.Fatal(err)
	}
	h, err := a2a.NewHandler(e, card, a2a.HandlerOptions{MaxBodyBytes: 64 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body, version string, rest bool) {
		path := "/"
		if rest {
			path = "/message:send"
		}
		ctx, cancel := context.WithTimeout(identity.WithPeerID(context.Background(), aliceID), 5*time.Second)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if version != "" {
			req.Header.Set("A2A-Version", version)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q (version %q) answered %d: %s", path, body, version, rec.Code, rec.Body)
		}
		isJSON := strings.Contains(rec.Header().Get("Content-Type"), "json")
		if !rest && rec.Code == http.StatusOK && isJSON && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("JSON-RPC answer is not JSON: %q", rec.Body)
		}
	})
}
