package a2a_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
)

func TestSendMessageBothBindings(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, b := range []a2acore.TransportProtocol{a2acore.TransportProtocolJSONRPC, a2acore.TransportProtocolHTTPJSON} {
		t.Run(string(b), func(t *testing.T) {
			t.Parallel()
			c := e.Client(aliceID, b)
			task := asTask(t)(c.SendMessage(t.Context(), call("echo", map[string]any{"q": "spiffe"})))
			if task.Status.State != a2acore.TaskStateCompleted {
				t.Fatalf("state = %s, want completed", task.Status.State)
			}
			if len(task.Artifacts) != 1 || task.Artifacts[0].Name != "result" {
				t.Fatalf("artifacts = %+v, want one named result", task.Artifacts)
			}
			got, _ := json.Marshal(task.Artifacts[0].Parts[0].Data())
			want := `{"caller":"spiffe://example.org/agent/alice/dev","echo":{"q":"spiffe"}}`
			if string(got) != want {
				t.Errorf("result = %s, want %s", got, want)
			}
		})
	}
}

func TestTasksBelongToTheirCreator(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice, bob := e.Client(aliceID, a2acore.TransportProtocolJSONRPC), e.Client(bobID, a2acore.TransportProtocolJSONRPC)
	req := call("slow", nil)
	req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
	task := asTask(t)(alice.SendMessage(t.Context(), req))

	if _, err := bob.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: task.ID}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("bob GetTask error = %v, want TaskNotFound", err)
	}
	if _, err := bob.CancelTask(t.Context(), &a2acore.CancelTaskRequest{ID: task.ID}); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("bob CancelTask error = %v, want TaskNotFound", err)
	}
	if err := firstError(t, bob.SubscribeToTask(t.Context(), &a2acore.SubscribeToTaskRequest{ID: task.ID})); !errors.Is(err, a2acore.ErrTaskNotFound) {
		t.Errorf("bob SubscribeToTask error = %v, want TaskNotFound", err)
	}
	if l, err := bob.ListTasks(t.Context(), &a2acore.ListTasksRequest{}); err != nil || len(l.Tasks) != 0 || l.TotalSize != 0 {
		t.Errorf("bob ListTasks = %+v, %v; want none", l, err)
	}
	if l, err := alice.ListTasks(t.Context(), &a2acore.ListTasksRequest{}); err != nil || len(l.Tasks) != 1 || l.Tasks[0].ID != task.ID {
		t.Errorf("alice ListTasks = %+v, %v; want her task", l, err)
	}
	if got, err := alice.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: task.ID}); err != nil || got.ID != task.ID {
		t.Errorf("alice GetTask = %v, %v", got, err)
	}
}

func TestStreamingOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.Client(aliceID, a2acore.TransportProtocolJSONRPC)
	var kinds []string
	for ev, err := range c.SendStreamingMessage(t.Context(), call("slow", nil)) {
		if err != nil {
			t.Fatalf("stream error = %v", err)
		}
		switch v := ev.(type) {
		case *a2acore.Task:
			kinds = append(kinds, "task:"+string(v.Status.State))
		case *a2acore.TaskStatusUpdateEvent:
			kinds = append(kinds, "status:"+string(v.Status.State))
			if v.Status.State == a2acore.TaskStateWorking && v.Status.Message != nil {
				close(e.Release) // progress seen: let the handler finish
			}
		case *a2acore.TaskArtifactUpdateEvent:
			kinds = append(kinds, "artifact:"+v.Artifact.Name)
		default:
			kinds = append(kinds, fmt.Sprintf("%T", ev))
		}
	}
	want := "task:TASK_STATE_SUBMITTED status:TASK_STATE_WORKING status:TASK_STATE_WORKING artifact:out status:TASK_STATE_COMPLETED"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("events = %s\nwant     %s", got, want)
	}
}

