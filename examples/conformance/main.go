// Command conformance is an AgentWeave agent that plays the A2A conformance
// suites' scenarios, served over mutual TLS like any AgentWeave agent, from
// an agent configuration file. It follows two contracts: the ACTS behaviour
// contract (the first text part of a task's first message names the
// behaviour, "tck-complete-task hello"; acts/sut-behaviors.yaml at the
// repository root declares the behaviours) and the older TCK's (the message
// ID's prefix names the scenario).
//
//	go run ./examples/conformance --config examples/conformance/agent.yaml
//	go run ./examples/conformance --dev DIR   # its own dev trust domain, a client SVID socket in DIR
//	go run ./examples/conformance --dev DIR --reduced   # ACTS's reduced-capabilities agent
//
// --reduced (or ITK_ACTS_REDUCED_CAPABILITIES=1, as the ACTS runner sets
// it) turns push notifications off whatever the configuration says; the
// extended card is always off. Streaming cannot be turned off yet (the
// engine has no option for it): the card keeps advertising it, truthfully.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a"
	_ "github.com/agentweave/agentweave-go/a2a/taskstore/sqlite" // tasks.store: sqlite
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity/devca"
)

func main() {
	cfgPath := flag.String("config", "", "agent configuration file (YAML)")
	dev := flag.String("dev", "", "run a development trust domain with sockets in this directory (no --config needed)")
	addr := flag.String("addr", "127.0.0.1:9999", "listen address with --dev")
	reduced := flag.Bool("reduced", os.Getenv("ITK_ACTS_REDUCED_CAPABILITIES") == "1",
		"reduced capabilities: push notifications off (default from ITK_ACTS_REDUCED_CAPABILITIES=1)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := start(ctx, *cfgPath, *dev, *addr, mode{reduced: *reduced})
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

// mode is how the agent runs.
type mode struct {
	// reduced turns off what the agent can turn off of streaming, push
	// notifications and the extended card (ACTS's reduced-capabilities
	// run): push notifications; the extended card is always off.
	reduced bool
}

func start(ctx context.Context, cfgPath, dev, addr string, m mode) error {
	if dev == "" {
		if cfgPath == "" {
			return errors.New("give --config FILE (or --dev DIR for a self-contained run)")
		}
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, m, nil)
	}
	ca, err := devca.New(devca.Options{TTL: time.Hour})
	if err != nil {
		return err
	}
	var endpoint string
	for _, name := range []string{"conformance", "client"} {
		srv, err := ca.Serve(ctx, name, filepath.Join(dev, name+".sock"))
		if err != nil {
			return err
		}
		defer srv.Close()
		if name == "conformance" {
			endpoint = srv.Addr()
		} else {
			fmt.Printf("client SVIDs: agentweave svid fetch --socket %s --out %s\n", srv.Addr(), filepath.Join(dev, "client"))
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	yaml := fmt.Sprintf("agent: {name: conformance, trust_domain: example.org, environment: development}\n"+
		"authorization: {provider: allow-all}\n"+
		"identity: {spiffe_endpoint: %q, spiffe_id: spiffe://example.org/agent/conformance/dev}\n"+
		"server: {host: %q, port: %s}\n", endpoint, host, port)
	cfg, err := config.Parse([]byte(yaml), "--dev", nil)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, m, nil)
}

// serve runs the conformance agent as cfg describes, changed as m says,
// until ctx ends: an ordinary SDK agent whose one capability, the default,
// plays the scenarios. ready, if set, receives the base URL once the agent
// listens.
func serve(ctx context.Context, cfg *config.Config, m mode, ready chan<- string) error {
	if m.reduced {
		c := *cfg
		c.Tasks.Push.Enabled = false
		cfg = &c
		slog.Warn("conformance: reduced capabilities: push notifications and the extended card are off; streaming stays on (the SDK cannot turn it off yet)")
	}
	opts := []agentweave.Option{agentweave.WithLogger(slog.Default())}
	if m.reduced {
		opts = append(opts, agentweave.WithoutExtendedCard())
	}
	agent, err := agentweave.New(ctx, cfg, opts...)
	if err != nil {
		return err
	}
	if err := agent.Register(newScenarios(defaultTiming()).capability()); err != nil {
		_ = agent.Close()
		return err
	}
	if err := agent.Start(ctx); err != nil {
		_ = agent.Close()
		return err
	}
	slog.Info("conformance agent", "spiffe_id", agent.ID().String(), "listen", agent.Addr().String(), "card", agent.URL()+a2a.CardPath)
	if ready != nil {
		ready <- agent.URL()
	}
	return agent.Run(ctx)
}
