package agentweave_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/observe"
)

// TestOneTraceAcrossThreeAgents: orchestrator → search → summarizer is one
// trace: W3C trace context travels with each call, through the task's
// handler, to the next agent.
func TestOneTraceAcrossThreeAgents(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	net := agentweavetest.New(t, agentweavetest.Options{AgentOptions: []agentweave.Option{
		agentweave.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(spans)),
	}})
	net.Agent("summarizer", agentweave.Capability{
		Name: "summarize", Description: "summarizes",
		Handler: func(context.Context, *agentweave.Request) (any, error) { return "short", nil },
	})
	var search *agentweave.Agent
	search = net.Agent("search", agentweave.Capability{
		Name: "search", Description: "searches, then summarizes",
		Handler: func(ctx context.Context, _ *agentweave.Request) (any, error) {
			res, err := search.Call(ctx, net.ID("summarizer"), "summarize", nil)
			if err != nil {
				return nil, err
			}
			var s string
			return s, res.Decode(&s)
		},
	})
	orch := net.Agent("orchestrator")

	ctx, root := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(spans))).Tracer("test").Start(t.Context(), "user request")
	res, err := orch.Call(ctx, net.ID("search"), "search", nil)
	root.End()
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := res.Decode(&out); err != nil || out != "short" {
		t.Fatalf("result %q, %v", out, err)
	}
	want := root.SpanContext().TraceID()
	services := map[string]int{}
	for _, s := range spans.GetSpans() {
		if s.SpanContext.TraceID() != want {
			continue
		}
		for _, kv := range s.Resource.Attributes() {
			if kv.Key == "service.name" {
				services[kv.Value.AsString()+"/"+s.SpanKind.String()]++
			}
		}
	}
	for _, w := range []string{"orchestrator/client", "search/server", "search/client", "summarizer/server"} {
		if services[w] == 0 {
			t.Errorf("trace %s has no %s span; spans by service/kind: %v", want, w, services)
		}
	}
	_ = trace.SpanKindServer
}

// TestLogsCarryTraceAndAuditIDs: a capability's logs name the trace and
// the audit record of the decision that let the call in.
func TestLogsCarryTraceAndAuditIDs(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	logger, err := observe.NewLogger(&buf, "info", "json")
	if err != nil {
		t.Fatal(err)
	}
	net := agentweavetest.New(t, agentweavetest.Options{AgentOptions: []agentweave.Option{
		agentweave.WithLogger(logger),
		agentweave.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(tracetest.NewInMemoryExporter())),
	}})
	net.Agent("search", agentweave.Capability{
		Name: "search", Description: "logs and answers",
		Handler: func(ctx context.Context, _ *agentweave.Request) (any, error) {
			logger.InfoContext(ctx, "searching")
			return "ok", nil
		},
	})
	if _, err := net.Agent("orchestrator").Call(t.Context(), net.ID("search"), "search", nil); err != nil {
		t.Fatal(err)
	}
	var line struct {
		Msg     string `json:"msg"`
		TraceID string `json:"trace_id"`
		AuditID string `json:"audit_id"`
	}
	for _, l := range strings.Split(buf.String(), "\n") {
		if strings.Contains(l, `"searching"`) {
			if err := json.Unmarshal([]byte(l), &line); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(line.TraceID) != 32 || line.AuditID == "" {
		t.Fatalf("handler log = %+v, want a trace ID and an audit ID", line)
	}
	trail, err := os.ReadFile(net.AuditFile("search"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(trail), `"audit_id":"`+line.AuditID+`"`) {
		t.Errorf("audit ID %s in the log is not in search's audit trail", line.AuditID)
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
