package observe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/credentials"
)

// Tracing defaults.
const (
	DefaultOTLPEndpoint = "localhost:4317"
	DefaultServiceName  = "agentweave"
)

// Tracer and instrumentation scope name.
const scopeName = "github.com/agentweave/agentweave-go"

// TracingOptions configures [NewTracing]. The zero value disables tracing
// (trace context is still forwarded).
type TracingOptions struct {
	// Enabled turns on span creation and export. When false, no span is
	// recorded, but an incoming W3C trace context is still passed on to
	// outbound calls and appears in logs.
	Enabled bool
	// Exporter is "otlp" (OTLP over gRPC, the default), "stdout" (one JSON
	// document per span on Writer, written as each span ends; for
	// development) or "none" (spans are created and propagated, so trace
	// IDs reach logs and peers, but not exported).
	Exporter string
	// Endpoint is the OTLP collector as host:port. Default localhost:4317.
	// The exporter uses plaintext gRPC only when the host is a loopback
	// address or "localhost" (a collector on the same host or pod), and TLS
	// with the system roots otherwise. An "https://" prefix forces TLS; an
	// "http://" prefix is allowed for loopback hosts only.
	Endpoint string
	// TLSConfig, if set, is used for the OTLP connection whatever the host
	// (for a private CA or client certificates).
	TLSConfig *tls.Config
	// SampleRatio is the fraction of new traces sampled, from 0 to 1. A
	// trace started by a caller keeps the caller's decision (parent-based
	// sampling). 0 samples no new trace, so set it explicitly.
	SampleRatio float64
	// ServiceName is the service.name resource attribute. Default
	// "agentweave".
	ServiceName string
	// Writer receives the stdout exporter's output. Default os.Stdout.
	Writer io.Writer
	// SpanProcessor, if set, replaces Exporter: spans go to it. Tests pass
	// sdktrace.NewSimpleSpanProcessor(tracetest.NewInMemoryExporter()).
	SpanProcessor sdktrace.SpanProcessor
}

// Tracing holds a tracer provider and the W3C propagator (TraceContext and
// Baggage) that go with it. It never touches the OpenTelemetry globals: hand
// [Tracing.Handler], [Tracing.Transport] or [Tracing.TracerProvider] to
// whatever needs them.
//
// A Tracing is safe for concurrent use. A nil *Tracing behaves like a
// disabled one.
type Tracing struct {
	provider trace.TracerProvider
	sdk      *sdktrace.TracerProvider // nil when disabled
	prop     propagation.TextMapPropagator
	tracer   trace.Tracer
}

// NewTracing builds the tracer provider opts describe. It does not connect
// to the collector: the OTLP exporter dials in the background and drops
// spans it cannot send. Call [Tracing.Shutdown] to flush.
func NewTracing(ctx context.Context, opts TracingOptions) (*Tracing, error) {
	if !opts.Enabled {
		return disabledTracing(), nil
	}
	if math.IsNaN(opts.SampleRatio) || opts.SampleRatio < 0 || opts.SampleRatio > 1 {
		return nil, fmt.Errorf("observe: sample ratio %v is not between 0 and 1", opts.SampleRatio)
	}
	name := opts.ServiceName
	if name == "" {
		name = DefaultServiceName
	}
	res, err := resource.New(ctx,
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(name)),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("observe: tracing resource: %w", err)
	}
	sp := opts.SpanProcessor
	if sp == nil {
		if sp, err = newSpanProcessor(ctx, opts); err != nil {
			return nil, err
		}
	}
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SampleRatio))),
	}
	if sp != nil {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sp))
	}
	tp := sdktrace.NewTracerProvider(tpOpts...)
	return &Tracing{provider: tp, sdk: tp, prop: w3c(), tracer: tp.Tracer(scopeName)}, nil
}

func disabledTracing() *Tracing {
	tp := nooptrace.NewTracerProvider()
	return &Tracing{provider: tp, prop: w3c(), tracer: tp.Tracer(scopeName)}
}

func w3c() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// newSpanProcessor returns the exporter's processor, or nil for "none".
func newSpanProcessor(ctx context.Context, opts TracingOptions) (sdktrace.SpanProcessor, error) {
	switch opts.Exporter {
	case "", "otlp":
		endpoint, plaintext, err := otlpTarget(opts.Endpoint)
		if err != nil {
			return nil, err
		}
		eo := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(endpoint)}
		switch {
		case opts.TLSConfig != nil:
			eo = append(eo, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(opts.TLSConfig.Clone())))
		case plaintext:
			eo = append(eo, otlptracegrpc.WithInsecure())
		default:
			eo = append(eo, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
		}
		exp, err := otlptracegrpc.New(ctx, eo...)
		if err != nil {
			return nil, fmt.Errorf("observe: OTLP exporter: %w", err)
		}
		return sdktrace.NewBatchSpanProcessor(exp), nil
	case "stdout":
		w := opts.Writer
		if w == nil {
			w = os.Stdout
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(w))
		if err != nil {
			return nil, fmt.Errorf("observe: stdout exporter: %w", err)
		}
		return sdktrace.NewSimpleSpanProcessor(exp), nil
	case "none":
		return nil, nil
	default:
		return nil, fmt.Errorf("observe: unknown trace exporter %q (want otlp, stdout or none)", opts.Exporter)
	}
}

