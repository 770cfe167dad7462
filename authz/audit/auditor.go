package audit

import (
	"context"
	"time"

	"github.com/agentweave/agentweave-go/authz"
)

var _ authz.Auditor = (*Logger)(nil)

// Audit implements authz.Auditor: it records the decision and returns its
// audit ID, so an authz.Enforcer can use the Logger directly.
func (l *Logger) Audit(ctx context.Context, in *authz.Input, d authz.Decision, latency time.Duration) (string, error) {
	r, err := l.Record(ctx, in, d, latency)
	return r.AuditID, err
}
