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
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/pgstore"
	"github.com/agentweave/agentweave-go/a2a/sqlitestore"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/transport"
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

// serve runs the conformance agent as cfg describes until ctx ends. ready,
// if set, receives the base URL once the agent listens.
func serve(ctx context.Context, cfg *config.Config, ready chan<- string) error {
	src, err := source(ctx, cfg)
	if err != nil {
		return err
	}
	defer src.Close()
	store, closeStore, err := taskStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	enforcer, err := enforcerFor(cfg)
	if err != nil {
		return err
	}
	opts := a2a.EngineOptions{Capabilities: []a2a.Capability{tck()}, Default: "tck", Store: store, Self: src.ID(), Enforcer: enforcer}
	if cfg.Tasks.Push.Enabled {
		push := &a2a.PushOptions{Source: src}
		for _, n := range cfg.Tasks.Push.AllowedNetworks {
			push.AllowedNetworks = append(push.AllowedNetworks, netip.MustParsePrefix(n)) // validated by config
		}
		opts.Push = push
	}
	engine, err := a2a.NewEngine(opts)
	if err != nil {
		return err
	}
	defer engine.Close()
	card, err := a2a.BuildCard(a2a.CardOptions{
		Name: cfg.Agent.Name, Description: "A2A TCK conformance agent", Version: cfg.Agent.Version,
		URLs: cfg.Server.PublicURLs, PushNotifications: engine.PushEnabled(),
	}, engine.Capabilities())
	if err != nil {
		return err
	}
	h, err := a2a.NewHandler(engine, card, a2a.HandlerOptions{MaxBodyBytes: cfg.Server.MaxBodyBytes})
	if err != nil {
		return err
	}
	callers, err := identity.ParsePatterns(cfg.Transport.AllowedCallers)
	if err != nil {
		return err
	}
	minTLS, err := transport.ParseTLSVersion(cfg.Transport.TLSMinVersion)
	if err != nil {
		return err
	}
	srv, err := transport.NewServer(src, identity.MatchPatterns(callers...), h, transport.ServerOptions{
		TLSOptions:        transport.TLSOptions{MinVersion: minTLS},
		ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       cfg.Server.IdleTimeout,
	})
	if err != nil {
		return err
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(cfg.Server.Host, strconv.Itoa(cfg.Server.Port)))
	if err != nil {
		return err
	}
	slog.Info("conformance agent", "spiffe_id", src.ID().String(), "listen", ln.Addr().String(), "card", cfg.Server.PublicURLs[0]+a2a.CardPath)
	if ready != nil {
		ready <- "https://" + ln.Addr().String()
	}
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

// enforcerFor builds authorization from the configuration. Only allow-all
// (development) is wired here so far; OPA arrives with the authorization
// layer.
func enforcerFor(cfg *config.Config) (*authz.Enforcer, error) {
	az := cfg.Authorization
	if az.Provider != "allow-all" {
		return nil, fmt.Errorf("authorization.provider %q: this example supports allow-all (environment development) until OPA is wired in", az.Provider)
	}
	return &authz.Enforcer{
		Authorizer:   authz.AllowAll(),
		LogOnly:      az.DefaultAction == "log-only",
		RequireAudit: cfg.Agent.Environment == config.Production,
	}, nil
}

func source(ctx context.Context, cfg *config.Config) (identity.Source, error) {
	allowed, err := identity.ParseTrustDomains(cfg.Identity.AllowedTrustDomains)
	if err != nil {
		return nil, err
	}
	if cfg.Identity.Provider == "static" {
		s := cfg.Identity.Static
		return identity.LoadStaticSource(s.CertFile, s.KeyFile, s.BundleFile, allowed)
	}
	id, err := spiffeid.FromString(cfg.Identity.SPIFFEID)
	if err != nil {
		return nil, err
	}
	return identity.NewWorkloadSource(ctx, identity.WorkloadOptions{
		Addr: cfg.Identity.SPIFFEEndpoint, ID: id, AllowedTrustDomains: allowed, StartTimeout: cfg.Identity.StartTimeout,
	})
}

func taskStore(ctx context.Context, cfg *config.Config) (a2a.Store, func(), error) {
	switch cfg.Tasks.Store {
	case "sqlite":
		s, err := sqlitestore.Open(ctx, cfg.Tasks.SQLitePath, sqlitestore.Options{})
		if err != nil {
			return nil, nil, err
		}
		return s, func() { _ = s.Close() }, nil
	case "postgres":
		s, err := pgstore.Open(ctx, cfg.Tasks.PostgresDSN, pgstore.Options{})
		if err != nil {
			return nil, nil, err
		}
		return s, func() { _ = s.Close() }, nil
	default:
		return a2a.NewMemoryStore(cfg.Tasks.MemoryLimit), func() {}, nil
	}
}
