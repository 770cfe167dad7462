package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentweave/agentweave-go/observe"
)

// newTracing returns an enabled Tracing that records spans in memory.
func newTracing(t *testing.T, ratio float64) (*observe.Tracing, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tr, err := observe.NewTracing(t.Context(), observe.TracingOptions{
		Enabled: true, SampleRatio: ratio, ServiceName: "test", SpanProcessor: rec,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	return tr, rec
}

// hop is an agent on loopback: it serves through tr.Handler and, when next
// is set, calls next through tr.Transport with the request's context. It
// remembers the traceparent it received and its handler's span context.
type hop struct {
	srv *httptest.Server

	mu          sync.Mutex
	traceparent string
	baggage     string
	span        trace.SpanContext
}

func newHop(t *testing.T, tr *observe.Tracing, name, next string) *hop {
	t.Helper()
	h := &hop{}
	client := &http.Client{Transport: tr.Transport(nil)}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.traceparent = r.Header.Get("traceparent")
		h.baggage = r.Header.Get("baggage")
		h.span = trace.SpanContextFromContext(r.Context())
		h.mu.Unlock()
		if next != "" {
			req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, next, nil)
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			resp, err := client.Do(req)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
		}
		_, _ = io.WriteString(w, name)
	})
	h.srv = httptest.NewServer(tr.Handler(handler, name))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hop) seen() (traceparent, baggage string, span trace.SpanContext) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.traceparent, h.baggage, h.span
}

// call sends GET url through client with the given headers.
func call(t *testing.T, client *http.Client, url string, header map[string]string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200", url, resp.StatusCode)
	}
}

func spanNamed(t *testing.T, spans []sdktrace.ReadOnlySpan, name string, kind trace.SpanKind) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range spans {
		if s.Name() == name && s.SpanKind() == kind {
			return s
		}
	}
	t.Fatalf("no %v span %q among %d", kind, name, len(spans))
	return nil
}

// client → A → B, each with its own provider: one trace, and each span's
// parent is the span that called it.
func TestTracingAcrossHops(t *testing.T) {
	t.Parallel()
	trClient, recClient := newTracing(t, 1)
	trA, recA := newTracing(t, 1)
	trB, recB := newTracing(t, 1)
	b := newHop(t, trB, "B", "")
	a := newHop(t, trA, "A", b.srv.URL)

	ctx, root := trClient.Tracer().Start(t.Context(), "root")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&http.Client{Transport: trClient.Transport(nil)}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	root.End()
	// Close waits for the handlers, so their server spans have ended.
	a.srv.Close()
	b.srv.Close()

	rootSpan := spanNamed(t, recClient.Ended(), "root", trace.SpanKindInternal)
	clientSpan := spanNamed(t, recClient.Ended(), "HTTP GET", trace.SpanKindClient)
	aServer := spanNamed(t, recA.Ended(), "A", trace.SpanKindServer)
	aClient := spanNamed(t, recA.Ended(), "HTTP GET", trace.SpanKindClient)
	bServer := spanNamed(t, recB.Ended(), "B", trace.SpanKindServer)

	traceID := rootSpan.SpanContext().TraceID()
	links := []struct {
		name          string
		span, parent  sdktrace.ReadOnlySpan
		remoteAllowed bool
	}{
		{"client under root", clientSpan, rootSpan, false},
		{"A server under client", aServer, clientSpan, true},
		{"A client under A server", aClient, aServer, false},
		{"B server under A client", bServer, aClient, true},
	}
	for _, l := range links {
		if got := l.span.SpanContext().TraceID(); got != traceID {
			t.Errorf("%s: trace ID = %v, want %v", l.name, got, traceID)
		}
		if got, want := l.span.Parent().SpanID(), l.parent.SpanContext().SpanID(); got != want {
			t.Errorf("%s: parent span ID = %v, want %v", l.name, got, want)
		}
		if l.span.Parent().IsRemote() != l.remoteAllowed {
			t.Errorf("%s: parent remote = %v, want %v", l.name, l.span.Parent().IsRemote(), l.remoteAllowed)
		}
	}
	_, _, bSpan := b.seen()
	if bSpan.SpanID() != bServer.SpanContext().SpanID() {
		t.Errorf("B handler's context span = %v, want its server span %v", bSpan.SpanID(), bServer.SpanContext().SpanID())
	}
	if got := attr(aServer, "service.name"); got != "test" {
		t.Errorf("resource service.name = %q, want test", got)
	}
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Resource().Attributes() {
		if string(kv.Key) == key {
			return kv.Value.AsString()
		}
	}
	return ""
}

