package agentweave_test

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/identity/devca"
)

// TestIdentityFromWorkloadAPIRotates: an agent built from its configuration
// alone (written in Go) takes its SVID from a real Workload API socket, keeps serving
// across rotations without a restart, and reports them as metrics.
func TestIdentityFromWorkloadAPIRotates(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "aw-rot-") // unix socket paths must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ca, err := devca.New(devca.Options{TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	socks := map[string]*devca.Server{}
	for _, name := range []string{"search", "caller"} {
		srv, err := ca.Serve(t.Context(), name, filepath.Join(dir, name+".sock"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = srv.Close() })
		socks[name] = srv
	}
	if err := os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package agentweave.authz\n\nallow := true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lns := map[string]net.Listener{"search": listen(t), "caller": listen(t)}
	agents := map[string]*agentweave.Agent{}
	for _, name := range []string{"search", "caller"} {
		cfg := &agentweave.Config{
			Agent: config.Agent{Name: name, TrustDomain: "example.org"},
			Identity: config.Identity{
				SPIFFEEndpoint: socks[name].Addr(), SPIFFEID: socks[name].ID().String(), StartTimeout: 10 * time.Second,
			},
			Authorization: config.Authorization{
				PolicyDir: dir, Audit: config.Audit{Destination: filepath.Join(dir, name+".audit"), Sync: "none"},
			},
			Server:        config.Server{Host: "127.0.0.1", Port: 1},
			Observability: config.Observability{Logging: config.Logging{Level: "warn"}},
			Peers:         []config.Peer{{SPIFFEID: socks["search"].ID().String(), URL: "https://" + lns["search"].Addr().String()}},
		}
		a, err := agentweave.New(t.Context(), cfg, agentweave.WithListener(lns[name]), agentweave.WithAdminAddr("127.0.0.1:0"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		if err := a.Register(search); err != nil {
			t.Fatal(err)
		}
		if err := a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		agents[name] = a
	}
	caller, target := agents["caller"], agents["search"]
	metrics := func() string { return get(t, "http://"+target.AdminAddr()+"/metrics") }
	calls := 0
	waitFor(t, func() bool {
		res, err := caller.Call(t.Context(), target.ID().String(), "search", query{Text: "q", Limit: 1})
		if err != nil || res == nil {
			t.Fatalf("call %d across rotations: %v", calls+1, err)
		}
		calls++
		return strings.Contains(metrics(), "agentweave_svid_rotations_total 2")
	})
	if calls < 2 {
		t.Errorf("only %d calls made across two rotations", calls)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}
