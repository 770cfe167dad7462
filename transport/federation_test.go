package transport_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// TestFederation: the Workload API hands out another trust domain's bundle
// (as SPIRE does for federated entries). A peer from that trust domain gets
// in only when it is listed in the allowed trust domains.
func TestFederation(t *testing.T) {
	t.Parallel()
	partner := identitytest.NewCA(t, otherTD)
	ca, err := devca.New(devca.Options{TrustDomain: td, TTL: time.Minute, Federated: []*x509bundle.Bundle{partner.Bundle()}})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "aw-fed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	wl, err := ca.Serve(t.Context(), "search", filepath.Join(dir, "search.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wl.Close() })

	partnerID := spiffeid.RequireFromString("spiffe://other.org/agent/orchestrator/prod")
	// The partner trusts our bundle as well as its own.
	partnerSrc := partner.Source(partner.CreateX509SVID(partnerID), ca.Bundle())
	authorize := identity.MatchPatterns(callers, identity.MustParsePattern("spiffe://other.org/agent/orchestrator/*"))

	for _, tt := range []struct {
		name    string
		allowed []spiffeid.TrustDomain
		wantOK  bool
	}{
		{"allowed", []spiffeid.TrustDomain{otherTD}, true},
		{"not allowed", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{
				Addr: wl.Addr(), AllowedTrustDomains: tt.allowed, Logger: slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = src.Close() })
			srv := startServer(t, src, authorize, transport.ServerOptions{})
			c, err := transport.NewClient(partnerSrc, spiffeid.MatchID(wl.ID()), transport.ClientOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseIdleConnections()
			body, _, err := get(t, c, srv.url)
			if tt.wantOK {
				if err != nil || body != "HTTP/2.0 "+partnerID.String() {
					t.Fatalf("federated call = %q, %v; want it served", body, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("call from a trust domain that is not allowed succeeded: %q", body)
			}
			srv.log.wait(t, `trust domain not allowed: "other.org"`)
		})
	}
}
