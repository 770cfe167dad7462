package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/agentweave/agentweave-go/a2a"
)

func newCardCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "card --config FILE",
		Short: "Print the A2A agent card an agent's configuration produces",
		Long: `card loads the configuration (with the same validation as the agent itself)
and prints the agent card it would serve at /.well-known/agent-card.json: one
skill per capability in agent.capabilities, the JSON-RPC and HTTP+JSON
interfaces (A2A 1.0 and 0.3) at every server.public_urls entry, and mutual TLS
declared as the required security scheme.

It needs no Workload API: a configuration that leaves identity.spiffe_endpoint
to $SPIFFE_ENDPOINT_SOCKET gets its card where that variable is unset, with a
note on standard error (the agent reads it at start).`,
		Example: `  agentweave card --config examples/conformance/agent.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, unset, err := loadDescribed(path)
			if err != nil {
				return err
			}
			if unset {
				fmt.Fprintf(cmd.ErrOrStderr(), "agentweave card: note: %s\n", endpointNote)
			}
			caps := make([]a2a.Capability, 0, len(cfg.Agent.Capabilities))
			for _, c := range cfg.Agent.Capabilities {
				caps = append(caps, a2a.Capability{Name: c.Name, Description: c.Description, Tags: c.Tags})
			}
			bindings, err := a2a.ParseBindings(cfg.Server.Bindings)
			if err != nil {
				return fmt.Errorf("card: server.bindings: %w", err)
			}
			card, err := a2a.BuildCard(a2a.CardOptions{
				Name:              cfg.Agent.Name,
				Description:       cfg.Agent.Description,
				Version:           cfg.Agent.Version,
				URLs:              cfg.Server.PublicURLs,
				PushNotifications: cfg.Tasks.Push.Enabled,
				Bindings:          bindings,
			}, caps)
			if err != nil {
				return fmt.Errorf("card: %w", err)
			}
			b, err := a2a.MarshalCard(card)
			if err != nil {
				return fmt.Errorf("card: %w", err)
			}
			var out bytes.Buffer
			if err := json.Indent(&out, b, "", "  "); err != nil {
				return fmt.Errorf("card: %w", err)
			}
			out.WriteByte('\n')
			_, err = cmd.OutOrStdout().Write(out.Bytes())
			return err
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "the agent's configuration file (YAML)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
