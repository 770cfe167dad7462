package agentweave_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	a2apb "github.com/a2aproject/a2a-go/v2/a2apb/v1"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/transport"
)

// TestCallOverGRPC: an agent configured to prefer gRPC
// (transport.preferred_bindings) calls another over its gRPC interface,
// on the callee's one mTLS port: the callee sees the gRPC method, the
// call keeps its trace, and the callee's policy decides as for JSON-RPC.
// An agent without the preference keeps JSON-RPC; a callee that serves
// gRPC alone (server.bindings) declares and serves only gRPC, and any
// caller reaches it there.
func TestCallOverGRPC(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	net := agentweavetest.New(t, agentweavetest.Options{
		Policy: `package agentweave.authz

default decision := {"allow": false, "reason": "no"}

decision := {"allow": true} if input.direction == "outbound"

decision := {"allow": true} if {
	input.direction == "inbound"
	not startswith(input.caller_spiffe_id, "spiffe://example.org/agent/auditor/")
}
`,
		Config: func(name string, cfg *agentweave.Config) {
			switch name {
			case "orchestrator", "auditor":
				cfg.Transport.PreferredBindings = []string{config.BindingGRPC}
			case "grpconly":
				cfg.Server.Bindings = []string{config.BindingGRPC}
			}
		},
		AgentOptions: []agentweave.Option{agentweave.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(spans))},
	})
	net.Agent("search", search)
	net.Agent("grpconly", search)
	orch, plain, auditor := net.Agent("orchestrator"), net.Agent("plain"), net.Agent("auditor")

	// paths are the URL paths of the callee's server spans in trace ctx's.
	paths := func(ctx context.Context, callee string) []string {
		var out []string
		for _, s := range spans.GetSpans() {
			if s.SpanContext.TraceID() != trace.SpanContextFromContext(ctx).TraceID() || s.SpanKind != trace.SpanKindServer ||
				!slices.ContainsFunc(s.Resource.Attributes(), func(kv attribute.KeyValue) bool {
					return kv.Key == "service.name" && kv.Value.AsString() == callee
				}) {
				continue
			}
			for _, kv := range s.Attributes {
				if kv.Key == "url.path" {
					out = append(out, kv.Value.AsString())
				}
			}
		}
		return out
	}
	call := func(caller *agentweave.Agent, callee string) (context.Context, error) {
		ctx, root := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sdktrace.NewSimpleSpanProcessor(spans))).Tracer("test").Start(t.Context(), "request")
		defer root.End()
		res, err := caller.Call(ctx, net.ID(callee), "search", query{Text: "spiffe", Limit: 2})
		if err == nil {
			var hits []hit
			if err := res.Decode(&hits); err != nil || len(hits) != 2 {
				t.Errorf("result = %v, %v; want 2 hits", hits, err)
			}
		}
		return ctx, err
	}

	ctx, err := call(orch, "search")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(ctx, "search"); !slices.Contains(got, "/lf.a2a.v1.A2AService/SendMessage") || slices.Contains(got, "/") {
		t.Errorf("search served %v for the gRPC-preferring caller, want /lf.a2a.v1.A2AService/SendMessage in the caller's trace", got)
	}
	for _, err := range orch.Stream(t.Context(), net.ID("search"), "search", query{Text: "x", Limit: 1}) {
		if err != nil {
			t.Errorf("Stream over gRPC: %v", err)
		}
	}

	ctx, err = call(plain, "search")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(ctx, "search"); !slices.Contains(got, "/") || slices.ContainsFunc(got, isGRPCPath) {
		t.Errorf("search served %v for a caller without a preference, want JSON-RPC (/)", got)
	}

	// The callee's policy over gRPC: the same DenyError as over JSON-RPC.
	_, err = call(auditor, "search")
	var de *agentweave.DenyError
	if !errors.As(err, &de) || !de.Peer || de.Decision.Reason != "no" {
		t.Errorf("auditor Call over gRPC = %v, want the callee's denial", err)
	}

	// A gRPC-only agent: its card lists gRPC alone, and a caller without
	// a preference uses it.
	p, err := plain.Client().Peer(t.Context(), spiffeid.RequireFromString(net.ID("grpconly")))
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range p.Card().SupportedInterfaces {
		if i.ProtocolBinding != a2acore.TransportProtocolGRPC {
			t.Errorf("the gRPC-only agent declares %s %s", i.ProtocolBinding, i.ProtocolVersion)
		}
	}
	ctx, err = call(plain, "grpconly")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(ctx, "grpconly"); !slices.Contains(got, "/lf.a2a.v1.A2AService/SendMessage") {
		t.Errorf("grpconly served %v, want gRPC", got)
	}
}

func isGRPCPath(p string) bool { return strings.HasPrefix(p, "/lf.a2a.v1.A2AService/") }

// TestRateLimitOverGRPC: the server's per-caller rate limit applies to
// gRPC calls too (they enter through the same handler), answered as gRPC
// answers it: RESOURCE_EXHAUSTED, with Retry-After, before the engine.
func TestRateLimitOverGRPC(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(name string, cfg *agentweave.Config) {
		cfg.Server.RateLimit = config.RateLimit{RequestsPerSecond: 0.01, Burst: 1}
	}})
	agent := net.Agent("search", search)
	caller := spiffeid.RequireFromString(net.ID("caller"))
	opts, err := client.GRPCDialOptions(net.CA().Source(net.CA().CreateX509SVID(caller)), spiffeid.MatchID(agent.ID()), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(agent.URL(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	a2a := a2apb.NewA2AServiceClient(conn)
	ctx := metadata.NewOutgoingContext(t.Context(), metadata.Pairs("a2a-version", "1.0"))
	if _, err := a2a.GetTask(ctx, &a2apb.GetTaskRequest{Id: "x"}); grpcstatus.Code(err) != codes.NotFound {
		t.Fatalf("first GetTask = %v, want NOT_FOUND from the engine", err)
	}
	var trailer metadata.MD // a refusal without a message is all trailers
	_, err = a2a.GetTask(ctx, &a2apb.GetTaskRequest{Id: "x"}, grpc.Trailer(&trailer))
	if grpcstatus.Code(err) != codes.ResourceExhausted || !strings.Contains(grpcstatus.Convert(err).Message(), "rate") {
		t.Errorf("second GetTask = %v, want RESOURCE_EXHAUSTED saying why", err)
	}
	if ra := trailer.Get("retry-after"); len(ra) != 1 || ra[0] != "100" {
		t.Errorf("Retry-After = %v, want [100]", ra)
	}
}
