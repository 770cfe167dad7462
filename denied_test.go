package agentweave_test

import (
	"errors"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/authz"
)

// A refusal has one shape whichever side decided: errors.Is
// agentweave.ErrDenied, errors.As *agentweave.DenyError with the reason,
// the deciding side and that side's audit ID.
func TestDeniedEitherSide(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Policy: `package agentweave.authz

default decision := {"allow": false, "reason": "not in this trust domain"}

decision := {"allow": false, "reason": "outbound: reporters may not search"} if {
	input.direction == "outbound"
	startswith(input.caller_spiffe_id, "spiffe://example.org/agent/reporter/")
} else := {"allow": false, "reason": "inbound: auditors may not search"} if {
	input.direction == "inbound"
	input.operation in {"SendMessage", "SendStreamingMessage"}
	startswith(input.caller_spiffe_id, "spiffe://example.org/agent/auditor/")
} else := {"allow": true} if input.caller_trust_domain == input.callee_trust_domain
`})
	net.Agent("search", search)

	for _, tc := range []struct {
		caller, reason string
		peer           bool
	}{
		{"reporter", "outbound: reporters may not search", false},
		{"auditor", "inbound: auditors may not search", true},
	} {
		caller := net.Agent(tc.caller)
		_, err := caller.Call(t.Context(), net.ID("search"), "search", query{Text: "x", Limit: 1})
		var de *agentweave.DenyError
		if !errors.Is(err, agentweave.ErrDenied) || !errors.As(err, &de) {
			t.Fatalf("%s: Call = %v, want ErrDenied and a *DenyError", tc.caller, err)
		}
		if de.Peer != tc.peer || de.Decision.Reason != tc.reason || de.Decision.AuditID == "" ||
			de.Input.Direction != authz.Outbound || de.Input.Action != "search" || de.Input.CalleeSPIFFEID != net.ID("search") {
			t.Errorf("%s: DenyError = %+v (input %+v), want Peer %v, reason %q, an audit ID, our outbound input", tc.caller, de, de.Input, tc.peer, tc.reason)
		}
		// The audit ID names a record in the deciding side's trail.
		trail := net.AuditFile(tc.caller)
		if tc.peer {
			trail = net.AuditFile("search")
		}
		if b, err := readFile(trail); err != nil || !strings.Contains(string(b), `"audit_id":"`+de.Decision.AuditID+`"`) {
			t.Errorf("%s: audit ID %s is not in %s (%v)", tc.caller, de.Decision.AuditID, trail, err)
		}
		// The same holds for a stream.
		for _, err := range caller.Stream(t.Context(), net.ID("search"), "search", query{Text: "x", Limit: 1}) {
			if !errors.As(err, &de) || de.Peer != tc.peer || de.Decision.Reason != tc.reason {
				t.Errorf("%s: Stream error = %v, want the same denial", tc.caller, err)
			}
			break
		}
		// And for the peer operations of the agent's client.
		if tc.peer {
			p, err := caller.Client().Peer(t.Context(), spiffeid.RequireFromString(net.ID("search")))
			if err != nil {
				t.Fatal(err)
			}
			msg := a2acore.NewMessage(a2acore.MessageRoleUser, a2acore.NewDataPart(map[string]any{"text": "x"}))
			msg.SetMeta(a2a.ExtensionURI, "search")
			_, err = p.SendMessage(t.Context(), &a2acore.SendMessageRequest{Message: msg})
			if !errors.As(err, &de) || !de.Peer || !errors.Is(err, a2acore.ErrUnauthorized) {
				t.Errorf("Peer.SendMessage = %v, want the peer's denial, still an A2A Unauthorized error", err)
			}
		}
	}
}
