package authz_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/opa"
)

// An enforcement point deciding with a Rego policy evaluated in process:
// the Enforcer asks the policy, and refuses with a *DenyError (which
// matches ErrDenied) when it says no, the decision fails or it times out.
func ExampleEnforcer() {
	dir, err := os.MkdirTemp("", "policy-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	policy := `package agentweave.authz

default decision := {"allow": false, "reason": "only the orchestrator may search"}

decision := {"allow": true, "reason": "the orchestrator searches"} if {
	input.caller_spiffe_id == "spiffe://example.org/agent/orchestrator/production"
	input.action == "search"
}
`
	if err := os.WriteFile(filepath.Join(dir, "search.rego"), []byte(policy), 0o600); err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	rego, err := opa.NewEmbedded(ctx, opa.EmbeddedOptions{Paths: []string{dir}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rego.Close()
	// In an agent, Auditor is the hash-chained audit trail and RequireAudit
	// is set outside development.
	enforcer := &authz.Enforcer{Authorizer: rego}

	for _, caller := range []string{"orchestrator", "intruder"} {
		d, err := enforcer.Check(ctx, &authz.Input{
			Direction:         authz.Inbound,
			CallerSPIFFEID:    "spiffe://example.org/agent/" + caller + "/production",
			CalleeSPIFFEID:    "spiffe://example.org/agent/search/production",
			CallerTrustDomain: "example.org",
			CalleeTrustDomain: "example.org",
			Action:            "search",
			Operation:         "SendMessage",
		})
		fmt.Printf("%s: allow %t (%s), denied %t\n", caller, d.Allow, d.Reason, errors.Is(err, authz.ErrDenied))
		if err != nil {
			fmt.Println(err)
		}
	}
	// Output:
	// orchestrator: allow true (the orchestrator searches), denied false
	// intruder: allow false (only the orchestrator may search), denied true
	// authz: SendMessage search of spiffe://example.org/agent/search/production by spiffe://example.org/agent/intruder/production denied: only the orchestrator may search
}
