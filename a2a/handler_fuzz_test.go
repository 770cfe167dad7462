package a2a_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// FuzzHandler: every request (body, A2A-Version, method and path) a client
// can send, to both bindings, gets an answer: a JSON-RPC error or result
// (JSON), or a 4xx; never a 5xx, a panic or a hang, and no stream that
// begins with an error. The agent keeps working after each. target is
// "METHOD /path?query" for HTTP+JSON, "" for JSON-RPC.
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
		f.Add(seed, "1.0", "")
		f.Add(seed, "", "POST /message:send")
	}
	f.Add(`{"jsonrpc":"2.0","id":7,"method":"SendStreamingMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","metadata":{"`+a2a.ExtensionURI+`":"echo"},"parts":[{"data":{}}]}}}`, "1.0", "")
	f.Add(`{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"text":"hi"}]}}`, "1.0", "POST /message:stream")
	f.Add(`{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}`, "9.9", "")

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
	f.Fuzz(func(t *testing.T, body, version, target string) {
		method, path := http.MethodPost, "/"
		if target != "" {
			var ok bool
			if method, path, ok = strings.Cut(target, " "); !ok || !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \t\r\n#") {
				return
			}
			if u, err := url.ParseRequestURI(path); err != nil || u.Path == "" {
				return
			}
		}
		ctx, cancel := context.WithTimeout(identity.WithPeerID(context.Background(), aliceID), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		if version != "" {
			req.Header.Set("A2A-Version", version)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q (version %q) answered %d: %s", method, path, body, version, rec.Code, rec.Body)
		}
		ct := rec.Header().Get("Content-Type")
		if path == "/" && rec.Code == http.StatusOK && strings.Contains(ct, "json") && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("JSON-RPC answer is not JSON: %q", rec.Body)
		}
		// A stream that starts with an error should have been a plain
		// error (A2A 1.0 and refused versions; 0.3 is a2a-go's compat
		// binding as it is).
		if ct == "text/event-stream" && version != "" && version != "0.3" {
			first, _, _ := strings.Cut(strings.TrimSpace(rec.Body.String()), "\n\n")
			if strings.Contains(first, `"error":`) {
				t.Fatalf("%s %s %q (version %q): a stream began with an error: %s", method, path, body, version, first)
			}
		}
	})
}
