package observe

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Directions, the values of the direction label.
const (
	Inbound  = "inbound"
	Outbound = "outbound"
)

// Request outcomes, the values of the code label of
// agentweave_requests_total. Any other value is counted as "other".
const (
	CodeOK          = "ok"           // the call succeeded
	CodeDenied      = "denied"       // policy refused it
	CodeInvalid     = "invalid"      // malformed request or parameters
	CodeNotFound    = "not_found"    // no such task or resource
	CodeRateLimited = "rate_limited" // refused by a rate limit
	CodeTimeout     = "timeout"      // a deadline passed
	CodeCanceled    = "canceled"     // the caller went away
	CodeUnavailable = "unavailable"  // peer unreachable or circuit open
	CodeUnsupported = "unsupported"  // method, version or operation not supported
	CodeError       = "error"        // any other failure
)

// Error kinds, the values of the kind label of agentweave_errors_total. Any
// other value is counted as "other".
const (
	KindIdentity  = "identity"  // SVID or trust bundle unavailable
	KindPolicy    = "policy"    // policy evaluation failed (and so denied)
	KindAudit     = "audit"     // an audit record could not be written
	KindTransport = "transport" // connection or TLS failure
	KindHandler   = "handler"   // a capability handler failed
	KindStore     = "store"     // the task store failed
	KindPush      = "push"      // a push notification was not delivered
)

// TLS handshake failure reasons, the values of the reason label of
// agentweave_tls_handshake_failures_total. Any other value is counted as
// "other".
const (
	ReasonNoCertificate  = "no_certificate"  // the peer presented no certificate
	ReasonBadCertificate = "bad_certificate" // it did not verify (unknown CA, expired)
	ReasonUnauthorized   = "unauthorized"    // it verified, but its SPIFFE ID is not allowed
	ReasonProtocol       = "protocol"        // TLS version, cipher or ALPN mismatch
	ReasonTimeout        = "timeout"         // the handshake did not finish in time
)

// Circuit breaker states, the values of agentweave_circuit_breaker_state.
// They equal gobreaker's StateClosed, StateHalfOpen and StateOpen.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// Caps on agentweave_denials_total, per [Metrics]. Its caller, action and
// reason labels take values from outside (peers' SPIFFE IDs, capability
// names, policies' reasons), so each label admits this many distinct
// values, first come first served, and counts any later value as "other";
// and at most MaxDenialSeries series are made, a later combination being
// counted as caller, action and reason "other".
const (
	MaxDenialCallers     = 64
	MaxDenialActions     = 64
	MaxDenialReasons     = 32
	MaxDenialSeries      = 1024
	MaxDenialReasonBytes = 80 // a longer reason is cut to this many bytes (whole UTF-8 characters)
	maxDenialValueBytes  = 256
)

// ReadyTimeout bounds how long a scrape waits for the readiness checks
// behind agentweave_ready (see [Metrics.ExportReadiness]); a check that
// takes longer counts as not ready.
const ReadyTimeout = time.Second

const other = "other"

var (
	directionValues = []string{Inbound, Outbound, other}
	// operationValues are the A2A v1 methods, plus GetAgentCard for the
	// well-known card fetch.
	operationValues = []string{
		"SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask",
		"SubscribeToTask", "CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
		"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
		"GetExtendedAgentCard", "GetAgentCard", other,
	}
	codeValues = []string{
		CodeOK, CodeDenied, CodeInvalid, CodeNotFound, CodeRateLimited, CodeTimeout,
		CodeCanceled, CodeUnavailable, CodeUnsupported, CodeError, other,
	}
	kindValues     = []string{KindIdentity, KindPolicy, KindAudit, KindTransport, KindHandler, KindStore, KindPush, other}
	reasonValues   = []string{ReasonNoCertificate, ReasonBadCertificate, ReasonUnauthorized, ReasonProtocol, ReasonTimeout, other}
	decisionValues = []string{"allowed", "denied"}
	resultValues   = []string{"ok", "refused"}
)

// Histogram buckets, in seconds.
var (
	requestBuckets = []float64{
		20e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
		25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10,
	}
	authBuckets = []float64{
		2e-6, 5e-6, 10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3,
		2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1,
	}
	syncBuckets = []float64{
		50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3,
		25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1,
	}
)

