package agentweavetest_test

import (
	"context"
	"errors"
	"fmt"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
)

// A network outside a test, with its own policy and a configuration edited
// in Go: only the orchestrator may call search, and search is rate limited.
// Every decision, allowed or denied, is in the agents' hash-chained audit
// trails.
func ExampleOpen() {
	net, err := agentweavetest.Open(agentweavetest.Options{
		Policy: `package agentweave.authz

default allow := false

allow if input.caller_spiffe_id == "spiffe://example.org/agent/orchestrator/production"
`,
		Config: func(name string, cfg *agentweave.Config) {
			if name == "search" {
				cfg.Server.RateLimit.RequestsPerSecond = 100
			}
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer net.Close()

	search := agentweave.Capability{
		Name: "search", Description: "finds documents",
		Handler: func(context.Context, *agentweave.Request) (any, error) { return []string{"a hit"}, nil },
	}
	if _, err := net.Start("search", search); err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	for _, name := range []string{"orchestrator", "intruder"} {
		caller, err := net.Start(name)
		if err != nil {
			fmt.Println(err)
			return
		}
		_, err = caller.Call(ctx, net.ID("search"), "search", nil)
		fmt.Printf("%s: denied %t\n", name, errors.Is(err, authz.ErrDenied))
	}

	for _, name := range []string{"search", "orchestrator", "intruder"} {
		rep, err := audit.VerifyFiles(net.AuditFile(name))
		fmt.Printf("%s's audit trail intact: %t\n", name, err == nil && rep.Records > 0)
	}
	// Output:
	// orchestrator: denied false
	// intruder: denied true
	// search's audit trail intact: true
	// orchestrator's audit trail intact: true
	// intruder's audit trail intact: true
}
