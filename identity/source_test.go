package identity_test

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/devca"
	"github.com/agentweave/agentweave-go/identity/identitytest"
)

var (
	exampleTD = spiffeid.RequireTrustDomainFromString("example.org")
	otherTD   = spiffeid.RequireTrustDomainFromString("other.org")
)

// shortDir returns a temp dir short enough for unix socket paths.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "aw-id-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func serveDev(t *testing.T, ca *devca.CA, sock string) *devca.Server {
	const name = "search"
	t.Helper()
	srv, err := ca.Serve(t.Context(), name, sock)
	if err != nil {
		t.Fatalf("Serve(%q) error = %v", name, err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

func newDevCA(t *testing.T, ttl time.Duration) *devca.CA {
	t.Helper()
	ca, err := devca.New(devca.Options{TrustDomain: exampleTD, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestWorkloadSourceFollowsRotation(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, 2*time.Second)
	srv := serveDev(t, ca, filepath.Join(shortDir(t), "search.sock"))

	src, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{Addr: srv.Addr(), ID: srv.ID()})
	if err != nil {
		t.Fatalf("NewWorkloadSource() error = %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	if src.ID() != srv.ID() {
		t.Errorf("ID() = %v, want %v", src.ID(), srv.ID())
	}
	if _, err := src.GetX509BundleForTrustDomain(exampleTD); err != nil {
		t.Errorf("own bundle: %v", err)
	}
	if _, err := src.GetX509BundleForTrustDomain(otherTD); !errors.Is(err, identity.ErrTrustDomainNotAllowed) {
		t.Errorf("other.org bundle error = %v, want ErrTrustDomainNotAllowed", err)
	}

	first, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		updated := src.Updated()
		if src.Rotations() >= 2 {
			break
		}
		select {
		case <-updated:
		case <-deadline:
			t.Fatalf("Rotations() = %d after 10s with a 2s TTL, want >= 2", src.Rotations())
		}
	}
	now, err := src.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	if now.Certificates[0].SerialNumber.Cmp(first.Certificates[0].SerialNumber) == 0 {
		t.Error("serial unchanged after rotations")
	}
}

func TestWorkloadSourceSurvivesOutage(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, time.Minute)
	sock := filepath.Join(shortDir(t), "w.sock")
	srv := serveDev(t, ca, sock)
	src, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{Addr: srv.Addr(), Hint: "search", RetryInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewWorkloadSource() error = %v", err)
	}
	t.Cleanup(func() { _ = src.Close() })
	before, _ := src.GetX509SVID()

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	// The Workload API is gone: the current SVID is still served.
	if got, err := src.GetX509SVID(); err != nil || got != before {
		t.Fatalf("during outage GetX509SVID() = %v, %v; want the current SVID", got, err)
	}
	serveDev(t, ca, sock)
	deadline := time.After(10 * time.Second)
	for {
		updated := src.Updated()
		got, _ := src.GetX509SVID()
		if got.Certificates[0].SerialNumber.Cmp(before.Certificates[0].SerialNumber) != 0 {
			break
		}
		select {
		case <-updated:
		case <-deadline:
			t.Fatal("no new SVID within 10s after the Workload API came back")
		}
	}
}

func TestWorkloadSourceStartFailures(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, time.Minute)
	srv := serveDev(t, ca, filepath.Join(shortDir(t), "s.sock"))
	missing := "unix://" + filepath.Join(shortDir(t), "nobody.sock")
	tests := []struct {
		name string
		opts identity.WorkloadOptions
		want []string
	}{
		{"no socket", identity.WorkloadOptions{Addr: missing}, []string{missing, "within 300ms", "connection attempts", "last error", "no such file"}},
		{
			"wrong ID",
			identity.WorkloadOptions{Addr: srv.Addr(), ID: spiffeid.RequireFromString("spiffe://example.org/agent/other/dev")},
			[]string{srv.Addr(), "spiffe://example.org/agent/other/dev", "served 1 SVID(s), none of them"},
		},
		{"wrong hint", identity.WorkloadOptions{Addr: srv.Addr(), Hint: "nope"}, []string{`hint "nope"`}},
		{"bad address", identity.WorkloadOptions{Addr: "http://x"}, []string{`"http://x"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.StartTimeout = 300 * time.Millisecond
			tt.opts.RetryInterval = 50 * time.Millisecond
			start := time.Now()
			src, err := identity.NewWorkloadSource(t.Context(), tt.opts)
			if err == nil {
				_ = src.Close()
				t.Fatal("NewWorkloadSource() succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("failed after %v, want about the 300ms start timeout", d)
			}
		})
	}
	t.Run("context cancelled", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{Addr: missing})
		if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), missing) {
			t.Errorf("error = %v, want cancellation naming the socket", err)
		}
	})
}

func TestWorkloadSourceNoAddress(t *testing.T) {
	t.Setenv("SPIFFE_ENDPOINT_SOCKET", "")
	_, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{})
	if err == nil || !strings.Contains(err.Error(), "SPIFFE_ENDPOINT_SOCKET") {
		t.Errorf("error = %v, want it to mention SPIFFE_ENDPOINT_SOCKET", err)
	}
}

func TestWorkloadSourceClose(t *testing.T) {
	t.Parallel()
	ca := newDevCA(t, time.Minute)
	srv := serveDev(t, ca, filepath.Join(shortDir(t), "c.sock"))
	src, err := identity.NewWorkloadSource(t.Context(), identity.WorkloadOptions{Addr: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := src.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
	}
	if _, err := src.GetX509SVID(); !errors.Is(err, identity.ErrNoSVID) {
		t.Errorf("GetX509SVID() after Close = %v, want ErrNoSVID", err)
	}
}

func TestStaticSourceTrustPolicy(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, exampleTD)
	other := identitytest.NewCA(t, otherTD)
	svid := ca.CreateX509SVID(ca.ID("agent", "a"))
	bundles := []*x509bundle.Bundle{ca.Bundle(), other.Bundle()}

	closed, err := identity.NewStaticSource(svid, bundles, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := closed.GetX509BundleForTrustDomain(otherTD); !errors.Is(err, identity.ErrTrustDomainNotAllowed) {
		t.Errorf("not allowed: error = %v, want ErrTrustDomainNotAllowed", err)
	}
	federated, err := identity.NewStaticSource(svid, bundles, []spiffeid.TrustDomain{otherTD})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := federated.GetX509BundleForTrustDomain(otherTD); err != nil || b.TrustDomain() != otherTD {
		t.Errorf("allowed: bundle = %v, %v", b, err)
	}
	third := spiffeid.RequireTrustDomainFromString("third.org")
	if _, err := identity.NewStaticSource(svid, bundles, []spiffeid.TrustDomain{third}); err != nil {
		t.Fatal(err)
	}
	if _, err := federated.GetX509BundleForTrustDomain(third); err == nil {
		t.Error("third.org: got a bundle that was never given")
	}
}

func TestLoadStaticSource(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, exampleTD)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := ca.CreateX509SVID(ca.ID("agent", "a"))
	certPEM, keyPEM, err := good.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	bundlePEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Bundle().X509Authorities()[0].Raw})
	cert, key, bundle := write("svid.pem", certPEM), write("svid.key", keyPEM), write("bundle.pem", bundlePEM)

	src, err := identity.LoadStaticSource(cert, key, bundle, nil)
	if err != nil {
		t.Fatalf("LoadStaticSource() error = %v", err)
	}
	if src.ID() != good.ID {
		t.Errorf("ID() = %v, want %v", src.ID(), good.ID)
	}

	expired := ca.CreateX509SVID(ca.ID("agent", "a"), identitytest.Expired())
	ec, ek, _ := expired.Marshal()
	if _, err := identity.LoadStaticSource(write("e.pem", ec), write("e.key", ek), bundle, nil); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired SVID: error = %v, want one saying expired", err)
	}
	if _, err := identity.LoadStaticSource(filepath.Join(dir, "nope.pem"), key, bundle, nil); err == nil || !strings.Contains(err.Error(), "nope.pem") {
		t.Errorf("missing file: error = %v, want it named", err)
	}
	if _, err := identity.LoadStaticSource(cert, write("garbage.key", []byte("not a key")), bundle, nil); err == nil {
		t.Error("garbage key: no error")
	}
}

func TestPeerIDContext(t *testing.T) {
	t.Parallel()
	if _, ok := identity.PeerIDFromContext(t.Context()); ok {
		t.Error("PeerIDFromContext(empty) ok = true")
	}
	id := spiffeid.RequireFromString("spiffe://example.org/agent/a")
	got, ok := identity.PeerIDFromContext(identity.WithPeerID(t.Context(), id))
	if !ok || got != id {
		t.Errorf("PeerIDFromContext() = %v, %v; want %v", got, ok, id)
	}
	if _, err := identity.PeerIDFromConnectionState(nil); err == nil {
		t.Error("PeerIDFromConnectionState(nil) succeeded")
	}
	if _, err := identity.PeerIDFromConnectionState(&tls.ConnectionState{}); err == nil {
		t.Error("PeerIDFromConnectionState(no certs) succeeded")
	}
}
