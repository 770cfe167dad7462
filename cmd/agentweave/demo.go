package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/agentweave/agentweave-go/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch agents authenticate each other over mTLS, call each other with A2A, and refuse impostors",
		Long: `demo runs a complete, self-contained AgentWeave scenario on loopback and
prints what happens. It needs no outside services.

It starts the embedded development trust domain (a CA plus a real SPIFFE
Workload API), gives agents their identities through it exactly as SPIRE
would, and shows:
  - orchestrator calling search's "search" capability by SPIFFE ID over A2A,
    each side verifying the other's identity with mutual TLS;
  - reporter, another admitted caller, unable to read orchestrator's task,
    and denied the search capability by the agent's OPA policy;
  - a forged certificate, an unauthorized identity and a client without a
    certificate refused at the handshake;
  - orchestrator refusing a server that is not the agent it asked for;
  - the hash-chained audit trail of every decision, verified.

It exits 0 when every expectation held and 1 otherwise.`,
		Example: `  go run ./cmd/agentweave demo
  agentweave demo --trust-domain acme.test --ttl 30s`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.TrustDomain, "trust-domain", "example.org", "trust domain of the development CA")
	cmd.Flags().DurationVar(&opts.TTL, "ttl", time.Minute, "lifetime of the agents' SVIDs")
	return cmd
}
