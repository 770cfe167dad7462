package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	agentweave "github.com/agentweave/agentweave-go"
)

// builtins are the capabilities `agentweave serve` can run without code.
var builtins = map[string]agentweave.Capability{
	"echo": {
		Name: "echo", Description: "Answers with its input",
		Handler: func(_ context.Context, req *agentweave.Request) (any, error) {
			if v, ok := req.Data(); ok {
				return v, nil
			}
			return map[string]any{"text": req.Text()}, nil
		},
	},
	"time": {
		Name: "time", Description: "Answers with the agent's clock (RFC 3339, UTC)",
		Handler: func(context.Context, *agentweave.Request) (any, error) {
			return map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano)}, nil
		},
	},
}

func builtinNames() []string {
	names := make([]string, 0, len(builtins))
	for n := range builtins {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func newServeCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve --config FILE",
		Short: "Run an agent from its configuration, with built-in capabilities",
		Long: `serve runs an AgentWeave agent as its configuration describes: it waits for
its SVID from the Workload API (identity.spiffe_endpoint, or else
$SPIFFE_ENDPOINT_SOCKET; with neither, serve refuses to start), loads its policy
(authorization.policy_dir or opa_endpoint), and serves A2A over mutual TLS on
server.host:server.port, with /metrics, /healthz and /readyz on the admin
listener (observability.metrics). Every call is authorized and audited.

The capabilities listed in agent.capabilities must be built in (` + strings.Join(builtinNames(), ", ") + `);
with none listed, the agent serves echo. Agents with capabilities of their own
are Go programs built with the SDK (see examples/quickstart).

serve stops on SIGINT or SIGTERM, finishing in-flight tasks within
server.shutdown_timeout.`,
		Example: `  # the conformance example lists no capabilities: it serves echo; its SVID
  # comes from: agentweave dev up --dir /tmp/aw --workload conformance
  SPIFFE_ENDPOINT_SOCKET=unix:///tmp/aw/conformance.sock agentweave serve --config examples/conformance/agent.yaml

  AGENTWEAVE_SERVER_PORT=9443 agentweave serve --config agent.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := agentweave.LoadConfig(path)
			if err != nil {
				return err
			}
			if cfg.Identity.Provider == "spiffe" && cfg.Identity.SPIFFEEndpoint == "" {
				return fmt.Errorf("serve: %s: no Workload API for the SVID: set identity.spiffe_endpoint, or %s in the environment", path, endpointVar)
			}
			var caps []agentweave.Capability
			for _, c := range cfg.Agent.Capabilities {
				b, ok := builtins[c.Name]
				if !ok {
					return fmt.Errorf("serve: capability %q is not built in (built in: %s); write it with the SDK", c.Name, strings.Join(builtinNames(), ", "))
				}
				caps = append(caps, b)
			}
			if len(caps) == 0 {
				caps = append(caps, builtins["echo"])
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "agentweave serve: %s (%s), waiting for its SVID from %s …\n", cfg.Agent.Name, cfg.Identity.SPIFFEID, cfg.Identity.SPIFFEEndpoint)
			agent, err := agentweave.New(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			for _, c := range caps {
				if err := agent.Register(c); err != nil {
					_ = agent.Close()
					return err
				}
			}
			if err := agent.Start(cmd.Context()); err != nil {
				_ = agent.Close()
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "agentweave serve: %s serving at %s (admin %s); Ctrl-C stops it\n", agent.ID(), agent.URL(), agent.AdminAddr())
			return agent.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&path, "config", "", "the agent's configuration file (YAML)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}
