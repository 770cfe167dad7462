package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Auditor records one decision and returns its audit ID. The audit package's
// Logger is the production Auditor.
type Auditor interface {
	Audit(ctx context.Context, in *Input, d Decision, latency time.Duration) (auditID string, err error)
}

// Enforcer is an enforcement point's view of authorization: it asks the
// Authorizer, records the decision, and fails closed. It is safe for
// concurrent use.
type Enforcer struct {
	// Authorizer decides (required).
	Authorizer Authorizer
	// Auditor records every decision (nil: decisions are not recorded,
	// which configuration allows only outside production).
	Auditor Auditor
	// RequireAudit denies a call whose audit record cannot be written (set
	// in production).
	RequireAudit bool
	// LogOnly lets denied calls proceed; the audit record still says
	// denied, with the reason prefixed "log-only:". Never in production.
	LogOnly bool
	// Timeout bounds one decision (default 1s); running out denies.
	Timeout time.Duration
	// Logger receives audit write failures. Default slog.Default().
	Logger *slog.Logger
}

// Check decides in. It returns the decision, and a *DenyError (wrapping
// ErrDenied) when the call must not proceed: the policy said no, the
// decision failed or timed out, or its audit record could not be written
// while RequireAudit is set. In LogOnly mode a denial returns no error.
func (e *Enforcer) Check(ctx context.Context, in *Input) (Decision, error) {
	if in.Time.IsZero() {
		in.Time = time.Now().UTC()
	}
	timeout := e.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	d, err := e.decide(dctx, in)
	cancel()
	latency := time.Since(start)
	if err != nil {
		d = Decision{Allow: false, Reason: failureReason(err), PolicyRevision: d.PolicyRevision}
	}
	if !d.Allow && d.Reason == "" {
		d.Reason = "denied by policy"
	}
	if e.LogOnly && !d.Allow {
		d.Reason = "log-only: " + d.Reason
	}
	var auditErr error
	if e.Auditor != nil {
		d.AuditID, auditErr = e.Auditor.Audit(ctx, in, d, latency)
		if auditErr != nil {
			log := e.Logger
			if log == nil {
				log = slog.Default()
			}
			log.Error("authz: audit record not written", "operation", in.Operation, "caller", in.CallerSPIFFEID, "error", auditErr)
		}
	}
	switch {
	case auditErr != nil && e.RequireAudit:
		d.Allow = false
		d.Reason = "audit record could not be written: " + auditErr.Error()
		return d, &DenyError{Input: in, Decision: d, Err: auditErr}
	case d.Allow, e.LogOnly:
		return d, nil
	}
	return d, &DenyError{Input: in, Decision: d, Err: err}
}

func (e *Enforcer) decide(ctx context.Context, in *Input) (d Decision, err error) {
	if e.Authorizer == nil {
		return Decision{}, errors.New("no authorizer configured")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("authorizer panicked: %v", r)
		}
	}()
	return e.Authorizer.Authorize(ctx, in)
}

func failureReason(err error) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return "policy decision timed out: " + err.Error()
	}
	return "policy decision failed: " + err.Error()
}