// Metrics records AgentWeave's Prometheus metrics:
//
//	agentweave_requests_total{direction,operation,code}       counter
//	agentweave_request_duration_seconds{direction,operation}  histogram, 20µs–10s
//	agentweave_auth_decisions_total{direction,decision}       counter, decision allowed|denied
//	agentweave_auth_check_duration_seconds{direction}         histogram, 2µs–1s
//	agentweave_errors_total{kind}                             counter
//	agentweave_active_connections                             gauge, inbound
//	agentweave_circuit_breaker_state{target}                  gauge, 0 closed, 1 half-open, 2 open
//	agentweave_svid_expiry_timestamp_seconds                  gauge
//	agentweave_svid_rotations_total                           counter
//	agentweave_tls_handshake_failures_total{reason}           counter
//	agentweave_policy_reloads_total{result}                   counter, result ok|refused
//	agentweave_rate_limited_total{direction}                  counter
//	agentweave_denials_total{direction,caller,action,reason}  counter, see [Metrics.Denied]
//	agentweave_audit_sync_duration_seconds                    histogram, 50µs–1s, see [Metrics.AuditSync]
//	agentweave_policy_revision_info{revision}                 gauge, 1 for the revision serving
//	agentweave_ready                                          gauge, 1 ready, 0 not, see [Metrics.ExportReadiness]
//
// Every label but those of agentweave_denials_total takes a small fixed set
// of values: direction [Inbound] or [Outbound]; operation an A2A method
// (SendMessage, GetTask, …, and GetAgentCard); code a Code constant
// ([CodeOK], [CodeDenied], …); kind a Kind constant ([KindIdentity], …);
// reason a Reason constant ([ReasonBadCertificate], …). Anything else is
// counted as "other", so no caller, and no peer sending odd method names,
// can grow the number of series. The exceptions are the breaker's target
// (one per configured peer), the policy revision (one series at a time),
// and the denials' caller, action and reason, each capped (see
// [MaxDenialCallers]). The small families are exported at zero from the
// start.
//
// Label children are resolved once and then reached without locks: a call
// costs tens of nanoseconds and allocates nothing. All methods are safe for
// concurrent use, and all are no-ops on a nil *Metrics, so code can take a
// *Metrics and run without one.
type Metrics struct {
	gatherer prometheus.Gatherer

	requests      *family[prometheus.Counter]  // direction, operation, code
	requestTime   *family[prometheus.Observer] // direction, operation
	decisions     *family[prometheus.Counter]  // direction, decision
	authTime      *family[prometheus.Observer] // direction
	errors        *family[prometheus.Counter]  // kind
	handshakes    *family[prometheus.Counter]  // reason
	reloads       *family[prometheus.Counter]  // result
	rateLimited   *family[prometheus.Counter]  // direction
	connections   prometheus.Gauge
	breakers      *prometheus.GaugeVec
	svidExpiry    prometheus.Gauge
	svidRotations prometheus.Counter
	denials       *denials
	auditSync     prometheus.Observer
	revisions     *revisionInfo
	ready         *readiness
}

