package a2a

import (
	"errors"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/authz"
)

// Keys of the structured details of an inbound denial (the JSON-RPC
// error's data, the HTTP+JSON error's details).
const (
	detailReason   = "agentweave.reason"
	detailAuditID  = "agentweave.audit_id"
	detailRevision = "agentweave.policy_revision"
)

// denial is the A2A error an inbound denial answers: permission denied
// with the reason in the message and, as structured details, the reason,
// the audit ID of the decision and the policy revision, so that the caller
// need not parse the text ([DenialOf]).
func denial(err error, d authz.Decision) error {
	details := map[string]any{detailReason: d.Reason}
	if d.AuditID != "" {
		details[detailAuditID] = d.AuditID
	}
	if d.PolicyRevision != "" {
		details[detailRevision] = d.PolicyRevision
	}
	return a2acore.NewError(a2acore.ErrUnauthorized, err.Error()).WithDetails(details)
}

// Denial is what an AgentWeave agent said when its policy refused a call.
type Denial struct {
	Reason         string
	AuditID        string // the callee's audit record of the decision
	PolicyRevision string
}

// DenialOf reports whether err is an AgentWeave agent's policy refusal of
// a call (inbound, at the callee), and what it said. A refusal by the
// caller's own policy is an *authz.DenyError instead.
func DenialOf(err error) (Denial, bool) {
	var ae *a2acore.Error
	if !errors.Is(err, a2acore.ErrUnauthorized) || !errors.As(err, &ae) {
		return Denial{}, false
	}
	reason, ok := ae.Details[detailReason].(string)
	if !ok {
		return Denial{}, false
	}
	d := Denial{Reason: reason}
	d.AuditID, _ = ae.Details[detailAuditID].(string)
	d.PolicyRevision, _ = ae.Details[detailRevision].(string)
	return d, true
}
