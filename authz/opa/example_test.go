package opa_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/opa"
)

func ExampleNewEmbedded() {
	dir, err := os.MkdirTemp("", "policy-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	policy := `package agentweave.authz

default decision := {"allow": false, "reason": "only the orchestrator may search"}

decision := {"allow": true, "reason": "orchestrator search"} if {
	input.caller_spiffe_id == "spiffe://example.org/agent/orchestrator/prod"
	input.action == "search"
}
`
	if err := os.WriteFile(filepath.Join(dir, "authz.rego"), []byte(policy), 0o600); err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	a, err := opa.NewEmbedded(ctx, opa.EmbeddedOptions{Paths: []string{dir}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	for _, caller := range []string{"orchestrator", "intruder"} {
		d, err := a.Authorize(ctx, &authz.Input{
			Direction:      authz.Inbound,
			CallerSPIFFEID: "spiffe://example.org/agent/" + caller + "/prod",
			CalleeSPIFFEID: "spiffe://example.org/agent/search/prod",
			Action:         "search",
			Operation:      "SendMessage",
		})
		fmt.Println(caller, d.Allow, d.Reason, err)
	}
	// Output:
	// orchestrator true orchestrator search <nil>
	// intruder false only the orchestrator may search <nil>
}