// NewMetrics creates the metrics and registers them on reg. When reg is
// nil, NewMetrics creates its own registry holding them plus the Go runtime
// and process collectors. [Metrics.Handler] serves reg when it is also a
// prometheus.Gatherer (a *prometheus.Registry is), and otherwise a registry
// of the AgentWeave metrics alone. Registering twice on one registry fails.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	if reg == nil {
		own := prometheus.NewRegistry()
		own.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		reg = own
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	}
	gauge := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	var (
		requests    = counter("agentweave_requests_total", "A2A requests by direction, operation and outcome code.", "direction", "operation", "code")
		requestTime = histogram("agentweave_request_duration_seconds", "A2A request latency.", requestBuckets, "direction", "operation")
		decisions   = counter("agentweave_auth_decisions_total", "Authorization decisions.", "direction", "decision")
		authTime    = histogram("agentweave_auth_check_duration_seconds", "Authorization check latency.", authBuckets, "direction")
		errs        = counter("agentweave_errors_total", "Errors by kind.", "kind")
		handshakes  = counter("agentweave_tls_handshake_failures_total", "Failed inbound mTLS handshakes by reason.", "reason")
		reloads     = counter("agentweave_policy_reloads_total", "Policy reloads; refused keeps the last good policy.", "result")
		rateLimited = counter("agentweave_rate_limited_total", "Requests refused by a rate limit.", "direction")
		breakers    = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentweave_circuit_breaker_state",
			Help: "Circuit breaker state per target: 0 closed, 1 half-open, 2 open.",
		}, []string{"target"})
		connections   = gauge("agentweave_active_connections", "Inbound connections currently open.")
		svidExpiry    = gauge("agentweave_svid_expiry_timestamp_seconds", "Expiry of the current X509-SVID, in Unix seconds.")
		svidRotations = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "agentweave_svid_rotations_total",
			Help: "X509-SVID rotations.",
		})
		denied = counter("agentweave_denials_total",
			"Denied authorization decisions; caller is the peer (the caller inbound, the callee outbound); caller, action and reason are capped, later values counted as other.",
			"direction", "caller", "action", "reason")
		auditSync = prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "agentweave_audit_sync_duration_seconds", Help: "Duration of each fsync of the audit file.", Buckets: syncBuckets,
		})
		revisions = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "agentweave_policy_revision_info", Help: "1 for the policy revision serving decisions.",
		}, []string{"revision"})
		ready = &readiness{desc: prometheus.NewDesc("agentweave_ready", "1 when the readiness checks pass, 0 otherwise; run at scrape time.", nil, nil)}
	)
	cs := []prometheus.Collector{
		requests, requestTime, decisions, authTime, errs, handshakes, reloads,
		rateLimited, breakers, connections, svidExpiry, svidRotations,
		denied, auditSync, revisions, ready,
	}
	for i, c := range cs {
		if err := reg.Register(c); err != nil {
			for _, done := range cs[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("observe: register metrics: %w", err)
		}
	}
	m := &Metrics{
		requests:      newFamily(requests.WithLabelValues, directionValues, operationValues, codeValues),
		requestTime:   newFamily(requestTime.WithLabelValues, directionValues, operationValues),
		decisions:     newFamily(decisions.WithLabelValues, directionValues, decisionValues),
		authTime:      newFamily(authTime.WithLabelValues, directionValues),
		errors:        newFamily(errs.WithLabelValues, kindValues),
		handshakes:    newFamily(handshakes.WithLabelValues, reasonValues),
		reloads:       newFamily(reloads.WithLabelValues, resultValues),
		rateLimited:   newFamily(rateLimited.WithLabelValues, directionValues),
		connections:   connections,
		breakers:      breakers,
		svidExpiry:    svidExpiry,
		svidRotations: svidRotations,
		denials:       newDenials(denied),
		auditSync:     auditSync,
		revisions:     &revisionInfo{vec: revisions},
		ready:         ready,
	}
	// Export the small families at zero, so rate() and absence alerts work
	// before the first event. "other" appears once something unknown is
	// counted.
	for d := range 2 {
		for v := range decisionValues {
			m.decisions.at(d*len(decisionValues) + v)
		}
		m.authTime.at(d)
		m.rateLimited.at(d)
	}
	for i := range len(kindValues) - 1 {
		m.errors.at(i)
	}
	for i := range len(reasonValues) - 1 {
		m.handshakes.at(i)
	}
	for i := range resultValues {
		m.reloads.at(i)
	}
	if g, ok := reg.(prometheus.Gatherer); ok {
		m.gatherer = g
	} else {
		r := prometheus.NewRegistry()
		for _, c := range cs {
			if err := r.Register(c); err != nil {
				return nil, fmt.Errorf("observe: register metrics: %w", err)
			}
		}
		m.gatherer = r
	}
	return m, nil
}

// ObserveRequest counts one A2A request and records its latency. direction
// is [Inbound] or [Outbound], operation the A2A method (SendMessage,
// GetTask, …; GetAgentCard for the card fetch) and code one of the Code
// constants.
func (m *Metrics) ObserveRequest(direction, operation, code string, d time.Duration) {
	if m == nil {
		return
	}
	di, oi := directionIndex(direction), index(operationValues, operation)
	m.requests.at((di*len(operationValues)+oi)*len(codeValues) + index(codeValues, code)).Inc()
	m.requestTime.at(di*len(operationValues) + oi).Observe(d.Seconds())
}

