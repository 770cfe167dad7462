// Package observe is AgentWeave's observability: Prometheus metrics,
// OpenTelemetry tracing, structured logs and health probes. It is a leaf:
// it imports no other AgentWeave package, and it never sets the
// OpenTelemetry or Prometheus globals, so several agents can live in one
// process.
//
// # Metrics
//
// [NewMetrics] registers the agentweave_* metrics on a registry of yours
// (or its own) and returns a [*Metrics] whose methods the other packages
// call on their hot paths: [Metrics.ObserveRequest],
// [Metrics.ObserveDecision], [Metrics.Error] and so on. Labels take small
// fixed sets of values ([Inbound], [CodeOK], [KindPolicy],
// [ReasonBadCertificate], …) so that no caller can blow up cardinality;
// anything else is counted as "other". [Metrics.Denied] counts denials by
// peer, action and reason, values from outside, so each of those labels
// is capped ([MaxDenialCallers], [MaxDenialActions], [MaxDenialReasons],
// [MaxDenialSeries]) and counts later values as "other". A nil *Metrics
// records nothing.
//
// Some metrics are fed by hooks: [Metrics.AuditSync] is an
// audit.FileOptions.OnSync (the fsync latency of the audit file),
// [Metrics.PolicyRevision] names the policy revision serving, and
// [Metrics.ExportReadiness] makes agentweave_ready run a [Health]'s checks
// at scrape time, bounded by [ReadyTimeout].
//
// # Tracing
//
// [NewTracing] builds a tracer provider that exports over OTLP/gRPC (or to
// stdout) with parent-based ratio sampling, and the W3C trace context
// propagator. [Tracing.Handler] continues a caller's trace on the server
// side; [Tracing.Transport] passes it on to the next agent. With tracing
// disabled, the trace context is still forwarded, so one agent that does
// not export does not break a trace that crosses it.
//
//	tr, err := observe.NewTracing(ctx, observe.TracingOptions{Enabled: true, SampleRatio: 0.1, ServiceName: "search"})
//	defer tr.Shutdown(context.Background())
//	handler = tr.Handler(handler, "a2a")
//	client.Transport = tr.Transport(client.Transport)
//
// # Logs
//
// [NewLogger] returns a JSON (or text) slog.Logger whose records carry the
// trace_id and span_id of the context's span, and the audit_id that
// [WithAuditID] put there, so a log line leads to its trace and to the
// authorization decision that admitted the request.
//
// # Health and the admin listener
//
// [Health] answers liveness (/healthz, /health/live) and readiness
// (/readyz, /health/ready: every check added with [Health.AddReadiness]
// passes and the agent is not shutting down). [AdminHandler] puts /metrics
// and those routes on one handler, and [ServeAdmin] serves it on a plain
// HTTP listener, loopback by default:
//
//	m, err := observe.NewMetrics(nil)
//	h := observe.NewHealth()
//	h.AddReadiness("svid", func(ctx context.Context) error { _, err := src.X509SVID(); return err })
//	admin, err := observe.ServeAdmin(ctx, "127.0.0.1:9090", observe.AdminHandler(m, h))
//	defer admin.Close()
package observe