// otlpTarget parses an OTLP endpoint into host:port and whether plaintext
// is allowed: only for loopback hosts, so spans (which carry SPIFFE IDs and
// operation names) never cross the network unencrypted.
func otlpTarget(endpoint string) (hostport string, plaintext bool, err error) {
	if endpoint == "" {
		endpoint = DefaultOTLPEndpoint
	}
	scheme, rest, hasScheme := strings.Cut(endpoint, "://")
	if !hasScheme {
		scheme, rest = "", endpoint
	}
	host, _, err := net.SplitHostPort(rest)
	if err != nil {
		return "", false, fmt.Errorf("observe: OTLP endpoint %q: want host:port: %w", endpoint, err)
	}
	loopback := isLoopback(host)
	switch scheme {
	case "":
		return rest, loopback, nil
	case "https":
		return rest, false, nil
	case "http":
		if !loopback {
			return "", false, fmt.Errorf("observe: OTLP endpoint %q: plaintext is allowed to loopback hosts only", endpoint)
		}
		return rest, true, nil
	default:
		return "", false, fmt.Errorf("observe: OTLP endpoint %q: unknown scheme %q", endpoint, scheme)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (t *Tracing) or() *Tracing {
	if t == nil {
		return disabledTracing()
	}
	return t
}

// TracerProvider returns the tracer provider: the SDK's, or a no-op one when
// tracing is disabled.
func (t *Tracing) TracerProvider() trace.TracerProvider { return t.or().provider }

// Propagator returns the W3C TraceContext and Baggage propagator.
func (t *Tracing) Propagator() propagation.TextMapPropagator { return t.or().prop }

// Tracer returns AgentWeave's tracer.
func (t *Tracing) Tracer() trace.Tracer { return t.or().tracer }

// Shutdown flushes pending spans and stops the exporter, waiting until ctx
// ends. Later calls return nil at once.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("observe: tracing shutdown: %w", err)
	}
	return nil
}

// Handler wraps a server handler: it continues the caller's trace from the
// traceparent header and, when tracing is enabled, records a server span
// named name (or after the HTTP method when name is empty). Rename it from
// the handler once the A2A method is known:
// trace.SpanFromContext(ctx).SetName("SendMessage"). When tracing is
// disabled it only puts the caller's trace context in the request context.
func (t *Tracing) Handler(h http.Handler, name string) http.Handler {
	t = t.or()
	if t.sdk == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			h.ServeHTTP(w, r.WithContext(ctx))
		})
	}
	// Not otelhttp's handler: at sample ratio 0 it cost ≈ 6 % of an agent's
	// CPU per request (semantic-convention attributes and metrics computed
	// for spans that are never recorded, a wrapped ResponseWriter); here an
	// unsampled request pays for the context extraction and the span IDs
	// only (docs/BENCHMARKS.md).
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		spanName := name
		if spanName == "" {
			spanName = r.Method
		}
		ctx, span := t.tracer.Start(ctx, spanName, trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		r = r.WithContext(ctx)
		if !span.IsRecording() {
			h.ServeHTTP(w, r)
			return
		}
		span.SetAttributes(requestAttributes(r)...)
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(code))
		if code >= http.StatusInternalServerError {
			span.SetStatus(codes.Error, http.StatusText(code))
		}
	})
}

// requestAttributes are the OpenTelemetry HTTP server attributes of r.
func requestAttributes(r *http.Request) []attribute.KeyValue {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(r.Method),
		semconv.URLPath(r.URL.Path),
		semconv.URLScheme(scheme),
		semconv.NetworkProtocolVersion(fmt.Sprintf("%d.%d", r.ProtoMajor, r.ProtoMinor)),
	}
	if host, port, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		attrs = append(attrs, semconv.NetworkPeerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.NetworkPeerPort(p))
		}
	}
	return attrs
}

// statusWriter remembers the response status for the span. It passes
// flushes through (server-sent events) and unwraps for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= http.StatusOK { // not an informational 1xx
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Transport wraps a client round tripper (http.DefaultTransport when rt is
// nil): it injects the request context's trace context as traceparent and,
// when tracing is enabled, records a client span.
func (t *Tracing) Transport(rt http.RoundTripper) http.RoundTripper {
	t = t.or()
	if rt == nil {
		rt = http.DefaultTransport
	}
	if t.sdk == nil {
		return propagatingTransport{rt: rt, prop: t.prop}
	}
	return otelhttp.NewTransport(rt, t.httpOptions()...)
}

func (t *Tracing) httpOptions() []otelhttp.Option {
	return []otelhttp.Option{
		otelhttp.WithTracerProvider(t.provider),
		otelhttp.WithPropagators(t.prop),
		// Request metrics are ours (Prometheus); never the global meter.
		otelhttp.WithMeterProvider(noopmetric.NewMeterProvider()),
	}
}

// propagatingTransport forwards the trace context without recording spans.
type propagatingTransport struct {
	rt   http.RoundTripper
	prop propagation.TextMapPropagator
}

func (p propagatingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	h := make(http.Header, 2)
	p.prop.Inject(r.Context(), propagation.HeaderCarrier(h))
	if len(h) == 0 {
		return p.rt.RoundTrip(r)
	}
	// A RoundTripper must not modify the caller's request.
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header[k] = v
	}
	return p.rt.RoundTrip(r)
}

// CloseIdleConnections closes the wrapped transport's idle connections, so
// http.Client.CloseIdleConnections reaches it through the wrapper.
func (p propagatingTransport) CloseIdleConnections() {
	if c, ok := p.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
