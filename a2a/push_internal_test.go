package a2a

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity/identitytest"
)

// TestPushDialGuard: a host name that resolves to loopback passes the
// config check (it is not an IP literal) but is refused when dialled, so
// DNS tricks do not reach the agent's own network.
func TestPushDialGuard(t *testing.T) {
	t.Parallel()
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits++ }))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	src := ca.Source(ca.CreateX509SVID(ca.ID("agent", "a")))

	guarded, err := newPusher(&PushOptions{Source: src}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cfg := &a2acore.PushConfig{URL: "http://localhost:" + port + "/"}
	if err := guarded.validate(cfg); err != nil {
		t.Fatalf("validate(localhost) = %v, want it to pass (names are checked at dial)", err)
	}
	if err := guarded.post(t.Context(), cfg, []byte("{}")); !errors.Is(err, ErrPushTargetRefused) {
		t.Errorf("post to localhost: error = %v, want ErrPushTargetRefused", err)
	}
	if hits != 0 {
		t.Errorf("the loopback server was reached %d times", hits)
	}

	allowed, err := newPusher(&PushOptions{Source: src, AllowedNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := allowed.post(t.Context(), cfg, []byte("{}")); err != nil {
		t.Errorf("post with loopback allow-listed: %v", err)
	}
	if hits != 1 {
		t.Errorf("hits = %d, want 1", hits)
	}
}