// ObserveDecision counts one authorization decision and records how long
// the check took.
func (m *Metrics) ObserveDecision(direction string, allowed bool, d time.Duration) {
	if m == nil {
		return
	}
	di := directionIndex(direction)
	v := 1
	if allowed {
		v = 0
	}
	m.decisions.at(di*len(decisionValues) + v).Inc()
	m.authTime.at(di).Observe(d.Seconds())
}

// Error counts one error of the given kind, one of the Kind constants.
func (m *Metrics) Error(kind string) {
	if m == nil {
		return
	}
	m.errors.at(index(kindValues, kind)).Inc()
}

// ConnOpened counts an inbound connection as open.
func (m *Metrics) ConnOpened() {
	if m == nil {
		return
	}
	m.connections.Inc()
}

// ConnClosed counts an inbound connection as closed.
func (m *Metrics) ConnClosed() {
	if m == nil {
		return
	}
	m.connections.Dec()
}

// BreakerState records the state of target's circuit breaker:
// [BreakerClosed], [BreakerHalfOpen] or [BreakerOpen]. Other values are
// ignored.
func (m *Metrics) BreakerState(target string, state int) {
	if m == nil || state < BreakerClosed || state > BreakerOpen {
		return
	}
	m.breakers.WithLabelValues(target).Set(float64(state))
}

// SVIDUpdated records the expiry of a newly received X509-SVID, and counts
// a rotation when rotated is true (false for the first SVID).
func (m *Metrics) SVIDUpdated(expiry time.Time, rotated bool) {
	if m == nil {
		return
	}
	m.svidExpiry.Set(float64(expiry.UnixNano()) / 1e9)
	if rotated {
		m.svidRotations.Inc()
	}
}

// HandshakeFailed counts a failed inbound TLS handshake; reason is one of
// the Reason constants.
func (m *Metrics) HandshakeFailed(reason string) {
	if m == nil {
		return
	}
	m.handshakes.at(index(reasonValues, reason)).Inc()
}

// PolicyReload counts a policy reload: ok, or refused (the last good policy
// stays in force).
func (m *Metrics) PolicyReload(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloads.at(0).Inc()
	} else {
		m.reloads.at(1).Inc()
	}
}

// RateLimited counts a request refused by a rate limit.
func (m *Metrics) RateLimited(direction string) {
	if m == nil {
		return
	}
	m.rateLimited.at(directionIndex(direction)).Inc()
}

// Denied counts one denied authorization decision in
// agentweave_denials_total. direction is [Inbound] or [Outbound]; peer is
// the SPIFFE ID of the other side, exported as the caller label: for an
// inbound decision the caller's, for an outbound one the callee's (this
// agent is the caller); action is the capability, or the A2A operation
// when the decision has none (GetTask, GetAgentCard, …); reason is the
// decision's reason.
//
// Values are bounded: each is cut to 256 bytes (a reason to
// [MaxDenialReasonBytes]) with invalid UTF-8 replaced, the first
// [MaxDenialCallers] peers, [MaxDenialActions] actions and
// [MaxDenialReasons] reasons a Metrics sees are exported as they are and
// any later one as "other", and past [MaxDenialSeries] series a new
// combination is counted as caller, action and reason "other". Series
// appear with the first denial that has their labels.
//
// Denied takes a lock: it is meant for denials, which are rare or cheap to
// slow down; allowed decisions only pay [Metrics.ObserveDecision].
func (m *Metrics) Denied(direction, peer, action, reason string) {
	if m == nil {
		return
	}
	m.denials.counter(direction, peer, action, reason).Inc()
}

// AuditSync records one fsync of the audit file in
// agentweave_audit_sync_duration_seconds, failed or not, and counts a
// failed one as an error of kind [KindAudit]. It has the signature of
// audit.FileOptions.OnSync, to be passed as it is.
func (m *Metrics) AuditSync(d time.Duration, err error) {
	if m == nil {
		return
	}
	m.auditSync.Observe(d.Seconds())
	if err != nil {
		m.Error(KindAudit)
	}
}

