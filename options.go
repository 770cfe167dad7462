package agentweave

import (
	"log/slog"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/identity"
)

// Option configures what a configuration file cannot hold: Go values.
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	withoutExtendedCard bool
	logger              *slog.Logger
	source              identity.Source
	authorizer          authz.Authorizer
	auditSink           audit.Sink
	store               taskstore.Store
	resolver            client.Resolver
	listener            net.Listener
	adminAddr           *string
	registerer          prometheus.Registerer
	spans               sdktrace.SpanProcessor
}

// WithLogger sets the agent's logger. Default: a JSON (or text) logger on
// standard error at the configured level.
func WithLogger(l *slog.Logger) Option { return optionFunc(func(o *options) { o.logger = l }) }

// WithIdentitySource uses src for the agent's SVID and trust bundles
// instead of the Workload API named in the configuration (for example the
// test CA of package agentweavetest). The agent does not close it.
func WithIdentitySource(src identity.Source) Option {
	return optionFunc(func(o *options) { o.source = src })
}

// WithAuthorizer decides with az instead of the configured policy. Every
// decision is still audited. [New] refuses authz.AllowAll() outside
// environment development.
func WithAuthorizer(az authz.Authorizer) Option {
	return optionFunc(func(o *options) { o.authorizer = az })
}

// WithAuditSink writes the audit trail to sink instead of the configured
// destination. The agent closes it.
func WithAuditSink(sink audit.Sink) Option {
	return optionFunc(func(o *options) { o.auditSink = sink })
}

// WithStore keeps tasks in s instead of the configured store. The agent
// does not close it.
func WithStore(s taskstore.Store) Option { return optionFunc(func(o *options) { o.store = s }) }

// WithResolver finds the URLs of agents that are not in the
// configuration's peers (which are looked up first).
func WithResolver(r client.Resolver) Option { return optionFunc(func(o *options) { o.resolver = r }) }

// WithListener serves A2A on ln instead of listening on server.host and
// server.port. The agent closes it.
func WithListener(ln net.Listener) Option { return optionFunc(func(o *options) { o.listener = ln }) }

// WithAdminAddr serves /metrics, /healthz and /readyz on addr (host:port;
// port 0 picks one) instead of observability.metrics; "" turns the admin
// listener off.
func WithAdminAddr(addr string) Option { return optionFunc(func(o *options) { o.adminAddr = &addr }) }

// WithMetricsRegisterer registers the agent's metrics with reg as well as
// serving them on the admin listener.
func WithMetricsRegisterer(reg prometheus.Registerer) Option {
	return optionFunc(func(o *options) { o.registerer = reg })
}

// WithSpanProcessor sends the agent's trace spans to sp (tests,
// custom backends) instead of the configured exporter; tracing is then on.
func WithSpanProcessor(sp sdktrace.SpanProcessor) Option {
	return optionFunc(func(o *options) { o.spans = sp })
}

// WithoutExtendedCard leaves the extended agent card off: the card says
// extendedAgentCard false and GetExtendedAgentCard answers
// UnsupportedOperation. By default each caller gets the card with the
// skills its policy lets it call.
func WithoutExtendedCard() Option {
	return optionFunc(func(o *options) { o.withoutExtendedCard = true })
}
