package a2a_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/a2a"
)

// answer sends an A2A 1.0 request over a binding: JSON-RPC method with
// params, or the HTTP+JSON request; it returns the result (the JSON-RPC
// result, the HTTP+JSON body) and fails the test on an error answer.
func answer(t *testing.T, e *env, rpcMethod, params, restMethod, restPath, restBody string, rpc bool) map[string]any {
	t.Helper()
	var status int
	var raw []byte
	if rpc {
		status, _, raw = e.Do(http.MethodPost, "/", `{"jsonrpc":"2.0","id":1,"method":"`+rpcMethod+`","params":`+params+`}`)
	} else {
		status, _, raw = e.Do(restMethod, restPath, restBody)
	}
	if status != http.StatusOK {
		t.Fatalf("%s %s: status %d: %s", restMethod, restPath, status, raw)
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("answer %q: %v", raw, err)
	}
	if rpc {
		if out["error"] != nil {
			t.Fatalf("%s %s: %v", rpcMethod, params, out["error"])
		}
		res, _ := out["result"].(map[string]any)
		return res
	}
	return out
}

// firstEvent opens a stream and returns its first event's payload (the
// JSON-RPC result, or the HTTP+JSON stream response), then closes it.
func firstEvent(t *testing.T, e *env, method, path, body string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, e.Base+path, strings.NewReader(body))
	req.Header.Set("A2A-Version", "1.0")
	req.Header.Set("Accept", "text/event-stream")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.HTTPClient(aliceID).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		var out map[string]any
		if err := json.Unmarshal([]byte(data), &out); err != nil {
			t.Fatalf("event %q: %v", data, err)
		}
		if res, ok := out["result"].(map[string]any); ok {
			return res
		}
		if out["error"] != nil {
			t.Fatalf("stream %s %s: %v", method, path, out["error"])
		}
		return out
	}
	t.Fatalf("stream %s %s (status %d, %s) had no event", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	return nil
}

