// Command conformance is an AgentWeave agent whose behaviour follows the
// official A2A TCK's scenario contract (routing on the message ID prefix),
// served over mutual TLS like any AgentWeave agent, from an agent
// configuration file.
//
//	go run ./examples/conformance --config examples/conformance/agent.yaml
//	go run ./examples/conformance --dev DIR   # its own dev trust domain, a client SVID socket in DIR
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
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := start(ctx, *cfgPath, *dev, *addr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func start(ctx context.Context, cfgPath, dev, addr string) error {
	if dev == "" {
		if cfgPath == "" {
			return errors.New("give --config FILE (or --dev DIR for a self-contained run)")
		}
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, nil)
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
	return serve(ctx, cfg, nil)
}

// serve runs the conformance agent as cfg describes until ctx ends: an
// ordinary SDK agent whose one capability, the default, plays the TCK's
// scenarios. ready, if set, receives the base URL once the agent listens.
func serve(ctx context.Context, cfg *config.Config, ready chan<- string) error {
	agent, err := agentweave.New(ctx, cfg, agentweave.WithLogger(slog.Default()))
	if err != nil {
		return err
	}
	if err := agent.Register(tck()); err != nil {
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
