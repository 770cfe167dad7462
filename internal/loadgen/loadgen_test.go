package loadgen_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/internal/loadgen"
	"github.com/agentweave/agentweave-go/transport"
)

func body(t *testing.T) []byte {
	t.Helper()
	b, err := loadgen.SendMessageBody("echo", json.RawMessage(`{ "query": "spiffe", "limit": 3 }`))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSendMessageBody(t *testing.T) {
	t.Parallel()
	var req struct {
		Method string `json:"method"`
		Params struct {
			Message struct {
				Role     string            `json:"role"`
				Metadata map[string]string `json:"metadata"`
				Parts    []struct {
					Data map[string]any `json:"data"`
				} `json:"parts"`
			} `json:"message"`
		} `json:"params"`
	}
	b := body(t)
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("SendMessageBody = %s: %v", b, err)
	}
	m := req.Params.Message
	if req.Method != "SendMessage" || m.Metadata[a2a.ExtensionURI] != "echo" || len(m.Parts) != 1 {
		t.Fatalf("SendMessageBody = %s", b)
	}
	if diff := cmp.Diff(map[string]any{"query": "spiffe", "limit": 3.0}, m.Parts[0].Data); diff != "" {
		t.Errorf("data part (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(b), `{"query":"spiffe","limit":3}`) {
		t.Errorf("SendMessageBody = %s, want the data compacted", b)
	}
	if _, err := loadgen.SendMessageBody("echo", json.RawMessage(`{`)); err == nil {
		t.Error("SendMessageBody(invalid JSON) = nil error")
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		body   string
		want   string
	}{
		{"completed", nil, 200, `{"jsonrpc":"2.0","id":1,"result":{"task":{"status":{"state":"TASK_STATE_COMPLETED"}}}}`, ""},
		{"message", nil, 200, `{"jsonrpc":"2.0","id":1,"result":{"message":{"parts":[]}}}`, ""},
		{"data says error", nil, 200, `{"jsonrpc":"2.0","id":1,"result":{"task":{"artifacts":[{"parts":[{"data":{"error":"x"}}]}]}}}`, ""},
		{"forbidden", nil, 403, `forbidden`, "http 403"},
		{"internal", nil, 500, ``, "http 500"},
		{"jsonrpc", nil, 200, `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"denied"}}`, "jsonrpc -32001"},
		{"failed", nil, 200, `{"result":{"task":{"status":{"state":"TASK_STATE_FAILED"}}}}`, "task TASK_STATE_FAILED"},
		{"rejected", nil, 200, `{"result":{"task":{"status":{"state":"TASK_STATE_REJECTED"}}}}`, "task TASK_STATE_REJECTED"},
		{"timeout", fmt.Errorf("post: %w", context.DeadlineExceeded), 0, "", "transport timeout"},
		{"canceled", fmt.Errorf("post: %w", context.Canceled), 0, "", "transport canceled"},
		{"refused", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, 0, "", "transport refused"},
		{"reset", &net.OpError{Op: "read", Err: syscall.ECONNRESET}, 0, "", "transport reset"},
		{"eof", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), 0, "", "transport eof"},
		{"other", errors.New("strange"), 0, "", "transport other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := loadgen.Classify(tt.err, tt.status, []byte(tt.body)); got != tt.want {
				t.Errorf("Classify() = %q, want %q", got, tt.want)
			}
		})
	}
}

// h2cServer serves h over HTTP/2 cleartext on loopback and counts requests.
func h2cServer(t *testing.T, h http.HandlerFunc) (string, *atomic.Uint64) {
	t.Helper()
	var n atomic.Uint64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		if r.ProtoMajor != 2 {
			http.Error(w, "want HTTP/2", http.StatusHTTPVersionNotSupported)
			return
		}
		h(w, r)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/", &n
}

