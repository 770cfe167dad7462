package agentweave

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/observe"
	"github.com/agentweave/agentweave-go/resilience"
	"github.com/agentweave/agentweave-go/transport"
)

// Result is what a call returned: the task as it ended (or paused for
// input).
type Result struct {
	TaskID    string
	ContextID string
	// State is the task's final state, e.g. a2a.TaskStateCompleted.
	State a2acore.TaskState
	// Message is the text of the task's last status message, if any.
	Message string
	// Artifacts are the task's outputs; a capability's return value is the
	// artifact named "result".
	Artifacts []*a2acore.Artifact
}

// ErrNoResult is returned by [Result.Decode] when the task has no result
// artifact.
var ErrNoResult = errors.New("agentweave: the task has no result artifact")

// Decode decodes the task's result (the data of the artifact named
// "result", else of the first data part of any artifact) into v.
func (r *Result) Decode(v any) error {
	var data any
	found := false
	for _, art := range r.Artifacts {
		for _, p := range art.Parts {
			d, ok := p.Content.(a2acore.Data)
			if !ok {
				continue
			}
			if art.Name == "result" || !found {
				data, found = d.Value, true
			}
			if art.Name == "result" {
				return decodeValue(data, v)
			}
		}
	}
	if !found {
		return ErrNoResult
	}
	return decodeValue(data, v)
}

func decodeValue(data, v any) error {
	b, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("agentweave: result: %w", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("agentweave: result does not fit %T: %w", v, err)
	}
	return nil
}

func resultOf(t *a2acore.Task) *Result {
	r := &Result{TaskID: string(t.ID), ContextID: t.ContextID, State: t.Status.State, Artifacts: t.Artifacts}
	r.Message = messageText(t.Status.Message)
	return r
}

// messageText joins the text parts of m ("" for nil).
func messageText(m *a2acore.Message) string {
	if m == nil {
		return ""
	}
	var texts []string
	for _, p := range m.Parts {
		if s := p.Text(); s != "" {
			texts = append(texts, s)
		}
	}
	return strings.Join(texts, "\n")
}

// Call calls capability on the agent whose SPIFFE ID is target, with
// payload as its JSON input, and waits for the task to end (or to ask for
// input); ctx's deadline bounds it. The call is authorized by policy
// (outbound) before any network I/O, and audited. It goes through the
// target's circuit breaker, and is retried only while nothing of it
// reached the target. A task that failed or was rejected returns its
// Result with a *[TaskError]. A refusal by either side's policy matches
// [ErrDenied] and is a *[DenyError].
func (a *Agent) Call(ctx context.Context, target, capability string, payload any) (*Result, error) {
	id, err := spiffeid.FromString(target)
	if err != nil {
		return nil, fmt.Errorf("agentweave: call target %q: %w", target, err)
	}
	ctx, span := a.tracing.Tracer().Start(ctx, "agentweave.call "+capability, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(attribute.String("agentweave.target", target), attribute.String("agentweave.capability", capability)))
	defer span.End()
	start := time.Now()
	task, err := a.client.Call(ctx, id, capability, payload)
	a.metrics.ObserveRequest(observe.Outbound, "SendMessage", outcome(err), time.Since(start))
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	if task == nil {
		return nil, err
	}
	return resultOf(task), err
}

// Client returns the agent's A2A client, for operations beyond Call and
// Stream (GetTask, CancelTask, ListTasks, SubscribeToTask on a peer). It
// authorizes and audits each one like Call.
func (a *Agent) Client() *client.Client { return a.client }

// guard runs one authorized exchange with target through its breaker,
// retrying only when that is safe.
func (a *Agent) guard(ctx context.Context, target spiffeid.ID, _ string, idempotent bool, exchange func(context.Context) error) error {
	return a.breakers.Do(ctx, target.String(), func(ctx context.Context) error {
		var sent *resilience.Sent
		return resilience.Retry(ctx, a.retry, func(ctx context.Context) error {
			var tctx context.Context
			tctx, sent = resilience.TrackSent(ctx)
			return exchange(tctx)
		}, func(err error) bool {
			// An answer (task not found, denied) or a local failure (no URL
			// for the peer) is final; only the way to the peer is retried.
			return peerFault(err) && resilience.SafeToRetry(sent, idempotent)(err)
		})
	})
}

// peerFault says whether an error counts against the target's circuit
// breaker: the target or the way to it failed, rather than the target
// answering that the request was wrong or not allowed.
func peerFault(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, authz.ErrDenied) {
		return false
	}
	if transport.RefusedByPeer(err) { // the peer works; it does not accept us
		return false
	}
	for _, answer := range []error{
		a2acore.ErrParseError, a2acore.ErrInvalidRequest, a2acore.ErrMethodNotFound, a2acore.ErrInvalidParams,
		a2acore.ErrTaskNotFound, a2acore.ErrTaskNotCancelable, a2acore.ErrPushNotificationNotSupported,
		a2acore.ErrUnsupportedOperation, a2acore.ErrUnsupportedContentType, a2acore.ErrExtendedCardNotConfigured,
		a2acore.ErrExtensionSupportRequired, a2acore.ErrVersionNotSupported, a2acore.ErrUnauthenticated,
		a2acore.ErrUnauthorized, client.ErrUnknownPeer,
	} {
		if errors.Is(err, answer) {
			return false
		}
	}
	return true
}

// outcome is the code label of a request's metric.
func outcome(err error) string {
	var te *client.TaskError
	switch {
	case err == nil, errors.As(err, &te):
		return observe.CodeOK
	case errors.Is(err, authz.ErrDenied), errors.Is(err, a2acore.ErrUnauthorized), errors.Is(err, a2acore.ErrUnauthenticated):
		return observe.CodeDenied
	case errors.Is(err, resilience.ErrRateLimited):
		return observe.CodeRateLimited
	case errors.Is(err, context.DeadlineExceeded):
		return observe.CodeTimeout
	case errors.Is(err, context.Canceled):
		return observe.CodeCanceled
	case errors.Is(err, resilience.ErrOpen):
		return observe.CodeUnavailable
	case errors.Is(err, a2acore.ErrTaskNotFound):
		return observe.CodeNotFound
	case errors.Is(err, a2acore.ErrInvalidParams), errors.Is(err, a2acore.ErrInvalidRequest), errors.Is(err, a2acore.ErrParseError):
		return observe.CodeInvalid
	case errors.Is(err, a2acore.ErrUnsupportedOperation), errors.Is(err, a2acore.ErrVersionNotSupported),
		errors.Is(err, a2acore.ErrMethodNotFound), errors.Is(err, a2acore.ErrPushNotificationNotSupported):
		return observe.CodeUnsupported
	}
	return observe.CodeError
}

// WithMetadata returns ctx carrying request metadata for the calls made
// with it ([Agent.Call], [Agent.Stream]): it travels as the A2A request's
// metadata, and the policies of both agents see it as input.context (at
// most authz.MaxContextBytes of JSON; more is refused). It says what the
// request is for (a tenant, a purpose), never who asks: identity comes
// only from the SVID.
func WithMetadata(ctx context.Context, md map[string]any) context.Context {
	return client.WithMetadata(ctx, md)
}