func get(v any, path ...string) any {
	for _, k := range path {
		m, _ := v.(map[string]any)
		v = m[k]
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }

func length(v any, path ...string) int { l, _ := get(v, path...).([]any); return len(l) }

// TestProtoJSONFieldNames: A2A's JSON is ProtoJSON, whose parsers accept a
// field's proto name ("task_id") as well as its JSON name ("taskId"); every
// operation reads the proto names, on both bindings, in JSON-RPC params,
// HTTP+JSON bodies and HTTP+JSON query parameters. Keys inside user data
// (metadata, data parts) are kept as sent; answers use the JSON names.
func TestProtoJSONFieldNames(t *testing.T) {
	t.Parallel()
	e := pushEnv(t, netip.MustParsePrefix("127.0.0.0/8"))
	rcv := startReceiver(e)
	for _, rpc := range []bool{true, false} {
		name := "HTTP+JSON"
		if rpc {
			name = "JSON-RPC"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctxID := "ctx-snake-" + strings.ReplaceAll(name, "+", "-")
			send := func(capability, extra, text string) string {
				return `{"message":{"message_id":"` + capability + time.Now().Format(time.RFC3339Nano) + `","role":"ROLE_USER","context_id":"` + ctxID + extra +
					`","metadata":{"` + a2a.ExtensionURI + `":"` + capability + `"},"parts":[` + text + `]}`
			}
			data := `{"data":{"task_id":"user data","l":[{"media_type":1}]},"media_type":"application/json","metadata":{"context_id":"kept"}}`
			var echoed string
			t.Run("SendMessage", func(t *testing.T) {
				body := send("echo", "", data) + `,"configuration":{"history_length":0,"accepted_output_modes":["application/json"]},"metadata":{"task_id":"kept"}}`
				task := get(answer(t, e, "SendMessage", body, http.MethodPost, "/message:send", body, rpc), "task")
				if str(task, "contextId") != ctxID || length(task, "history") != 0 || str(task, "status", "state") != "TASK_STATE_COMPLETED" {
					t.Errorf("task = %v, want completed in %s without history", task, ctxID)
				}
				echoed = str(task, "id")
				payload, _ := json.Marshal(get(get(task, "artifacts").([]any)[0], "parts"))
				if !strings.Contains(string(payload), `"echo":{"l":[{"media_type":1}],"task_id":"user data"}`) {
					t.Errorf("the capability received %s, want the data part as sent", payload)
				}
			})
			t.Run("SendStreamingMessage", func(t *testing.T) {
				body := send("echo", "", data) + `}`
				path, method := "/message:stream", http.MethodPost
				if rpc {
					path, body = "/", `{"jsonrpc":"2.0","id":1,"method":"SendStreamingMessage","params":`+body+`}`
				}
				if ev := firstEvent(t, e, method, path, body); str(ev, "task", "contextId") != ctxID {
					t.Errorf("first event = %v, want the task in %s", ev, ctxID)
				}
			})
			var asked string
			t.Run("SendMessage to a task", func(t *testing.T) {
				body := send("ask", "-ask", `{"text":"hm"}`) + `}`
				asked = str(get(answer(t, e, "SendMessage", body, http.MethodPost, "/message:send", body, rpc), "task"), "id")
				reply := `{"message":{"message_id":"a-` + asked + `","role":"ROLE_USER","task_id":"` + asked + `","parts":[{"text":"42"}]}}`
				task := get(answer(t, e, "SendMessage", reply, http.MethodPost, "/message:send", reply, rpc), "task")
				if str(task, "id") != asked || str(task, "status", "state") != "TASK_STATE_COMPLETED" {
					t.Errorf("the answer gave %v, want task %s completed", task, asked)
				}
			})
			t.Run("GetTask", func(t *testing.T) {
				task := answer(t, e, "GetTask", `{"id":"`+asked+`","history_length":1}`, http.MethodGet, "/tasks/"+asked+"?history_length=1", "", rpc)
				if str(task, "id") != asked || length(task, "history") != 1 {
					t.Errorf("task = %v, want %s with one history message", task, asked)
				}
			})
			t.Run("ListTasks", func(t *testing.T) {
				params := `{"context_id":"` + ctxID + `","page_size":1,"include_artifacts":true,"history_length":0,"status_timestamp_after":"2000-01-01T00:00:00Z","page_token":""}`
				query := "?context_id=" + ctxID + "&page_size=1&include_artifacts=true&history_length=0&status_timestamp_after=2000-01-01T00:00:00Z"
				l := answer(t, e, "ListTasks", params, http.MethodGet, "/tasks"+query, "", rpc)
				tasks, _ := get(l, "tasks").([]any)
				if get(l, "totalSize") != 2.0 || get(l, "pageSize") != 1.0 || len(tasks) != 1 || length(tasks[0], "artifacts") != 1 || length(tasks[0], "history") != 0 {
					t.Errorf("list = %v, want 1 of the 2 tasks in %s, with artifacts, without history", l, ctxID)
				}
			})
			var slow string
			t.Run("CancelTask", func(t *testing.T) {
				body := send("slow", "-slow", `{"text":"x"}`) + `,"configuration":{"return_immediately":true,"task_push_notification_config":{"url":"` + rcv.url + `","token":"tok"}}}`
				slow = str(get(answer(t, e, "SendMessage", body, http.MethodPost, "/message:send", body, rpc), "task"), "id")
				if slow == "" {
					t.Fatal("no task returned immediately")
				}
				configs := answer(t, e, "ListTaskPushNotificationConfigs", `{"task_id":"`+slow+`"}`, http.MethodGet, "/tasks/"+slow+"/pushNotificationConfigs", "", rpc)
				if length(configs, "configs") != 1 || str(get(configs, "configs").([]any)[0], "token") != "tok" {
					t.Errorf("push configs = %v, want the one sent in configuration", configs)
				}
				task := answer(t, e, "CancelTask", `{"id":"`+slow+`","metadata":{"task_id":"kept"}}`, http.MethodPost, "/tasks/"+slow+":cancel", `{"metadata":{"task_id":"kept"}}`, rpc)
				if str(task, "status", "state") != "TASK_STATE_CANCELED" {
					t.Errorf("task = %v, want canceled", task)
				}
			})
			t.Run("SubscribeToTask", func(t *testing.T) {
				body := send("slow", "-sub", `{"text":"x"}`) + `,"configuration":{"return_immediately":true}}`
				id := str(get(answer(t, e, "SendMessage", body, http.MethodPost, "/message:send", body, rpc), "task"), "id")
				path, method, body := "/tasks/"+id+":subscribe", http.MethodGet, ""
				if rpc {
					path, method, body = "/", http.MethodPost, `{"jsonrpc":"2.0","id":1,"method":"SubscribeToTask","params":{"id":"`+id+`","tenant":""}}`
				}
				if ev := firstEvent(t, e, method, path, body); str(ev, "task", "id") != id {
					t.Errorf("first event = %v, want task %s", ev, id)
				}
				answer(t, e, "CancelTask", `{"id":"`+id+`"}`, http.MethodPost, "/tasks/"+id+":cancel", "", rpc)
			})
			t.Run("push configs", func(t *testing.T) {
				created := answer(t, e, "CreateTaskPushNotificationConfig", `{"task_id":"`+echoed+`","url":"`+rcv.url+`"}`,
					http.MethodPost, "/tasks/"+echoed+"/pushNotificationConfigs", `{"task_id":"`+echoed+`","url":"`+rcv.url+`"}`, rpc)
				id := str(created, "id")
				if id == "" || str(created, "taskId") != echoed {
					t.Fatalf("created %v, want a config of task %s", created, echoed)
				}
				got := answer(t, e, "GetTaskPushNotificationConfig", `{"task_id":"`+echoed+`","id":"`+id+`"}`, http.MethodGet, "/tasks/"+echoed+"/pushNotificationConfigs/"+id, "", rpc)
				if str(got, "url") != rcv.url {
					t.Errorf("got %v", got)
				}
				list := answer(t, e, "ListTaskPushNotificationConfigs", `{"task_id":"`+echoed+`","page_size":5,"page_token":""}`,
					http.MethodGet, "/tasks/"+echoed+"/pushNotificationConfigs?page_size=5", "", rpc)
				if length(list, "configs") != 1 {
					t.Errorf("list = %v, want the one config", list)
				}
				answer(t, e, "DeleteTaskPushNotificationConfig", `{"task_id":"`+echoed+`","id":"`+id+`"}`, http.MethodDelete, "/tasks/"+echoed+"/pushNotificationConfigs/"+id, "", rpc)
				if list := answer(t, e, "ListTaskPushNotificationConfigs", `{"task_id":"`+echoed+`"}`, http.MethodGet, "/tasks/"+echoed+"/pushNotificationConfigs", "", rpc); length(list, "configs") != 0 {
					t.Errorf("after delete: %v", list)
				}
			})
			t.Run("both names", func(t *testing.T) {
				body := `{"message":{"messageId":"a","message_id":"b","role":"ROLE_USER","parts":[{"text":"x"}]}}`
				if rpc {
					code, msg := e.RPC(`{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":`+body+`}`, "1.0")
					if code != -32602 || !strings.Contains(msg, "Message.messageId is given twice") {
						t.Errorf("code %d %q, want InvalidParams naming the field", code, msg)
					}
					return
				}
				status, _, raw := e.Do(http.MethodPost, "/message:send", body)
				if status != http.StatusBadRequest || !bytes.Contains(raw, []byte("INVALID_ARGUMENT")) || !bytes.Contains(raw, []byte("messageId is given twice")) {
					t.Errorf("status %d %s, want 400 InvalidParams", status, raw)
				}
				status, _, raw = e.Do(http.MethodGet, "/tasks?page_size=1&pageSize=2", "")
				if status != http.StatusBadRequest || !bytes.Contains(raw, []byte("pageSize is given twice")) {
					t.Errorf("query: status %d %s, want 400 InvalidParams", status, raw)
				}
			})
		})
	}
}
