package observe

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"go.opentelemetry.io/otel/trace"
)

// NewLogger returns a logger writing to w (os.Stderr when nil) at level
// "debug", "info" (the default when empty), "warn" or "error", in format
// "json" (the default when empty) or "text". Its handler is a
// [ContextHandler]: records logged with a context carry trace_id, span_id
// and audit_id.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	switch level {
	case "debug":
		lvl = slog.LevelDebug
	case "", "info":
		lvl = slog.LevelInfo
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	default:
		return nil, fmt.Errorf("observe: unknown log level %q (want debug, info, warn or error)", level)
	}
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch format {
	case "", "json":
		h = slog.NewJSONHandler(w, opts)
	case "text":
		h = slog.NewTextHandler(w, opts)
	default:
		return nil, fmt.Errorf("observe: unknown log format %q (want json or text)", format)
	}
	return slog.New(NewContextHandler(h)), nil
}

// ContextHandler is a slog.Handler that adds, from each record's context,
// the trace_id and span_id of a valid span (see [Tracing]) and the audit
// ID (see [WithAuditID]), then passes the record on. Under an open group
// (Logger.WithGroup) those attributes land in that group.
type ContextHandler struct {
	next slog.Handler
}

var _ slog.Handler = (*ContextHandler)(nil)

// NewContextHandler returns a [ContextHandler] in front of next, for
// loggers that [NewLogger] does not build.
func NewContextHandler(next slog.Handler) *ContextHandler {
	return &ContextHandler{next: next}
}

// Enabled reports whether the next handler handles level.
func (h *ContextHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle adds the context's attributes to r and passes it on.
func (h *ContextHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r.AddAttrs(
			slog.String("trace_id", sc.TraceID().String()),
			slog.String("span_id", sc.SpanID().String()),
		)
	}
	if id, ok := AuditIDFrom(ctx); ok {
		r.AddAttrs(slog.String("audit_id", id))
	}
	return h.next.Handle(ctx, r)
}

// WithAttrs returns a ContextHandler in front of next.WithAttrs(attrs).
func (h *ContextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &ContextHandler{next: h.next.WithAttrs(attrs)}
}

// WithGroup returns a ContextHandler in front of next.WithGroup(name).
func (h *ContextHandler) WithGroup(name string) slog.Handler {
	return &ContextHandler{next: h.next.WithGroup(name)}
}

type auditIDKey struct{}

// WithAuditID returns a copy of ctx carrying the audit ID of the
// authorization decision that admitted the current request.
func WithAuditID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, auditIDKey{}, id)
}

// AuditIDFrom returns the audit ID in ctx, if a non-empty one was set with
// [WithAuditID].
func AuditIDFrom(ctx context.Context) (string, bool) {
	id, ok := ctx.Value(auditIDKey{}).(string)
	return id, ok && id != ""
}
