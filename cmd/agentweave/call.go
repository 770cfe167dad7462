package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
)

func newCallCmd() *cobra.Command {
	var (
		socket, rawURL, target, capability, data, cfgPath string
		stream                                            bool
		timeout                                           time.Duration
	)
	cmd := &cobra.Command{
		Use:   "call [--config FILE | --url URL] --target SPIFFE_ID --capability NAME [--data JSON] [--stream]",
		Short: "Call a capability of an agent over mutual TLS (A2A) and print the result as JSON",
		Long: `call connects to the agent at --url with the X509-SVID from --socket (a SPIFFE
Workload API: SPIRE, or 'agentweave dev up'), refuses the connection unless the
server presents exactly --target, and calls --capability with --data as the
payload (an A2A message whose metadata names the capability).

With --config, call speaks as the agent that configuration describes: its SVID
(identity.spiffe_id, from its Workload API), its outbound policy (embedded or
its OPA sidecar) decided and audited before any network I/O, its breakers and
retries, and the peer's URL from its peers list (--url overrides it). Audit
records go to standard error when the configuration says stdout. In a pod:
kubectl exec deploy/NAME -c agent -- /agentweave call --config /etc/agentweave/config/agent.yaml ...

It prints the finished task (or the agent's direct message) as JSON (with
--stream, every event as one JSON line) and exits 0 when the task completed
or the agent answered, 1 when the task failed, was rejected or canceled, or
the call was refused, with the reason on standard error.`,
		Example: `  agentweave call --socket unix:///tmp/aw/orchestrator.sock --url https://127.0.0.1:8443 \
    --target spiffe://example.org/agent/search/dev --capability echo --data '{"q":"spiffe"}'
  agentweave call --config /etc/agentweave/config/agent.yaml \
    --target spiffe://example.org/ns/agents/sa/search-agentweave --capability echo --data '{"text":"hi"}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, err := spiffeid.FromString(target)
			if err != nil {
				return fmt.Errorf("call: --target %q: %w", target, err)
			}
			var payload any
			if err := json.Unmarshal([]byte(data), &payload); err != nil {
				return fmt.Errorf("call: --data is not JSON: %w", err)
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel func()
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			if cfgPath != "" {
				if socket != "" {
					return errors.New("call: --socket and --config exclude each other: the configuration names its Workload API")
				}
				return callAsAgent(ctx, cmd, cfgPath, id, rawURL, capability, payload, stream)
			}
			if rawURL == "" {
				return errors.New("call: --url is required without --config")
			}
			src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{Addr: socket, StartTimeout: min(timeout, 30*time.Second)})
			if err != nil {
				return fmt.Errorf("call: %w", err)
			}
			defer src.Close()
			// An operator's tool: the called agent enforces its policy on
			// the way in; outbound policy belongs to agents.
			client, err := client.New(src, client.Options{Resolver: client.StaticResolver{id: rawURL}, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}})
			if err != nil {
				return fmt.Errorf("call: %w", err)
			}
			defer client.Close()
			out := json.NewEncoder(cmd.OutOrStdout())
			peer, err := client.Peer(ctx, id)
			if err != nil {
				return fmt.Errorf("call: %w", err)
			}
			req := &a2acore.SendMessageRequest{Message: a2a.CapabilityMessage(capability, payload)}
			if !stream {
				res, err := peer.SendMessage(ctx, req)
				if err != nil {
					return fmt.Errorf("call: %w", err)
				}
				_ = out.Encode(res) // a task, or the agent's direct message
				if task, ok := res.(*a2acore.Task); ok {
					return taskOutcome(task)
				}
				return nil
			}
			return printStream(out, peer.SendStreamingMessage(ctx, req))
		},
	}
	f := cmd.Flags()
	f.StringVar(&socket, "socket", "", "Workload API address for this caller's SVID (default $SPIFFE_ENDPOINT_SOCKET)")
	f.StringVar(&rawURL, "url", "", "the agent's base URL, https://host:port (with --config: default from its peers)")
	f.StringVar(&cfgPath, "config", "", "call as the agent this configuration file describes (identity, outbound policy, audit, peers)")
	f.StringVar(&target, "target", "", "the SPIFFE ID the agent must present")
	f.StringVar(&capability, "capability", "", "the capability to call")
	f.StringVar(&data, "data", "{}", "the payload, as JSON")
	f.BoolVar(&stream, "stream", false, "stream the task's events (SendStreamingMessage)")
	f.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	for _, name := range []string{"target", "capability"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

// taskOutcome turns a task's final state into the command's exit status.
func taskOutcome(t *a2acore.Task) error {
	switch t.Status.State {
	case a2acore.TaskStateCompleted, a2acore.TaskStateInputRequired, a2acore.TaskStateAuthRequired:
		return nil
	case a2acore.TaskStateUnspecified:
		return errors.New("call: the stream ended without a task state")
	default:
		return &exitError{code: 1, err: fmt.Errorf("call: task ended %s", t.Status.State)}
	}
}

// callAsAgent calls target as the agent the configuration at path describes:
// its identity, outbound policy and audit, its peers and resilience.
func callAsAgent(ctx context.Context, cmd *cobra.Command, path string, target spiffeid.ID, rawURL, capability string, payload any, stream bool) error {
	cfg, err := agentweave.LoadConfig(path)
	if err != nil {
		return err
	}
	if rawURL != "" {
		cfg.Peers = append(slices.DeleteFunc(cfg.Peers, func(p config.Peer) bool { return p.SPIFFEID == target.String() }),
			config.Peer{SPIFFEID: target.String(), URL: rawURL})
	}
	opts := []agentweave.Option{agentweave.WithLogger(slog.Default())}
	if cfg.Authorization.Audit.Destination == "stdout" {
		// Standard output carries the result.
		opts = append(opts, agentweave.WithAuditSink(audit.NewStdout(cmd.ErrOrStderr())))
	}
	agent, err := agentweave.New(ctx, cfg, opts...)
	if err != nil {
		return fmt.Errorf("call: %w", err)
	}
	defer agent.Close()
	out := json.NewEncoder(cmd.OutOrStdout())
	if stream { // the wire's events, as without --config: the agent's client authorizes and audits them
		return printStream(out, agent.Client().Stream(ctx, target, capability, payload))
	}
	res, err := agent.Call(ctx, target.String(), capability, payload)
	if res != nil {
		_ = out.Encode(res)
	}
	if err != nil {
		return &exitError{code: 1, err: fmt.Errorf("call: %w", err)}
	}
	return taskOutcome(&a2acore.Task{Status: a2acore.TaskStatus{State: res.State}})
}

// printStream prints every event as one JSON line and turns the last task
// state into the exit status.
func printStream(out *json.Encoder, events iter.Seq2[a2acore.Event, error]) error {
	var last a2acore.TaskState
	for ev, err := range events {
		if err != nil {
			return fmt.Errorf("call: %w", err)
		}
		_ = out.Encode(a2acore.StreamResponse{Event: ev})
		switch v := ev.(type) {
		case *a2acore.Task:
			last = v.Status.State
		case *a2acore.TaskStatusUpdateEvent:
			last = v.Status.State
		case *a2acore.Message:
			return nil // a direct answer: the stream carries only it
		}
	}
	return taskOutcome(&a2acore.Task{Status: a2acore.TaskStatus{State: last}})
}