func TestCancelAndSubscribe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.Client(aliceID, a2acore.TransportProtocolJSONRPC)
	req := call("slow", nil)
	req.Config = &a2acore.SendMessageConfig{ReturnImmediately: true}
	task := asTask(t)(c.SendMessage(t.Context(), req))

	// A subscriber sees the snapshot, then the cancellation, then the end.
	events := make(chan string, 10)
	go func() {
		defer close(events)
		for ev, err := range c.SubscribeToTask(t.Context(), &a2acore.SubscribeToTaskRequest{ID: task.ID}) {
			if err != nil {
				events <- "error:" + err.Error()
				return
			}
			switch v := ev.(type) {
			case *a2acore.Task:
				events <- "task"
			case *a2acore.TaskStatusUpdateEvent:
				events <- string(v.Status.State)
			}
		}
	}()
	if first := <-events; first != "task" {
		t.Fatalf("first subscription event = %s, want the task", first)
	}
	canceled, err := c.CancelTask(t.Context(), &a2acore.CancelTaskRequest{ID: task.ID})
	if err != nil || canceled.Status.State != a2acore.TaskStateCanceled {
		t.Fatalf("CancelTask = %v, %v; want canceled", canceled, err)
	}
	var rest []string
	for ev := range events {
		rest = append(rest, ev)
	}
	if len(rest) == 0 || rest[len(rest)-1] != string(a2acore.TaskStateCanceled) {
		t.Errorf("subscription after cancel = %v, want it to end with canceled", rest)
	}
	if _, err := c.CancelTask(t.Context(), &a2acore.CancelTaskRequest{ID: task.ID}); !errors.Is(err, a2acore.ErrTaskNotCancelable) {
		t.Errorf("second CancelTask error = %v, want TaskNotCancelable", err)
	}
	if err := firstError(t, c.SubscribeToTask(t.Context(), &a2acore.SubscribeToTaskRequest{ID: task.ID})); !errors.Is(err, a2acore.ErrUnsupportedOperation) {
		t.Errorf("SubscribeToTask on a finished task: error = %v, want UnsupportedOperation", err)
	}
}

func TestInputRequiredThenResume(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.Client(aliceID, a2acore.TransportProtocolJSONRPC)
	req := call("ask", nil)
	req.Message.Parts = a2acore.ContentParts{a2acore.NewTextPart("hm")}
	task := asTask(t)(c.SendMessage(t.Context(), req))
	if task.Status.State != a2acore.TaskStateInputRequired {
		t.Fatalf("state = %s, want input-required", task.Status.State)
	}
	answer := a2acore.NewMessageForTask(a2acore.MessageRoleUser, task, a2acore.NewTextPart("42"))
	done := asTask(t)(c.SendMessage(t.Context(), &a2acore.SendMessageRequest{Message: answer}))
	if done.Status.State != a2acore.TaskStateCompleted || done.ID != task.ID {
		t.Fatalf("after the answer: %s %s, want completed %s", done.ID, done.Status.State, task.ID)
	}
	if n := len(done.History); n != 4 { // question, "what is…", answer, "thanks"
		t.Errorf("history has %d messages, want 4", n)
	}
	again := a2acore.NewMessageForTask(a2acore.MessageRoleUser, task, a2acore.NewTextPart("more"))
	if _, err := c.SendMessage(t.Context(), &a2acore.SendMessageRequest{Message: again}); !errors.Is(err, a2acore.ErrUnsupportedOperation) {
		t.Errorf("message to a finished task: error = %v, want UnsupportedOperation", err)
	}
}

func TestHandlerFailures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.Client(aliceID, a2acore.TransportProtocolJSONRPC)
	for name, want := range map[string]string{"fail": "the database is on fire", "boom": `capability "boom" failed unexpectedly`} {
		task := asTask(t)(c.SendMessage(t.Context(), call(name, nil)))
		if task.Status.State != a2acore.TaskStateFailed || task.Status.Message == nil || task.Status.Message.Parts[0].Text() != want {
			t.Errorf("%s: status = %+v, want failed with %q", name, task.Status, want)
		}
	}
}

func TestJSONRPCErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	send := func(meta string) string {
		return `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m1","role":"ROLE_USER","parts":[{"data":{}}],"metadata":{"` + a2a.ExtensionURI + `":` + meta + `}}}}`
	}
	tests := []struct {
		name, body, version string
		code                int
		msg                 string
	}{
		{"malformed JSON", `{"jsonrpc":`, "1.0", -32700, ""},
		{"not JSON-RPC 2.0", `{"jsonrpc":"1.0","id":1,"method":"GetTask"}`, "1.0", -32600, ""},
		{"unknown method", `{"jsonrpc":"2.0","id":1,"method":"Frobnicate","params":{}}`, "1.0", -32601, ""},
		{"bad params", `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":7}}`, "1.0", -32602, ""},
		{"no message", `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{}}`, "1.0", -32602, "message"},
		{"unknown capability", send(`"nope"`), "1.0", -32602, `unknown capability "nope": this agent offers ask, badreply, boom, echo, fail, hello, slow`},
		{"capability not a string", send(`7`), "1.0", -32602, "must be a capability name"},
		{"unknown task", `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"nope"}}`, "1.0", -32001, `task "nope" not found`},
		{"bad page token", `{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{"pageToken":"!!"}}`, "1.0", -32602, "pageToken"},
		{"page too large", `{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{"pageSize":101}}`, "1.0", -32602, "pageSize"},
		{"push not supported", `{"jsonrpc":"2.0","id":1,"method":"GetTaskPushNotificationConfig","params":{"taskId":"x","id":"y"}}`, "1.0", -32003, ""},
		{"extended card params of the wrong type", `{"jsonrpc":"2.0","id":1,"method":"GetExtendedAgentCard","params":{"tenant":7}}`, "1.0", -32602, ""},
		{"unsupported version", `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}`, "2.0", -32009, "A2A-Version"},
		{"batch request", `[{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}}]`, "1.0", -32600, "batch requests are not supported"},
		{"0.3 without header", `{"jsonrpc":"2.0","id":1,"method":"tasks/get","params":{"id":"nope"}}`, "", -32001, ""},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":5}`, "1.0", -32600, "method must be a string, not a JSON number"},
		{"jsonrpc not a string", `{"jsonrpc":2,"id":1,"method":"GetTask","params":{"id":"x"}}`, "1.0", -32600, "jsonrpc must be a string"},
		{"request not an object", `"SendMessage"`, "1.0", -32600, "not a JSON string"},
		{"0.3 method not a string", `{"jsonrpc":"2.0","id":1,"method":["tasks/get"]}`, "", -32600, "method must be a string, not a JSON array"},
		{"garbage after the request", `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":{"id":"x"}} GetTask`, "1.0", -32700, "not valid JSON"},
		{"a value then garbage", "2A\x00", "1.0", -32700, "not valid JSON"},
		{"id out of range", `{"jsonrpc":"2.0","id":1e999,"method":"GetTask","params":{"id":"x"}}`, "1.0", -32600, "id must be a string, a number or null"},
		{"params of the wrong type", `{"jsonrpc":"2.0","id":1,"method":"GetTask","params":"x"}`, "1.0", -32602, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, msg := e.RPC(tt.body, tt.version)
			if code != tt.code || !strings.Contains(msg, tt.msg) {
				t.Errorf("code %d %q, want %d containing %q", code, msg, tt.code, tt.msg)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	big := bytes.Repeat([]byte("x"), a2a.DefaultMaxBodyBytes+1)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.Base+"/", bytes.NewReader(big))
	req.Header.Set("A2A-Version", "1.0")
	resp, err := e.HTTPClient(aliceID).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", resp.StatusCode)
	}
	// Without a Content-Length the limit is found while reading: still 413.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, e.Base+"/", io.MultiReader(bytes.NewReader(big)))
	req.Header.Set("A2A-Version", "1.0")
	resp, err = e.HTTPClient(aliceID).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if req.ContentLength > 0 || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("unannounced length %d: status = %d, want 413", req.ContentLength, resp.StatusCode)
	}
	// The same through the HTTP+JSON binding.
	req, _ = http.NewRequestWithContext(t.Context(), http.MethodPost, e.Base+"/message:send", io.MultiReader(bytes.NewReader(big)))
	req.Header.Set("A2A-Version", "1.0")
	req.Header.Set("Content-Type", "application/json")
	resp, err = e.HTTPClient(aliceID).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("HTTP+JSON, unannounced length: status = %d, want 413", resp.StatusCode)
	}
}

