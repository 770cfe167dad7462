package agentweave_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
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
