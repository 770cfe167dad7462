package agentweave

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// grpcTracing has gRPC calls carry the caller's trace context (W3C
// traceparent and baggage, as gRPC metadata), as the HTTP client's
// transport does for the JSON bindings. The callee reads it where it reads
// it for those: gRPC metadata are the request's HTTP/2 headers, and gRPC
// is served by the same handler (a2a.NewHandler), behind the same tracing
// handler.
func grpcTracing(prop propagation.TextMapPropagator) []grpc.DialOption {
	inject := func(ctx context.Context) context.Context {
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy()
		prop.Inject(ctx, metadataCarrier(md))
		return metadata.NewOutgoingContext(ctx, md)
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoke grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoke(inject(ctx), method, req, reply, cc, opts...)
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, stream grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return stream(inject(ctx), desc, cc, method, opts...)
		}),
	}
}

// metadataCarrier lets a propagator write gRPC metadata.
type metadataCarrier metadata.MD

var _ propagation.TextMapCarrier = metadataCarrier{}

func (c metadataCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
