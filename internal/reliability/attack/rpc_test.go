package attack_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
)

// rpcReply is what an agent answered to one JSON-RPC request.
type rpcReply struct {
	Status int
	Code   int // JSON-RPC error code, 0 when none
	Result json.RawMessage
	Raw    []byte
}

// rpc posts body to the target's JSON-RPC endpoint with A2A-Version 1.0.
func (tg *target) rpc(t *testing.T, hc *http.Client, body io.Reader) (rpcReply, error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, tg.agent.URL()+"/", body)
	if err != nil {
		return rpcReply{}, err
	}
	req.Header.Set("A2A-Version", "1.0")
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return rpcReply{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := rpcReply{Status: resp.StatusCode, Raw: raw}
	if err != nil {
		return r, err
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &out) == nil {
		r.Result = out.Result
		if out.Error != nil {
			r.Code = out.Error.Code
		}
	}
	return r, nil
}

// taskCount is the number of tasks the identity name owns on the target.
func (tg *target) taskCount(t *testing.T, hc *http.Client) int {
	t.Helper()
	r, err := tg.rpc(t, hc, bytes.NewReader([]byte(`{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{"pageSize":100}}`)))
	if err != nil || r.Status != http.StatusOK || r.Code != 0 {
		t.Fatalf("ListTasks: %v, %d %s", err, r.Status, r.Raw)
	}
	var out struct {
		Tasks []json.RawMessage `json:"tasks"`
	}
	if err := json.Unmarshal(r.Result, &out); err != nil {
		t.Fatalf("ListTasks result %s: %v", r.Result, err)
	}
	return len(out.Tasks)
}

func (r rpcReply) String() string {
	return fmt.Sprintf("HTTP %d, code %d, %.120q", r.Status, r.Code, r.Raw)
}
