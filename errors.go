package agentweave

import (
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
)

// ErrDenied is matched (errors.Is) by every refusal of a call or request
// by policy, whichever side decided: this agent's own policy (outbound,
// before any I/O; inbound, before the handler runs) or the peer's. The
// error is a *[DenyError] (errors.As) with the reason, the deciding side
// and the audit ID of the decision.
var ErrDenied = authz.ErrDenied

// DenyError is a refusal by policy: [authz.DenyError]. Peer says whether
// the other agent's policy decided (its Decision.AuditID is then a record
// in the peer's trail) or ours did.
type DenyError = authz.DenyError

// TaskError is returned with the [Result] of a call whose task failed or
// was rejected: [client.TaskError].
type TaskError = client.TaskError
