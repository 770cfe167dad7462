// Command agentweave is the AgentWeave CLI. It runs the demo (three agents
// under policy, impostors refused), a development trust domain (dev up) and
// an agent from its configuration with built-in capabilities (serve); it
// validates configurations and probes what they point at (validate
// --probe), prints the agent card a configuration produces (card), calls
// and loads agents over mutual TLS (call, bench), asks an agent's admin
// endpoint whether it is healthy (health), fetches SVIDs for clients
// outside Go (svid fetch), decides and tests Rego policies (authz check,
// authz test) and verifies audit trails (audit verify). Every command has
// --help with examples.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// exitError carries a specific exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "agentweave:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "agentweave",
		Short: "Secure agent-to-agent communication: SPIFFE identity, mutual TLS, policy, A2A",
		Long: `agentweave is the command-line companion of the AgentWeave Go SDK.

Every agent has a SPIFFE identity (an X.509 SVID from SPIRE or from the
embedded development CA), every connection is mutual TLS, and every call is
authorized by policy before business code runs.

Start with:
  agentweave demo        three agents call each other under OPA policy; impostors are refused
                         (--keep-running to try them with agentweave call)`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	level := slog.LevelWarn
	root.PersistentFlags().TextVar(&level, "log-level", level, "log level on standard error: debug, info, warn or error")
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		slog.SetDefault(slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level})))
	}
	root.AddCommand(newVersionCmd(), newDemoCmd(), newDevCmd(), newSVIDCmd(), newCallCmd(), newCardCmd(), newAuditCmd(), newAuthzCmd(), newValidateCmd(), newHealthCmd(), newServeCmd(), newBenchCmd())
	return root
}
