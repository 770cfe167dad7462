package authz_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/authz"
)

// memAuditor keeps decisions in memory; fail makes it refuse to write.
type memAuditor struct {
	mu      sync.Mutex
	records []authz.Decision
	fail    error
}

func (a *memAuditor) Audit(_ context.Context, _ *authz.Input, d authz.Decision, _ time.Duration) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return "", a.fail
	}
	a.records = append(a.records, d)
	return "audit-" + string(rune('0'+len(a.records))), nil
}

func input() *authz.Input {
	return &authz.Input{Direction: authz.Inbound, CallerSPIFFEID: "spiffe://example.org/agent/a", CalleeSPIFFEID: "spiffe://example.org/agent/b", Action: "search", Operation: "SendMessage"}
}

func policy(allow bool, reason string) authz.Authorizer {
	return authz.AuthorizerFunc(func(context.Context, *authz.Input) (authz.Decision, error) {
		return authz.Decision{Allow: allow, Reason: reason, PolicyRevision: "r1"}, nil
	})
}

func TestEnforcerFailsClosed(t *testing.T) {
	t.Parallel()
	slow := authz.AuthorizerFunc(func(ctx context.Context, _ *authz.Input) (authz.Decision, error) {
		<-ctx.Done()
		return authz.Decision{Allow: true}, ctx.Err()
	})
	broken := authz.AuthorizerFunc(func(context.Context, *authz.Input) (authz.Decision, error) {
		return authz.Decision{Allow: true}, errors.New("OPA unreachable")
	})
	panicky := authz.AuthorizerFunc(func(context.Context, *authz.Input) (authz.Decision, error) { panic("boom") })
	tests := []struct {
		name       string
		e          authz.Enforcer
		wantAllow  bool
		wantReason string
	}{
		{"allowed", authz.Enforcer{Authorizer: policy(true, "")}, true, ""},
		{"denied", authz.Enforcer{Authorizer: policy(false, "orchestrators only")}, false, "orchestrators only"},
		{"denied without reason", authz.Enforcer{Authorizer: policy(false, "")}, false, "denied by policy"},
		{"error allows nothing", authz.Enforcer{Authorizer: broken}, false, "policy decision failed: OPA unreachable"},
		{"timeout", authz.Enforcer{Authorizer: slow, Timeout: 20 * time.Millisecond}, false, "policy decision timed out"},
		{"panic", authz.Enforcer{Authorizer: panicky}, false, "authorizer panicked"},
		{"no authorizer", authz.Enforcer{}, false, "no authorizer configured"},
		{"audit failure in production", authz.Enforcer{Authorizer: policy(true, ""), Auditor: &memAuditor{fail: errors.New("disk full")}, RequireAudit: true}, false, "audit record could not be written: disk full"},
		{"audit failure elsewhere", authz.Enforcer{Authorizer: policy(true, ""), Auditor: &memAuditor{fail: errors.New("disk full")}}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := tt.e.Check(t.Context(), input())
			if d.Allow != tt.wantAllow || (err == nil) != tt.wantAllow {
				t.Fatalf("Check() = %+v, %v; want allow %v", d, err, tt.wantAllow)
			}
			if !tt.wantAllow && (!errors.Is(err, authz.ErrDenied) || !strings.Contains(d.Reason, tt.wantReason) || !strings.Contains(err.Error(), tt.wantReason)) {
				t.Errorf("denial = %+v, %v; want ErrDenied with reason containing %q", d, err, tt.wantReason)
			}
		})
	}
}

func TestEnforcerAuditsEveryDecision(t *testing.T) {
	t.Parallel()
	a := &memAuditor{}
	allow := authz.Enforcer{Authorizer: policy(true, ""), Auditor: a}
	deny := authz.Enforcer{Authorizer: policy(false, "no"), Auditor: a}
	d1, _ := allow.Check(t.Context(), input())
	d2, err := deny.Check(t.Context(), input())
	if len(a.records) != 2 || d1.AuditID == "" || d2.AuditID == "" || d1.AuditID == d2.AuditID {
		t.Fatalf("records = %+v, ids %q %q; want both decisions recorded with distinct IDs", a.records, d1.AuditID, d2.AuditID)
	}
	var de *authz.DenyError
	if !errors.As(err, &de) || !strings.Contains(err.Error(), d2.AuditID) {
		t.Errorf("denial error = %v, want a DenyError naming audit %s", err, d2.AuditID)
	}
}

func TestEnforcerLogOnly(t *testing.T) {
	t.Parallel()
	a := &memAuditor{}
	e := authz.Enforcer{Authorizer: policy(false, "not allowed"), Auditor: a, LogOnly: true}
	d, err := e.Check(t.Context(), input())
	if err != nil || d.Allow {
		t.Fatalf("log-only Check() = %+v, %v; want the call to proceed, recorded as denied", d, err)
	}
	if len(a.records) != 1 || a.records[0].Allow || !strings.HasPrefix(a.records[0].Reason, "log-only: not allowed") {
		t.Errorf("audit = %+v, want a denial marked log-only", a.records)
	}
}
