// Command conformance is an AgentWeave agent whose behaviour follows the
// official A2A TCK's scenario contract (routing on the message ID prefix),
// served over mutual TLS like any AgentWeave agent.
//
//	go run ./examples/conformance --socket unix:///run/spire/sockets/agent.sock --addr 127.0.0.1:9999
//	go run ./examples/conformance --dev DIR   # its own dev trust domain; a client SVID in DIR/client
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/transport"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9999", "listen address")
	socket := flag.String("socket", "", "Workload API address (default $SPIFFE_ENDPOINT_SOCKET)")
	dev := flag.String("dev", "", "run a development trust domain with sockets in this directory instead of --socket")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *addr, *socket, *dev)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "conformance:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr, socket, dev string) error {
	if dev != "" {
		ca, err := devca.New(devca.Options{TTL: time.Hour})
		if err != nil {
			return err
		}
		for _, name := range []string{"conformance", "client"} {
			srv, err := ca.Serve(ctx, name, filepath.Join(dev, name+".sock"))
			if err != nil {
				return err
			}
			defer srv.Close()
			if name == "conformance" {
				socket = srv.Addr()
			} else {
				fmt.Printf("client SVIDs: agentweave svid fetch --socket %s --out %s\n", srv.Addr(), filepath.Join(dev, "client"))
			}
		}
	}
	src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{Addr: socket})
	if err != nil {
		return err
	}
	defer src.Close()
	engine, err := a2a.NewEngine(a2a.EngineOptions{Capabilities: []a2a.Capability{tck()}, Default: "tck"})
	if err != nil {
		return err
	}
	defer engine.Close()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "conformance", Description: "A2A TCK conformance agent", URLs: []string{"https://" + ln.Addr().String()}}, engine.Capabilities())
	if err != nil {
		return err
	}
	h, err := a2a.NewHandler(engine, card, a2a.HandlerOptions{})
	if err != nil {
		return err
	}
	srv, err := transport.NewServer(src, spiffeid.MatchMemberOf(src.ID().TrustDomain()), h, transport.ServerOptions{})
	if err != nil {
		return err
	}
	slog.Info("conformance agent", "spiffe_id", src.ID().String(), "url", "https://"+ln.Addr().String())
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
