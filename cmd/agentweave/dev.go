package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity/devca"
)

func newDevCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Local development helpers",
	}
	cmd.AddCommand(newDevUpCmd())
	return cmd
}

func newDevUpCmd() *cobra.Command {
	var (
		dir       string
		tdName    string
		ttl       time.Duration
		workloads []string
	)
	cmd := &cobra.Command{
		Use:   "up --dir DIR --workload NAME [--workload NAME...]",
		Short: "Run a development trust domain: a CA and one Workload API socket per workload",
		Long: `up runs an embedded development trust domain in the foreground until
interrupted (Ctrl-C or SIGTERM).

For each --workload NAME it serves a real SPIFFE Workload API on the unix
socket DIR/NAME.sock, handing out the X509-SVID spiffe://TD/agent/NAME/dev,
rotated when half of --ttl has passed. The ID ends in /dev whatever the
agent's environment, while a configuration's default identity.spiffe_id
ends in its agent.environment (spiffe://TD/agent/NAME/production unless
set): an agent served by dev up sets identity.spiffe_id to the ID above, as
the examples do. The trust bundle is written to
DIR/bundle.pem. Agents (and go-spiffe, or any Workload API client) read their
identity from the socket exactly as they would from SPIRE:

  SPIFFE_ENDPOINT_SOCKET=unix://DIR/NAME.sock

Not for production: the CA key lives in this process's memory and the
sockets' file permissions are the only access control.`,
		Example: `  agentweave dev up --dir /tmp/aw --workload orchestrator --workload search
  agentweave dev up --dir /tmp/aw --trust-domain acme.test --ttl 5m --workload billing`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(workloads) == 0 {
				return errors.New("dev up: name at least one --workload")
			}
			td, err := spiffeid.TrustDomainFromString(tdName)
			if err != nil {
				return fmt.Errorf("dev up: --trust-domain %q: %w", tdName, err)
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return fmt.Errorf("dev up: --dir: %w", err)
			}
			if err := os.MkdirAll(abs, 0o700); err != nil {
				return fmt.Errorf("dev up: %w", err)
			}
			ca, err := devca.New(devca.Options{TrustDomain: td, TTL: ttl})
			if err != nil {
				return fmt.Errorf("dev up: %w", err)
			}
			bundlePath := filepath.Join(abs, "bundle.pem")
			if err := os.WriteFile(bundlePath, ca.BundlePEM(), 0o644); err != nil { //nolint:gosec // a trust bundle is public
				return fmt.Errorf("dev up: write bundle: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "development trust domain %q (SVID lifetime %s); trust bundle: %s\n", td.Name(), ttl, bundlePath)
			ctx := cmd.Context()
			seen := map[string]bool{}
			var servers []*devca.Server
			defer func() {
				for _, s := range servers {
					_ = s.Close()
				}
			}()
			for _, name := range workloads {
				if seen[name] {
					return fmt.Errorf("dev up: workload %q named twice", name)
				}
				seen[name] = true
				srv, err := ca.Serve(ctx, name, filepath.Join(abs, name+".sock"))
				if err != nil {
					return fmt.Errorf("dev up: %w", err)
				}
				servers = append(servers, srv)
				fmt.Fprintf(out, "  %-16s %s  SPIFFE_ENDPOINT_SOCKET=%s\n", name, srv.ID(), srv.Addr())
			}
			fmt.Fprintln(out, "serving; press Ctrl-C to stop")
			<-ctx.Done()
			var rotations uint64
			for _, s := range servers {
				rotations += s.Rotations()
			}
			fmt.Fprintf(out, "stopped after %d rotation(s)\n", rotations)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", "", "directory for the sockets and bundle.pem (created if missing; keep it short: socket paths are limited to 100 bytes)")
	f.StringVar(&tdName, "trust-domain", "example.org", "trust domain of the development CA")
	f.DurationVar(&ttl, "ttl", time.Minute, "lifetime of each X509-SVID (minimum 2s)")
	f.StringArrayVar(&workloads, "workload", nil, "workload name, matching ^[a-z][a-z0-9-]*$ (repeatable)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}
