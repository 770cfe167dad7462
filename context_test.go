package agentweave_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/authz"
)

// input.context is the request's metadata, on both sides of a real call:
// a policy keyed on it allows the tenant it names and nothing else, and
// metadata too large for policy is refused before it is decided.
func TestPolicyReadsRequestContext(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Policy: `package agentweave.authz

default decision := {"allow": false, "reason": "tenant missing or not acme"}

# card fetches and task reads carry no metadata
decision := {"allow": true} if input.operation in {"GetAgentCard", "GetTask"}

decision := {"allow": true, "reason": sprintf("%s for tenant acme", [input.direction])} if {
	input.operation == "SendMessage"
	input.context.tenant == "acme"
}
`})
	searchAgent := net.Agent("search", search)
	orch := net.Agent("orchestrator")

	ctx := agentweave.WithMetadata(t.Context(), map[string]any{"tenant": "acme"})
	if _, err := orch.Call(ctx, net.ID("search"), "search", query{Text: "x", Limit: 1}); err != nil {
		t.Fatalf("Call with tenant acme = %v, want allowed", err)
	}
	// Both policies matched on the context: their reasons say so.
	for name, direction := range map[string]string{"orchestrator": "outbound", "search": "inbound"} {
		b, err := readFile(net.AuditFile(name))
		if err != nil || !strings.Contains(string(b), `"reason":"`+direction+` for tenant acme"`) {
			t.Errorf("%s's audit trail lacks the %s decision on the context (%v):\n%s", name, direction, err, b)
		}
	}

	for what, md := range map[string]map[string]any{
		"no metadata":  nil,
		"other tenant": {"tenant": "globex"},
	} {
		_, err := orch.Call(agentweave.WithMetadata(t.Context(), md), net.ID("search"), "search", query{Text: "x", Limit: 1})
		var de *agentweave.DenyError
		if !errors.As(err, &de) || de.Peer || de.Decision.Reason != "tenant missing or not acme" {
			t.Errorf("%s: Call = %v, want our own policy's denial", what, err)
		}
	}

	// The callee decides on what it receives: a caller that skips its own
	// check (allow-all) still meets the callee's policy on its metadata.
	id := spiffeid.RequireFromString(net.ID("rogue"))
	rogue, err := client.New(net.CA().Source(net.CA().CreateX509SVID(id)), client.Options{
		Resolver: client.StaticResolver{spiffeid.RequireFromString(net.ID("search")): searchAgent.URL()},
		Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rogue.Close() })
	for tenant, allowed := range map[string]bool{"acme": true, "globex": false} {
		_, err := rogue.Call(client.WithMetadata(t.Context(), map[string]any{"tenant": tenant}), spiffeid.RequireFromString(net.ID("search")), "search", query{Text: "x", Limit: 1})
		var de *agentweave.DenyError
		if refusedByPeer := errors.As(err, &de) && de.Peer; allowed && err != nil || !allowed && !refusedByPeer {
			t.Errorf("tenant %s, caller's check skipped: Call = %v, want allowed %v by the callee", tenant, err, allowed)
		}
	}

	big := map[string]any{"tenant": "acme", "pad": strings.Repeat("x", 5000)}
	_, err = orch.Call(agentweave.WithMetadata(t.Context(), big), net.ID("search"), "search", query{Text: "x", Limit: 1})
	if err == nil || !strings.Contains(err.Error(), "over the 4096 policy may see") {
		t.Errorf("Call with 5 kB of metadata = %v, want refused before the decision", err)
	}
}
