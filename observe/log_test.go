package observe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentweave/agentweave-go/observe"
)

// spanContext returns ctx carrying a valid remote span context with the
// incoming IDs.
func spanContext(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	tid, err := trace.TraceIDFromHex(incomingTraceID)
	if err != nil {
		t.Fatal(err)
	}
	sid, err := trace.SpanIDFromHex(incomingSpanID)
	if err != nil {
		t.Fatal(err)
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.FlagsSampled, Remote: true})
	return trace.ContextWithSpanContext(ctx, sc)
}

// lines parses JSON log output, one object per line.
func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(buf.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		delete(m, "time")
		out = append(out, m)
	}
	return out
}

func TestNewLoggerContextFields(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log, err := observe.NewLogger(&buf, "", "")
	if err != nil {
		t.Fatal(err)
	}
	ctx := spanContext(t, t.Context())
	ctx = observe.WithAuditID(ctx, "aud-42")

	log.InfoContext(ctx, "call admitted", "operation", "SendMessage")
	log.InfoContext(t.Context(), "no trace")
	log.Info("no context")
	log.With("component", "a2a").WarnContext(observe.WithAuditID(t.Context(), "aud-7"), "audit only")
	log.WithGroup("req").InfoContext(ctx, "grouped", "id", 1)
	log.DebugContext(ctx, "below the level")

	want := []map[string]any{
		{
			"level": "INFO", "msg": "call admitted", "operation": "SendMessage",
			"trace_id": incomingTraceID, "span_id": incomingSpanID, "audit_id": "aud-42",
		},
		{"level": "INFO", "msg": "no trace"},
		{"level": "INFO", "msg": "no context"},
		{"level": "WARN", "msg": "audit only", "component": "a2a", "audit_id": "aud-7"},
		{"level": "INFO", "msg": "grouped", "req": map[string]any{
			"id": float64(1), "trace_id": incomingTraceID, "span_id": incomingSpanID, "audit_id": "aud-42",
		}},
	}
	if diff := cmp.Diff(want, lines(t, &buf)); diff != "" {
		t.Errorf("log output mismatch (-want +got):\n%s", diff)
	}
}

func TestNewLoggerLevelsAndFormats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		level, format string
		want          []string // messages written, of debug, info, warn, error
	}{
		{"debug", "json", []string{"d", "i", "w", "e"}},
		{"info", "json", []string{"i", "w", "e"}},
		{"warn", "text", []string{"w", "e"}},
		{"error", "text", []string{"e"}},
	}
	for _, tt := range tests {
		t.Run(tt.level+"/"+tt.format, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			log, err := observe.NewLogger(&buf, tt.level, tt.format)
			if err != nil {
				t.Fatal(err)
			}
			ctx := spanContext(t, t.Context())
			log.DebugContext(ctx, "d")
			log.InfoContext(ctx, "i")
			log.WarnContext(ctx, "w")
			log.ErrorContext(ctx, "e")
			var got []string
			for line := range strings.Lines(buf.String()) {
				if tt.format == "json" {
					var m struct{ Msg, TraceID string }
					if err := json.Unmarshal([]byte(line), &m); err != nil {
						t.Fatal(err)
					}
					got = append(got, m.Msg)
					continue
				}
				if !strings.Contains(line, "trace_id="+incomingTraceID) {
					t.Errorf("text line %q has no trace_id", line)
				}
				_, after, _ := strings.Cut(line, "msg=")
				got = append(got, strings.Fields(after)[0])
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("messages written (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewLoggerErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, level, format, want string }{
		{"level", "verbose", "json", `unknown log level "verbose"`},
		{"level case", "INFO", "json", `unknown log level "INFO"`},
		{"format", "info", "xml", `unknown log format "xml"`},
	}
	for _, tt := range tests {
		_, err := observe.NewLogger(&bytes.Buffer{}, tt.level, tt.format)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: NewLogger() error = %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestContextHandlerWrapsAnyHandler(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(observe.NewContextHandler(slog.NewJSONHandler(&buf, nil)))
	ctx := spanContext(t, t.Context())
	log.InfoContext(ctx, "hi")
	got := lines(t, &buf)
	if len(got) != 1 || got[0]["trace_id"] != incomingTraceID || got[0]["span_id"] != incomingSpanID {
		t.Errorf("record = %v, want trace_id and span_id", got)
	}
}

func TestAuditID(t *testing.T) {
	t.Parallel()
	if id, ok := observe.AuditIDFrom(t.Context()); ok {
		t.Errorf("AuditIDFrom(empty) = %q, true; want false", id)
	}
	if id, ok := observe.AuditIDFrom(observe.WithAuditID(t.Context(), "")); ok {
		t.Errorf(`AuditIDFrom(WithAuditID("")) = %q, true; want false`, id)
	}
	if id, ok := observe.AuditIDFrom(observe.WithAuditID(t.Context(), "a1")); !ok || id != "a1" {
		t.Errorf("AuditIDFrom() = %q, %v; want a1, true", id, ok)
	}
}