func TestListPagination(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.Client(aliceID, a2acore.TransportProtocolJSONRPC)
	for i := range 5 {
		asTask(t)(c.SendMessage(t.Context(), call("echo", map[string]any{"i": i})))
	}
	seen := map[a2acore.TaskID]bool{}
	token, pages := "", 0
	var last time.Time
	for {
		page, err := c.ListTasks(t.Context(), &a2acore.ListTasksRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if page.TotalSize != 5 {
			t.Errorf("totalSize = %d, want 5", page.TotalSize)
		}
		for _, task := range page.Tasks {
			if seen[task.ID] {
				t.Errorf("task %s on two pages", task.ID)
			}
			seen[task.ID] = true
			if ts := *task.Status.Timestamp; !last.IsZero() && ts.After(last) {
				t.Errorf("tasks not in descending update order")
			}
			last = *task.Status.Timestamp
			if len(task.Artifacts) != 0 {
				t.Errorf("artifacts listed without includeArtifacts")
			}
		}
		if token = page.NextPageToken; token == "" {
			break
		}
	}
	if pages != 3 || len(seen) != 5 {
		t.Errorf("%d pages, %d tasks; want 3 pages, 5 tasks", pages, len(seen))
	}
}

func TestAgentCard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	hc := e.HTTPClient(aliceID)
	get := func(etag string) (int, http.Header) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.Base+a2a.CardPath, nil)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	status, h := get("")
	etag := h.Get("ETag")
	if status != http.StatusOK || etag == "" || !strings.HasPrefix(h.Get("Cache-Control"), "max-age=") {
		t.Fatalf("card: status %d, ETag %q, Cache-Control %q", status, etag, h.Get("Cache-Control"))
	}
	if again, _ := get(etag); again != http.StatusNotModified {
		t.Errorf("conditional GET status = %d, want 304", again)
	}
	// Last-Modified, and If-Modified-Since against it (A2A §8.6: MAY).
	lastMod, err := http.ParseTime(h.Get("Last-Modified"))
	if err != nil {
		t.Fatalf("Last-Modified %q: %v", h.Get("Last-Modified"), err)
	}
	since := func(t0 time.Time, etag string) (int, http.Header) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.Base+a2a.CardPath, nil)
		req.Header.Set("If-Modified-Since", t0.UTC().Format(http.TimeFormat))
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header
	}
	for _, tt := range []struct {
		name  string
		since time.Time
		etag  string
		want  int
	}{
		{"since the last change", lastMod, "", http.StatusNotModified},
		{"since later", lastMod.Add(time.Hour), "", http.StatusNotModified},
		{"since earlier", lastMod.Add(-time.Second), "", http.StatusOK},
		{"If-None-Match decides when present", lastMod, `"other"`, http.StatusOK},
	} {
		status, h := since(tt.since, tt.etag)
		if status != tt.want {
			t.Errorf("%s: status %d, want %d", tt.name, status, tt.want)
		}
		if h.Get("Last-Modified") != lastMod.Format(http.TimeFormat) || h.Get("ETag") != etag {
			t.Errorf("%s: Last-Modified %q, ETag %q; want both on every answer", tt.name, h.Get("Last-Modified"), h.Get("ETag"))
		}
	}
	// Security requirements in the proto's StringList form.
	req0, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.Base+a2a.CardPath, nil)
	resp0, err := hc.Do(req0)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp0.Body)
	_ = resp0.Body.Close()
	if !bytes.Contains(raw, []byte(`"securityRequirements":[{"schemes":{"mtls":{"list":[]}}}]`)) {
		t.Errorf("card security requirements are not in the A2A 1.0 form: %s", raw)
	}
	// A 0.3 client that asks for its version gets the compat encoding.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.Base+a2a.CardPath, nil)
	req.Header.Set("A2A-Version", "0.3")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if !bytes.Contains(body, []byte(`"preferredTransport"`)) || resp.Header.Get("ETag") == etag {
		t.Errorf("0.3 card lacks 0.3 fields or shares the 1.0 ETag: %s", body)
	}
	card := e.Card(hc)
	if len(card.Skills) != 7 || card.Skills[0].ID != "ask" {
		t.Errorf("skills = %+v, want the 7 capabilities", card.Skills)
	}
	if _, ok := card.SecuritySchemes[a2a.MTLSSchemeName].(a2acore.MutualTLSSecurityScheme); !ok || len(card.SecurityRequirements) != 1 {
		t.Errorf("security = %+v / %+v, want mTLS declared and required", card.SecuritySchemes, card.SecurityRequirements)
	}
	if len(card.SupportedInterfaces) != 6 || card.SupportedInterfaces[0].URL != e.Base { // 3 bindings × 2 versions (TestCardBindings)
		t.Errorf("interfaces = %+v", card.SupportedInterfaces)
	}
}