const (
	incomingTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	incomingSpanID  = "00f067aa0ba902b7"
)

func TestTracingHonoursIncomingTraceparent(t *testing.T) {
	t.Parallel()
	trA, recA := newTracing(t, 1)
	a := newHop(t, trA, "A", "")
	call(t, http.DefaultClient, a.srv.URL, map[string]string{"traceparent": "00-" + incomingTraceID + "-" + incomingSpanID + "-01"})
	a.srv.Close()

	s := spanNamed(t, recA.Ended(), "A", trace.SpanKindServer)
	if got := s.SpanContext().TraceID().String(); got != incomingTraceID {
		t.Errorf("server span trace ID = %s, want %s", got, incomingTraceID)
	}
	if got := s.Parent().SpanID().String(); got != incomingSpanID || !s.Parent().IsRemote() {
		t.Errorf("server span parent = %s (remote %v), want remote %s", got, s.Parent().IsRemote(), incomingSpanID)
	}
}

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$`)

// With ratio 0 nothing is recorded, but the trace context (unsampled) still
// reaches the next hop, which can then join the same trace.
func TestTracingRatioZeroStillPropagates(t *testing.T) {
	t.Parallel()
	trA, recA := newTracing(t, 0)
	b := newHop(t, observeDisabled(t), "B", "")
	a := newHop(t, trA, "A", b.srv.URL)
	call(t, http.DefaultClient, a.srv.URL, nil)
	a.srv.Close()

	if n := len(recA.Started()); n != 0 {
		t.Errorf("ratio 0 started %d recording spans, want 0", n)
	}
	tp, _, _ := b.seen()
	m := traceparentRE.FindStringSubmatch(tp)
	if m == nil {
		t.Fatalf("B got traceparent %q, want a W3C traceparent", tp)
	}
	if m[3] != "00" {
		t.Errorf("traceparent flags = %s, want 00 (not sampled)", m[3])
	}
	_, _, aSpan := a.seen()
	if m[1] != aSpan.TraceID().String() {
		t.Errorf("B got trace ID %s, want A's %s", m[1], aSpan.TraceID())
	}
}

func observeDisabled(t *testing.T) *observe.Tracing {
	t.Helper()
	tr, err := observe.NewTracing(t.Context(), observe.TracingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// A disabled agent in the middle passes the caller's trace context and
// baggage on unchanged.
func TestTracingDisabledForwards(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		tr   *observe.Tracing
	}{
		{"disabled", observeDisabled(t)},
		{"nil", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := newHop(t, observeDisabled(t), "B", "")
			a := newHop(t, tc.tr, "A", b.srv.URL)
			in := "00-" + incomingTraceID + "-" + incomingSpanID + "-01"
			call(t, http.DefaultClient, a.srv.URL, map[string]string{"traceparent": in, "baggage": "tenant=blue"})
			tp, bag, span := b.seen()
			if tp != in {
				t.Errorf("B got traceparent %q, want %q", tp, in)
			}
			if bag != "tenant=blue" {
				t.Errorf("B got baggage %q, want tenant=blue", bag)
			}
			if got := span.TraceID().String(); got != incomingTraceID {
				t.Errorf("B's context trace ID = %s, want %s", got, incomingTraceID)
			}
			// Without incoming context nothing is invented.
			call(t, http.DefaultClient, a.srv.URL, nil)
			if tp, _, _ := b.seen(); tp != "" {
				t.Errorf("B got traceparent %q from an untraced call, want none", tp)
			}
		})
	}
}

func TestNewTracingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts observe.TracingOptions
		want string
	}{
		{"negative ratio", observe.TracingOptions{Enabled: true, SampleRatio: -0.1}, "sample ratio"},
		{"ratio above 1", observe.TracingOptions{Enabled: true, SampleRatio: 1.5}, "sample ratio"},
		{"NaN ratio", observe.TracingOptions{Enabled: true, SampleRatio: math.NaN()}, "sample ratio"},
		{"unknown exporter", observe.TracingOptions{Enabled: true, Exporter: "zipkin"}, "unknown trace exporter"},
		{"no port", observe.TracingOptions{Enabled: true, Endpoint: "collector"}, "want host:port"},
		{"plaintext off host", observe.TracingOptions{Enabled: true, Endpoint: "http://10.0.0.7:4317"}, "loopback hosts only"},
		{"unknown scheme", observe.TracingOptions{Enabled: true, Endpoint: "ftp://localhost:4317"}, "unknown scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := observe.NewTracing(t.Context(), tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewTracing() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTracingStdout(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	tr, err := observe.NewTracing(t.Context(), observe.TracingOptions{
		Enabled: true, Exporter: "stdout", Writer: &buf, SampleRatio: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer().Start(t.Context(), "GetTask")
	span.End()
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got struct{ Name string }
	if err := json.NewDecoder(&buf).Decode(&got); err != nil {
		t.Fatalf("stdout exporter wrote %q: %v", buf.String(), err)
	}
	if got.Name != "GetTask" {
		t.Errorf("exported span name = %q, want GetTask", got.Name)
	}
}

// Exporter "none" still creates spans, so trace IDs reach logs and peers.
func TestTracingExporterNone(t *testing.T) {
	t.Parallel()
	tr, err := observe.NewTracing(t.Context(), observe.TracingOptions{Enabled: true, Exporter: "none", SampleRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tr.Shutdown(context.Background()) })
	_, span := tr.Tracer().Start(t.Context(), "x")
	defer span.End()
	if !span.SpanContext().IsValid() || !span.IsRecording() {
		t.Errorf("span valid %v recording %v, want both", span.SpanContext().IsValid(), span.IsRecording())
	}
}

// A recorded server span carries the request's attributes and the response
// status (an error status for a 5xx); a streaming handler can still flush
// through the wrapped ResponseWriter.
func TestServerSpanAttributesAndFlush(t *testing.T) {
	tr, rec := newTracing(t, 1)
	srv := httptest.NewServer(tr.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "broken", http.StatusServiceUnavailable)
			return
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush through the tracing handler: %v", err)
		}
		_, _ = io.WriteString(w, "event\n")
	}), "rpc"))
	t.Cleanup(srv.Close)
	for _, path := range []string{"/ok", "/fail"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans ended, want 2", len(spans))
	}
	want := []struct {
		path  string
		code  int64
		error bool
	}{{"/ok", 200, false}, {"/fail", 503, true}}
	for i, s := range spans {
		attrs := map[string]any{}
		for _, kv := range s.Attributes() {
			attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
		if s.Name() != "rpc" || s.SpanKind() != trace.SpanKindServer {
			t.Errorf("span %d: name %q kind %v, want rpc server", i, s.Name(), s.SpanKind())
		}
		if attrs["url.path"] != want[i].path || attrs["http.request.method"] != "GET" || attrs["http.response.status_code"] != want[i].code {
			t.Errorf("span %d attributes %v, want path %s, GET, status %d", i, attrs, want[i].path, want[i].code)
		}
		if got := s.Status().Code.String() == "Error"; got != want[i].error {
			t.Errorf("span %d status %v, error want %v", i, s.Status(), want[i].error)
		}
	}
}

// At ratio 0 a request without a sampled parent records nothing, yet the
// handler sees a valid (unsampled) span context for its logs and peers.
func TestServerSpanUnsampledRecordsNothing(t *testing.T) {
	tr, rec := newTracing(t, 0)
	var sc trace.SpanContext
	srv := httptest.NewServer(tr.Handler(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		sc = trace.SpanContextFromContext(r.Context())
	}), ""))
	t.Cleanup(srv.Close)
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if n := len(rec.Ended()); n != 0 {
		t.Errorf("%d spans recorded at ratio 0, want none", n)
	}
	if !sc.IsValid() || sc.IsSampled() {
		t.Errorf("handler's span context %v: want valid and unsampled", sc)
	}
}
