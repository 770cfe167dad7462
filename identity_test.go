package agentweave_test

import (
	"fmt"
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

// TestIdentityFromWorkloadAPIRotates: an agent built from configuration
// alone takes its SVID from a real Workload API socket, keeps serving
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
		cfg, err := config.Parse(fmt.Appendf(nil, `agent: {name: %s, trust_domain: example.org}
identity: {spiffe_endpoint: %q, spiffe_id: %q, start_timeout: 10s}
authorization: {policy_dir: %q, audit: {destination: %q, sync: none}}
server: {host: 127.0.0.1, port: 1}
observability: {logging: {level: warn}}
peers: [{spiffe_id: %q, url: "https://%s"}]
`, name, socks[name].Addr(), socks[name].ID(), dir, filepath.Join(dir, name+".audit"), socks["search"].ID(), lns["search"].Addr()), name, nil)
		if err != nil {
			t.Fatal(err)
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