// PolicyRevision makes revision the one series of
// agentweave_policy_revision_info (value 1), deleting the previous
// revision's; "" removes it. Invalid UTF-8 is replaced.
func (m *Metrics) PolicyRevision(revision string) {
	if m == nil {
		return
	}
	m.revisions.set(strings.ToValidUTF8(revision, "\uFFFD"))
}

// ExportReadiness makes agentweave_ready report h's readiness: each scrape
// runs [Health.Ready] and exports 1 when it is ready, 0 otherwise. A
// scrape waits at most [ReadyTimeout] for the checks (or the check timeout
// of h, if shorter); a check still running then counts as not ready.
// Until ExportReadiness is called (or after it is called with nil),
// agentweave_ready is not exported.
func (m *Metrics) ExportReadiness(h *Health) {
	if m == nil {
		return
	}
	m.ready.health.Store(h)
}

// Handler serves the metrics in the Prometheus text format. On a nil
// *Metrics it answers 404.
func (m *Metrics) Handler() http.Handler {
	if m == nil {
		return http.NotFoundHandler()
	}
	return promhttp.HandlerFor(m.gatherer, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
}

// denialKey is one series of agentweave_denials_total.
type denialKey struct{ direction, caller, action, reason string }

// denials bounds the labels of agentweave_denials_total; see
// [Metrics.Denied].
type denials struct {
	vec *prometheus.CounterVec

	mu                        sync.Mutex // guards below
	callers, actions, reasons map[string]struct{}
	series                    map[denialKey]prometheus.Counter
}

func newDenials(vec *prometheus.CounterVec) *denials {
	return &denials{
		vec:     vec,
		callers: map[string]struct{}{},
		actions: map[string]struct{}{},
		reasons: map[string]struct{}{},
		series:  map[denialKey]prometheus.Counter{},
	}
}

// counter returns the child counting a denial with these values, bounded.
func (d *denials) counter(direction, caller, action, reason string) prometheus.Counter {
	direction = directionValues[directionIndex(direction)]
	caller = clip(caller, maxDenialValueBytes)
	action = clip(action, maxDenialValueBytes)
	reason = clip(reason, MaxDenialReasonBytes)
	d.mu.Lock()
	defer d.mu.Unlock()
	k := denialKey{
		direction: direction,
		caller:    admit(d.callers, caller, MaxDenialCallers),
		action:    admit(d.actions, action, MaxDenialActions),
		reason:    admit(d.reasons, reason, MaxDenialReasons),
	}
	if c, ok := d.series[k]; ok {
		return c
	}
	if len(d.series) >= MaxDenialSeries {
		k = denialKey{direction: direction, caller: other, action: other, reason: other}
		if c, ok := d.series[k]; ok {
			return c
		}
	}
	c := d.vec.WithLabelValues(k.direction, k.caller, k.action, k.reason)
	d.series[k] = c
	return c
}

// admit returns v if it is in seen or seen has room for it (then adding
// it), "other" otherwise.
func admit(seen map[string]struct{}, v string, limit int) string {
	if _, ok := seen[v]; ok {
		return v
	}
	if len(seen) >= limit {
		return other
	}
	seen[v] = struct{}{}
	return v
}

// clip returns s as valid UTF-8 of at most n bytes, cut at a character
// boundary.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// revisionInfo keeps agentweave_policy_revision_info at one series.
type revisionInfo struct {
	vec *prometheus.GaugeVec

	mu  sync.Mutex // guards cur
	cur string
}

func (r *revisionInfo) set(revision string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if revision == r.cur {
		return
	}
	if r.cur != "" {
		r.vec.DeleteLabelValues(r.cur)
	}
	if revision != "" {
		r.vec.WithLabelValues(revision).Set(1)
	}
	r.cur = revision
}

// readiness exports agentweave_ready from a [Health], at scrape time.
type readiness struct {
	desc   *prometheus.Desc
	health atomic.Pointer[Health]
}

// Describe implements prometheus.Collector.
func (r *readiness) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

// Collect implements prometheus.Collector.
func (r *readiness) Collect(ch chan<- prometheus.Metric) {
	h := r.health.Load()
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), ReadyTimeout)
	defer cancel()
	v := 0.0
	if h.Ready(ctx).Status == StatusReady {
		v = 1
	}
	ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, v)
}
