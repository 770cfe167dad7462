package observe_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/agentweave/agentweave-go/observe"
)

// fakeCollector is an OTLP/gRPC trace collector on loopback.
type fakeCollector struct {
	collectortrace.UnimplementedTraceServiceServer
	addr string

	mu   sync.Mutex
	reqs []*collectortrace.ExportTraceServiceRequest
}

func newFakeCollector(t *testing.T, opts ...grpc.ServerOption) *fakeCollector {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCollector{addr: ln.Addr().String()}
	srv := grpc.NewServer(opts...)
	collectortrace.RegisterTraceServiceServer(srv, c)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return c
}

func (c *fakeCollector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, req)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// received returns the names of the spans received and the service.name of
// their resources.
func (c *fakeCollector) received() (names, services []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, req := range c.reqs {
		for _, rs := range req.GetResourceSpans() {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.GetKey() == "service.name" {
					services = append(services, kv.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.GetScopeSpans() {
				for _, s := range ss.GetSpans() {
					names = append(names, s.GetName())
				}
			}
		}
	}
	return names, services
}

// exportOne records one span through opts and shuts down, which flushes.
func exportOne(t *testing.T, opts observe.TracingOptions) {
	t.Helper()
	tr, err := observe.NewTracing(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tr.Tracer().Start(t.Context(), "capability")
	span.End()
	// A failed export is retried until ctx ends: bound it.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if err := tr.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown() = %v, want nil", err)
	}
}

func checkReceived(t *testing.T, c *fakeCollector) {
	t.Helper()
	names, services := c.received()
	if len(names) != 1 || names[0] != "capability" || len(services) != 1 || services[0] != "search" {
		t.Errorf("collector got spans %v from services %v, want [capability] from [search]", names, services)
	}
}

// A loopback endpoint gets plaintext gRPC.
func TestTracingOTLPLoopbackPlaintext(t *testing.T) {
	t.Parallel()
	col := newFakeCollector(t)
	exportOne(t, observe.TracingOptions{Enabled: true, Endpoint: col.addr, SampleRatio: 1, ServiceName: "search"})
	checkReceived(t, col)
}

// With "https://" (or any non-loopback host) the exporter speaks TLS;
// TLSConfig supplies a private CA.
func TestTracingOTLPTLS(t *testing.T) {
	t.Parallel()
	cert, pool := selfSigned(t)
	col := newFakeCollector(t, grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	exportOne(t, observe.TracingOptions{
		Enabled: true, Endpoint: "https://" + col.addr, SampleRatio: 1, ServiceName: "search",
		TLSConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
	})
	checkReceived(t, col)
}

// selfSigned returns a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "collector"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
