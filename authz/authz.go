package authz

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Direction says which side of a call the decision is for.
type Direction string

// Directions.
const (
	Inbound  Direction = "inbound"  // a call this agent receives
	Outbound Direction = "outbound" // a call this agent makes
)

// Input is the document policies decide on (the contract security teams
// write Rego against; see docs/policy.md). Its JSON names are the policy's.
type Input struct {
	Direction         Direction      `json:"direction"`
	CallerSPIFFEID    string         `json:"caller_spiffe_id"`
	CalleeSPIFFEID    string         `json:"callee_spiffe_id"`
	CallerTrustDomain string         `json:"caller_trust_domain"`
	CalleeTrustDomain string         `json:"callee_trust_domain"`
	Action            string         `json:"action"`    // the capability, "" for operations on existing tasks
	Operation         string         `json:"operation"` // the A2A method, e.g. SendMessage, GetTask
	TaskID            string         `json:"task_id,omitempty"`
	Context           map[string]any `json:"context,omitempty"` // request metadata
	Time              time.Time      `json:"time"`
}

// Decision is a policy's answer.
type Decision struct {
	Allow          bool
	Reason         string // why; always set on a denial
	AuditID        string // the audit record of this decision
	PolicyRevision string // which policy decided
}

// Authorizer decides. Implementations are safe for concurrent use. An error
// means no decision could be made: callers must deny.
type Authorizer interface {
	Authorize(ctx context.Context, in *Input) (Decision, error)
}

// AuthorizerFunc adapts a function to [Authorizer].
type AuthorizerFunc func(ctx context.Context, in *Input) (Decision, error)

// Authorize implements [Authorizer].
func (f AuthorizerFunc) Authorize(ctx context.Context, in *Input) (Decision, error) {
	return f(ctx, in)
}

// AllowAll allows everything. Configuration refuses it outside the
// development environment, and so does agentweave.New.
func AllowAll() Authorizer { return allowAll{} }

type allowAll struct{}

func (allowAll) Authorize(context.Context, *Input) (Decision, error) {
	return Decision{Allow: true, Reason: "allow-all (development)", PolicyRevision: "allow-all"}, nil
}

// IsAllowAll reports whether a is [AllowAll].
func IsAllowAll(a Authorizer) bool {
	_, ok := a.(allowAll)
	return ok
}

// ErrDenied is wrapped by every refusal.
var ErrDenied = errors.New("authz: permission denied")

// DenyError is a refusal: a policy said no, or no decision could be made.
// It is the one shape of a refusal, whichever side decided: our own policy
// (inbound, or outbound before any I/O), or the peer's (Peer set; the
// reason, audit ID and policy revision are the peer's, from its answer).
type DenyError struct {
	Input    *Input
	Decision Decision
	// Peer is set when the other agent's policy refused the call: the
	// audit record is in its trail, not ours.
	Peer bool
	Err  error // the failure that forced the denial, or the peer's answer
}

func (e *DenyError) Error() string {
	what := e.Input.Operation
	if e.Input.Action != "" {
		what += " " + e.Input.Action
	}
	by := ""
	if e.Peer {
		by = " by the callee's policy"
	}
	msg := fmt.Sprintf("authz: %s of %s by %s denied%s: %s", what, e.Input.CalleeSPIFFEID, e.Input.CallerSPIFFEID, by, e.Decision.Reason)
	if e.Decision.AuditID != "" {
		msg += " (audit " + e.Decision.AuditID + ")"
	}
	return msg
}

// Unwrap returns ErrDenied and the underlying failure.
func (e *DenyError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrDenied, e.Err}
	}
	return []error{ErrDenied}
}
