package main

import (
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/agentweave/agentweave-go/internal/demo"
)

func newDemoCmd() *cobra.Command {
	var opts demo.Options
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch three agents call each other over mTLS with A2A, under OPA policy, and refuse impostors",
		Long: `demo runs a complete, self-contained AgentWeave scenario on loopback and
prints what happens. It needs no outside services.

It starts the embedded development trust domain (a CA plus a real SPIFFE
Workload API socket per workload) and three agents built with the SDK from
their configuration, in environment production: orchestrator, search and
summarizer, plus reporter, an agent that only calls. Each gets its SVID
through the Workload API exactly as from SPIRE, decides every call with an
embedded OPA policy (who may call whom, with reasons) and writes every
decision to a hash-chained audit file. Then:
  - orchestrator calls search's "search" capability by SPIFFE ID, and search
    names the caller it verified from the client certificate;
  - orchestrator streams a summary from summarizer: progress updates and
    artifact chunks print as they arrive;
  - reporter calls search and is denied by its own policy before any network
    I/O, then, skipping its own check, by search's policy, with the reason;
    and it cannot read orchestrator's task;
  - a certificate from a forged CA, an SVID that search does not admit and a
    client without a certificate are refused at the TLS handshake, and
    orchestrator refuses a server posing as search;
  - every agent's audit trail is verified and its decisions printed.

It exits 0 when every expectation held and 1 otherwise. With --keep-running
the agents stay up afterwards and the demo prints the agentweave call and
health commands that reach them from another terminal; Ctrl-C stops them
gracefully. The agents' own logs are discarded unless --log-level is given.`,
		Example: `  go run ./cmd/agentweave demo
  agentweave demo --keep-running
  agentweave demo --trust-domain acme.test --ttl 30s --log-level info`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("log-level") {
				opts.Logger = slog.Default() // the root command's, at the level asked for
			}
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.TrustDomain, "trust-domain", "example.org", "trust domain of the development CA")
	f.DurationVar(&opts.TTL, "ttl", time.Minute, "lifetime of the agents' SVIDs (rotated at half-life)")
	f.BoolVar(&opts.KeepRunning, "keep-running", false, "leave the agents running after the scenario, until Ctrl-C")
	return cmd
}