func TestMessageReplies(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.Client(aliceID, a2acore.TransportProtocolJSONRPC)

	r, err := c.SendMessage(t.Context(), call("hello", nil))
	msg, ok := r.(*a2acore.Message)
	if err != nil || !ok || msg.Parts[0].Text() != "hello, "+aliceID.String() || msg.Role != a2acore.MessageRoleAgent {
		t.Fatalf("SendMessage(hello) = %#v, %v; want an agent message", r, err)
	}
	if l, err := c.ListTasks(t.Context(), &a2acore.ListTasksRequest{}); err != nil || len(l.Tasks) != 0 {
		t.Errorf("a reply left tasks behind: %+v, %v", l, err)
	}
	var events []a2acore.Event
	for ev, err := range c.SendStreamingMessage(t.Context(), call("hello", nil)) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		events = append(events, ev)
	}
	if len(events) != 1 {
		t.Fatalf("stream of a reply = %d events, want the message alone", len(events))
	}
	if _, ok := events[0].(*a2acore.Message); !ok {
		t.Errorf("stream event is %T, want *Message", events[0])
	}

	req := call("hello", nil)
	req.Message.Parts = a2acore.ContentParts{a2acore.NewTextPart("task please")}
	task := asTask(t)(c.SendMessage(t.Context(), req))
	if task.Status.State != a2acore.TaskStateCompleted {
		t.Errorf("deferred task state = %s, want completed", task.Status.State)
	}
	if got, err := c.GetTask(t.Context(), &a2acore.GetTaskRequest{ID: task.ID}); err != nil || got.Status.State != a2acore.TaskStateCompleted {
		t.Errorf("GetTask(deferred task) = %v, %v", got, err)
	}

	bad := asTask(t)(c.SendMessage(t.Context(), call("badreply", nil)))
	if bad.Status.State != a2acore.TaskStateFailed || !strings.Contains(bad.Status.Message.Parts[0].Text(), "Reply must be") {
		t.Errorf("Reply without Replies: %+v, want the task failed saying why", bad.Status)
	}
}