func completed(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"task":{"id":"t","status":{"state":"TASK_STATE_COMPLETED"}}}}`)
}

func h2c(t *testing.T) *http.Client {
	t.Helper()
	c := loadgen.H2CClient()
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestRunH2CEcho(t *testing.T) {
	t.Parallel()
	url, served := h2cServer(t, completed)
	var progress atomic.Int32
	res, err := loadgen.Run(t.Context(), loadgen.Options{
		URL: url, Body: body(t), Client: h2c(t), Concurrency: 4, Duration: 300 * time.Millisecond,
		Progress: func(loadgen.Progress) { progress.Add(1) }, ProgressInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Requests != served.Load() || res.OK != res.Requests || len(res.Errors) != 0 {
		t.Errorf("Run() = %d requests, %d ok, errors %v; the server answered %d, want all ok", res.Requests, res.OK, res.Errors, served.Load())
	}
	if res.Latency.Count() != res.Requests || res.Latency.Quantile(0.99) <= 0 || res.RequestsPerSecond() <= 0 {
		t.Errorf("latency count %d, p99 %v, %v req/s", res.Latency.Count(), res.Latency.Quantile(0.99), res.RequestsPerSecond())
	}
	if res.Elapsed > 300*time.Millisecond+loadgen.DefaultGrace {
		t.Errorf("Elapsed = %v, want about the duration", res.Elapsed)
	}
	if progress.Load() == 0 {
		t.Error("Progress was never called")
	}
}

func TestRunErrorsByKind(t *testing.T) {
	t.Parallel()
	var i atomic.Uint64
	url, served := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch i.Add(1) % 4 {
		case 0:
			http.Error(w, "forbidden", http.StatusForbidden)
		case 1:
			http.Error(w, "boom", http.StatusInternalServerError)
		case 2:
			_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"denied"}}`)
		default:
			completed(w, r)
		}
	})
	res, err := loadgen.Run(t.Context(), loadgen.Options{URL: url, Body: body(t), Client: h2c(t), Concurrency: 3, Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	n := served.Load()
	if res.Requests != n || n < 8 {
		t.Fatalf("Run() = %d requests, the server answered %d; want equal and several", res.Requests, n)
	}
	// Answers cycle through the four kinds: each gets a quarter, ±1.
	want := map[string]uint64{"http 403": n / 4, "http 500": n / 4, "jsonrpc -32001": n / 4}
	for k, w := range want {
		if got := res.Errors[k]; got < w || got > w+1 {
			t.Errorf("Errors[%q] = %d, want %d (+1); all: %v", k, got, w, res.Errors)
		}
	}
	if len(res.Errors) != 3 || res.OK+res.ErrorCount() != n || res.OK < n/4 {
		t.Errorf("Errors = %v, OK = %d of %d", res.Errors, res.OK, n)
	}
}

func TestRunTransportErrors(t *testing.T) {
	t.Parallel()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/"
	_ = ln.Close() // nothing listens there now
	res, err := loadgen.Run(t.Context(), loadgen.Options{URL: url, Body: body(t), Client: h2c(t), Concurrency: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.OK != 0 || res.Errors["transport refused"] != res.Requests {
		t.Errorf("Run() = %d requests, %d ok, errors %v; want every one transport refused", res.Requests, res.OK, res.Errors)
	}
}

func TestRunRate(t *testing.T) {
	t.Parallel()
	url, served := h2cServer(t, completed)
	const rate, dur = 200.0, time.Second
	res, err := loadgen.Run(t.Context(), loadgen.Options{URL: url, Body: body(t), Client: h2c(t), Concurrency: 8, Duration: dur, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	// Due: exactly 200 in the window; a loaded machine may miss a few.
	if res.Requests+res.Missed != 200 || res.Requests < 150 || res.Requests != served.Load() {
		t.Errorf("Run(rate %v, %v) = %d requests + %d missed, the server answered %d; want 200 due, at least 150 sent",
			rate, dur, res.Requests, res.Missed, served.Load())
	}
	if rps := res.RequestsPerSecond(); rps < 0.75*rate || rps > 1.1*rate {
		t.Errorf("RequestsPerSecond() = %.0f, want about %v", rps, rate)
	}
	if len(res.Errors) != 0 {
		t.Errorf("Errors = %v", res.Errors)
	}
}

// A stalled server shows in rate mode's latencies: requests due while it
// stalls are measured from when they were due.
func TestRunRateCoordinatedOmission(t *testing.T) {
	t.Parallel()
	var first atomic.Bool
	stall := make(chan struct{})
	url, _ := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		if first.CompareAndSwap(false, true) {
			<-stall // the first request holds the only caller for a while
		}
		completed(w, r)
	})
	go func() {
		timer := time.NewTimer(200 * time.Millisecond)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-t.Context().Done():
		}
		close(stall)
	}()
	res, err := loadgen.Run(t.Context(), loadgen.Options{URL: url, Body: body(t), Client: h2c(t), Concurrency: 1, Duration: 400 * time.Millisecond, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	// About 20 requests were due during the 200ms stall; with one caller
	// each waited for it, so well over 10% of latencies exceed 50ms.
	if p := res.Latency.Quantile(0.75); p < 50*time.Millisecond {
		t.Errorf("p75 = %v over %d requests, want ≥ 50ms: latency must count from the due time", p, res.Requests)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	t.Parallel()
	url, _ := h2cServer(t, completed)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	start := time.Now()
	res, err := loadgen.Run(ctx, loadgen.Options{
		URL: url, Body: body(t), Client: h2c(t), Concurrency: 2, Duration: time.Minute,
		Progress: func(p loadgen.Progress) {
			if p.Requests > 0 {
				cancel()
			}
		}, ProgressInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("Run took %v after cancel, want it to stop", d)
	}
	if res.Requests == 0 || len(res.Errors) != 0 {
		t.Errorf("Run() = %d requests, errors %v; want some and none canceled counted", res.Requests, res.Errors)
	}
}

func TestRunOptions(t *testing.T) {
	t.Parallel()
	if _, err := loadgen.Run(t.Context(), loadgen.Options{}); err == nil {
		t.Error("Run(no URL) = nil error")
	}
	if _, err := loadgen.Run(t.Context(), loadgen.Options{URL: "http://x", Body: []byte("{}"), Client: http.DefaultClient, Rate: -1}); err == nil {
		t.Error("Run(rate -1) = nil error")
	}
}

// A real agent over mTLS: production mode, embedded OPA, audit.
func TestRunAgent(t *testing.T) {
	t.Parallel()
	n := agentweavetest.New(t, agentweavetest.Options{})
	agent := n.Agent("search",
		agentweave.Capability{Name: "echo", Description: "echo", Handler: func(_ context.Context, req *agentweave.Request) (any, error) {
			v, _ := req.Data()
			return v, nil
		}},
		agentweave.Capability{Name: "fail", Description: "fail", Handler: func(context.Context, *agentweave.Request) (any, error) {
			return nil, errors.New("no luck")
		}},
	)
	ca := n.CA()
	caller := ca.CreateX509SVID(spiffeid.RequireFromString("spiffe://example.org/agent/bench/production"))
	client, err := transport.NewClient(ca.Source(caller), spiffeid.MatchID(agent.ID()), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.CloseIdleConnections)

	res, err := loadgen.Run(t.Context(), loadgen.Options{URL: agent.URL(), Body: body(t), Client: client, Concurrency: 4, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.OK != res.Requests {
		t.Errorf("echo: %d requests, %d ok, errors %v; want all ok", res.Requests, res.OK, res.Errors)
	}

	failBody, err := loadgen.SendMessageBody("fail", json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	res, err = loadgen.Run(t.Context(), loadgen.Options{URL: agent.URL(), Body: failBody, Client: client, Concurrency: 2, Duration: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors["task TASK_STATE_FAILED"] != res.Requests {
		t.Errorf("fail: %d requests, errors %v; want every one task TASK_STATE_FAILED", res.Requests, res.Errors)
	}
}
