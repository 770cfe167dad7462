// Command server runs one of the servers `make bench` compares (package
// benchserver), on a loopback port it prints as "URL <base URL>" on
// standard output once it serves, until SIGINT or SIGTERM.
//
//	server -variant plain
//	server -variant full -config bench.yaml [-cpuprofile full.pprof] (also writes full.pprof.allocs)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/internal/benchserver"
)

func main() {
	variant := flag.String("variant", "", "plain, a2ago, mtls, full or full-100ms")
	cfgPath := flag.String("config", "", "the agent's configuration (agent variants)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *variant, *cfgPath, *cpuprofile)
	stop()
	if err != nil {
		log.Fatalf("benchserver: %v", err)
	}
}

func run(ctx context.Context, variant, cfgPath, cpuprofile string) error {
	v, ok := benchserver.Lookup(variant)
	if !ok {
		return fmt.Errorf("unknown -variant %q", variant)
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			_ = f.Close()
			// Allocations of the whole run, beside the CPU profile:
			// go tool pprof -sample_index=alloc_objects FILE.allocs
			if a, err := os.Create(cpuprofile + ".allocs"); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(a, 0)
				_ = a.Close()
			}
		}()
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if v.H2C {
		return serveH2C(ctx, v, ln)
	}
	cfg, err := agentweave.LoadConfig(cfgPath)
	if err != nil {
		_ = ln.Close()
		return err
	}
	opts := []agentweave.Option{agentweave.WithListener(ln)}
	if *cfg.Observability.Metrics.Enabled {
		opts = append(opts, agentweave.WithAdminAddr("127.0.0.1:0"))
	}
	agent, err := agentweave.New(ctx, cfg, opts...)
	if err != nil {
		_ = ln.Close()
		return err
	}
	if err := agent.Register(agentweave.Capability{Name: benchserver.Capability, Description: "echo", Handler: benchserver.Echo}); err != nil {
		_ = agent.Close()
		return err
	}
	if err := agent.Start(ctx); err != nil {
		_ = agent.Close()
		return err
	}
	fmt.Printf("URL https://%s\n", ln.Addr())
	return agent.Run(ctx)
}

func serveH2C(ctx context.Context, v benchserver.Variant, ln net.Listener) error {
	var h http.Handler = http.HandlerFunc(benchserver.PlainEcho)
	if v.Name == benchserver.A2AGo {
		h = benchserver.A2AGoHandler()
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &protos, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Printf("URL http://%s/\n", ln.Addr())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
