package devca_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/agentweave/agentweave-go/identity/devca"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sockDir returns a short temporary directory: t.TempDir paths can exceed
// the unix socket path limit.
func sockDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "aw-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func newCA(t *testing.T, opts devca.Options) *devca.CA {
	t.Helper()
	ca, err := devca.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ca
}

func serve(t *testing.T, ca *devca.CA, name string) *devca.Server {
	t.Helper()
	srv, err := ca.Serve(t.Context(), name, filepath.Join(sockDir(t), name+".sock"))
	if err != nil {
		t.Fatalf("Serve(%q): %v", name, err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

func newSource(t *testing.T, srv *devca.Server) *workloadapi.X509Source {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	source, err := workloadapi.NewX509Source(ctx,
		workloadapi.WithClientOptions(workloadapi.WithAddr(srv.Addr())))
	if err != nil {
		t.Fatalf("NewX509Source(%s): %v", srv.Addr(), err)
	}
	t.Cleanup(func() { _ = source.Close() })
	return source
}

func rawClient(t *testing.T, srv *devca.Server) workload.SpiffeWorkloadAPIClient {
	t.Helper()
	conn, err := grpc.NewClient(srv.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return workload.NewSpiffeWorkloadAPIClient(conn)
}

func withHeader(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "workload.spiffe.io", "true")
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestX509SourceGetsSVID(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("dev.agentweave.test")
	ca := newCA(t, devca.Options{TrustDomain: td})
	srv := serve(t, ca, "weather")
	source := newSource(t, srv)

	svid, err := source.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	type ident struct{ ID, Hint, ServerID string }
	want := ident{"spiffe://dev.agentweave.test/agent/weather/dev", "weather", "spiffe://dev.agentweave.test/agent/weather/dev"}
	got := ident{svid.ID.String(), svid.Hint, srv.ID().String()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("identity (-want +got):\n%s", diff)
	}

	id, _, err := x509svid.Verify(svid.Certificates, ca.Bundle())
	if err != nil || id != svid.ID {
		t.Errorf("Verify against CA bundle = %v, %v; want %v", id, err, svid.ID)
	}
	if _, _, err := x509svid.Verify(svid.Certificates, source); err != nil {
		t.Errorf("Verify against source bundle: %v", err)
	}
	pub, ok := svid.PrivateKey.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(svid.Certificates[0].PublicKey) {
		t.Error("private key does not match the leaf certificate")
	}
	if cur := srv.Current(); cur.Certificates[0].SerialNumber.Cmp(svid.Certificates[0].SerialNumber) != 0 {
		t.Error("Current() is not the SVID the source received")
	}

	bundle, err := source.GetX509BundleForTrustDomain(td)
	if err != nil || !bundle.Equal(ca.Bundle()) {
		t.Errorf("source bundle = %v, %v; want the CA bundle", bundle, err)
	}
	block, _ := pem.Decode(ca.BundlePEM())
	if block == nil || !ca.Bundle().X509Authorities()[0].Equal(mustParse(t, block.Bytes)) {
		t.Error("BundlePEM does not hold the CA root")
	}
}

func mustParse(t *testing.T, der []byte) *x509.Certificate {
	t.Helper()
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestTwoWorkloadsDistinctIDs(t *testing.T) {
	t.Parallel()
	ca := newCA(t, devca.Options{})
	a := newSource(t, serve(t, ca, "alpha"))
	b := newSource(t, serve(t, ca, "beta-2"))
	sa, err := a.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	sb, err := b.GetX509SVID()
	if err != nil {
		t.Fatal(err)
	}
	got := []string{sa.ID.String(), sb.ID.String()}
	want := []string{"spiffe://example.org/agent/alpha/dev", "spiffe://example.org/agent/beta-2/dev"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("IDs (-want +got):\n%s", diff)
	}
}

func TestValidityFollowsClockAndTTL(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	ca := newCA(t, devca.Options{TTL: 10 * time.Hour, Now: func() time.Time { return now }})
	srv := serve(t, ca, "clock")
	root := ca.Bundle().X509Authorities()[0]
	leaf := srv.Current().Certificates[0]
	type window struct{ NotBefore, NotAfter time.Time }
	got := []window{{root.NotBefore, root.NotAfter}, {leaf.NotBefore, leaf.NotAfter}}
	want := []window{
		{now.Add(-time.Minute), now.Add(100 * time.Hour)}, // max(24h, 10*TTL)
		{now.Add(-10 * time.Second), now.Add(10 * time.Hour)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("validity (-want +got):\n%s", diff)
	}
	if ca.TTL() != 10*time.Hour {
		t.Errorf("TTL() = %v", ca.TTL())
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	ca := newCA(t, devca.Options{TTL: 2 * time.Second})
	srv := serve(t, ca, "rotor")
	source := newSource(t, srv)

	// A client that opens a stream and never reads must not hold up
	// rotation or the other clients.
	stalled, err := rawClient(t, srv).FetchX509SVID(withHeader(testCtx(t)), &workload.X509SVIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_ = stalled

	serials := map[string]bool{}
	deadline := time.After(10 * time.Second)
	for len(serials) < 3 {
		svid, err := source.GetX509SVID()
		if err != nil {
			t.Fatal(err)
		}
		serials[svid.Certificates[0].SerialNumber.String()] = true
		if _, _, err := x509svid.Verify(svid.Certificates, ca.Bundle()); err != nil {
			t.Errorf("rotated SVID does not verify: %v", err)
		}
		if len(serials) >= 3 {
			break
		}
		select {
		case <-source.Updated():
		case <-deadline:
			t.Fatalf("saw %d distinct serials before the deadline, want 3", len(serials))
		}
	}
	if n := srv.Rotations(); n < 2 {
		t.Errorf("Rotations() = %d after 3 distinct SVIDs, want >= 2", n)
	}
}

func TestSecurityHeaderAndUnimplemented(t *testing.T) {
	t.Parallel()
	ca := newCA(t, devca.Options{})
	srv := serve(t, ca, "guarded")
	client := rawClient(t, srv)
	ctx := testCtx(t)

	wantCode := func(what string, err error, code codes.Code, msg string) {
		t.Helper()
		if s := status.Convert(err); s.Code() != code || !strings.Contains(s.Message(), msg) {
			t.Errorf("%s: got %v, want %v containing %q", what, err, code, msg)
		}
	}

	stream, err := client.FetchX509SVID(ctx, &workload.X509SVIDRequest{})
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode("FetchX509SVID without header", err, codes.InvalidArgument, "security header missing from request")

	_, err = client.FetchJWTSVID(ctx, &workload.JWTSVIDRequest{Audience: []string{"x"}})
	wantCode("FetchJWTSVID without header", err, codes.InvalidArgument, "security header missing from request")

	_, err = client.FetchJWTSVID(withHeader(ctx), &workload.JWTSVIDRequest{Audience: []string{"x"}})
	wantCode("FetchJWTSVID", err, codes.Unimplemented, "devca: JWT-SVIDs are not issued by the development CA")

	_, err = client.ValidateJWTSVID(withHeader(ctx), &workload.ValidateJWTSVIDRequest{Audience: "x", Svid: "y"})
	wantCode("ValidateJWTSVID", err, codes.Unimplemented, "devca: JWT-SVIDs are not issued")

	jb, err := client.FetchJWTBundles(withHeader(ctx), &workload.JWTBundlesRequest{})
	if err == nil {
		_, err = jb.Recv()
	}
	wantCode("FetchJWTBundles", err, codes.Unimplemented, "devca: JWT-SVIDs are not issued")

	xb, err := client.FetchX509Bundles(withHeader(ctx), &workload.X509BundlesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := xb.Recv()
	if err != nil {
		t.Fatalf("FetchX509Bundles: %v", err)
	}
	want := map[string][]byte{"spiffe://example.org": ca.Bundle().X509Authorities()[0].Raw}
	if diff := cmp.Diff(want, resp.GetBundles()); diff != "" {
		t.Errorf("bundles (-want +got):\n%s", diff)
	}
}

func TestInvalidArguments(t *testing.T) {
	t.Parallel()
	ca := newCA(t, devca.Options{})

	for _, name := range []string{"", "Weather", "9lives", "-x", "a_b", "a/b", "a.b", "ünï"} {
		_, err := ca.WorkloadID(name)
		if !errors.Is(err, devca.ErrInvalidName) || !strings.Contains(err.Error(), `^[a-z][a-z0-9-]*$`) {
			t.Errorf("WorkloadID(%q) = %v, want ErrInvalidName", name, err)
		}
		if _, err := ca.Serve(t.Context(), name, filepath.Join(sockDir(t), "x.sock")); !errors.Is(err, devca.ErrInvalidName) {
			t.Errorf("Serve(%q) = %v, want ErrInvalidName", name, err)
		}
	}

	for _, ttl := range []time.Duration{-time.Hour, time.Nanosecond, 1999 * time.Millisecond} {
		if _, err := devca.New(devca.Options{TTL: ttl}); !errors.Is(err, devca.ErrTTLTooShort) ||
			!strings.HasPrefix(err.Error(), "devca: ") {
			t.Errorf("New(TTL %v) = %v, want ErrTTLTooShort", ttl, err)
		}
	}
	if ca.TTL() != time.Hour || ca.TrustDomain().String() != "example.org" {
		t.Errorf("defaults: TTL %v, trust domain %v", ca.TTL(), ca.TrustDomain())
	}

	long := filepath.Join(sockDir(t), strings.Repeat("s", 100)+".sock")
	if _, err := ca.Serve(t.Context(), "long", long); !errors.Is(err, devca.ErrSocketPathTooLong) {
		t.Errorf("Serve(long path) = %v, want ErrSocketPathTooLong", err)
	}
	if _, err := os.Lstat(long); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("long socket path was created: %v", err)
	}

	regular := filepath.Join(sockDir(t), "file")
	if err := os.WriteFile(regular, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Serve(t.Context(), "file", regular); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Serve(regular file) = %v, want a not-a-socket error", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := ca.Serve(ctx, "late", filepath.Join(sockDir(t), "late.sock")); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve(cancelled ctx) = %v, want context.Canceled", err)
	}
}

func TestSocketReuse(t *testing.T) {
	t.Parallel()
	ca := newCA(t, devca.Options{})
	path := filepath.Join(sockDir(t), "reuse.sock")

	// A socket file left behind by a dead process is replaced.
	lis, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	lis.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := lis.Close(); err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Serve(t.Context(), "reuse", path)
	if err != nil {
		t.Fatalf("Serve over a stale socket: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, %v; want 0600", fi.Mode(), err)
	}

	// A socket a live server listens on is not stolen.
	if _, err := ca.Serve(t.Context(), "thief", path); !errors.Is(err, devca.ErrSocketInUse) {
		t.Errorf("Serve over a live socket = %v, want ErrSocketInUse", err)
	}
	newSource(t, srv) // the original server still answers
}

func TestCloseEndsStreamsAndRemovesSocket(t *testing.T) {
	t.Parallel()
	ca := newCA(t, devca.Options{})
	srv, err := ca.Serve(t.Context(), "closer", filepath.Join(sockDir(t), "closer.sock"))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := rawClient(t, srv).FetchX509SVID(withHeader(testCtx(t)), &workload.X509SVIDRequest{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatalf("first Recv: %v", err)
	}
	if got := first.GetSvids()[0]; got.GetSpiffeId() != srv.ID().String() || got.GetHint() != "closer" {
		t.Errorf("first response: id %q hint %q", got.GetSpiffeId(), got.GetHint())
	}

	for range 3 {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	select {
	case <-srv.Done():
	default:
		t.Error("Done() not closed after Close")
	}
	if _, err := os.Lstat(srv.SocketPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still exists after Close: %v", err)
	}
	// The stream ends (Unavailable) rather than timing out (DeadlineExceeded).
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("Recv after Close = %v, want Unavailable", err)
	}
}

func TestContextCancelStopsServer(t *testing.T) {
	t.Parallel()
	ca := newCA(t, devca.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := ca.Serve(ctx, "ctx", filepath.Join(sockDir(t), "ctx.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := srv.Addr(), "unix://"+srv.SocketPath(); got != want {
		t.Errorf("Addr() = %q, want %q", got, want)
	}
	if got, want := srv.Env(), "SPIFFE_ENDPOINT_SOCKET="+srv.Addr(); got != want {
		t.Errorf("Env() = %q, want %q", got, want)
	}
	newSource(t, srv)
	cancel()
	select {
	case <-srv.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop after its context was cancelled")
	}
	if _, err := os.Lstat(srv.SocketPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket still exists: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
}

func TestFederatedBundleErrors(t *testing.T) {
	t.Parallel()
	own, err := devca.New(devca.Options{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := devca.New(devca.Options{TrustDomain: spiffeid.RequireTrustDomainFromString("other.org")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fed  []*x509bundle.Bundle
		want string
	}{
		{"own trust domain", []*x509bundle.Bundle{own.Bundle()}, "own trust domain"},
		{"twice", []*x509bundle.Bundle{other.Bundle(), other.Bundle()}, "given twice"},
		{"empty", []*x509bundle.Bundle{x509bundle.New(spiffeid.RequireTrustDomainFromString("third.org"))}, "no X.509 authorities"},
	}
	for _, tt := range tests {
		if _, err := devca.New(devca.Options{Federated: tt.fed}); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: New() error = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
