package transport_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

var (
	td      = spiffeid.RequireTrustDomainFromString("example.org")
	otherTD = spiffeid.RequireTrustDomainFromString("other.org")
	// Server and client IDs follow spiffe://TD/agent/NAME/ENV.
	serverID = spiffeid.RequireFromString("spiffe://example.org/agent/search/dev")
	clientID = spiffeid.RequireFromString("spiffe://example.org/agent/orchestrator/dev")
	callers  = identity.MustParsePattern("spiffe://example.org/agent/orchestrator/*")
)

// handshakeLog collects the server's handshake failures.
type handshakeLog struct {
	mu      sync.Mutex
	details []string
}

func (h *handshakeLog) add(d string) { h.mu.Lock(); h.details = append(h.details, d); h.mu.Unlock() }

// wait polls until a failure containing want was recorded.
func (h *handshakeLog) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		for _, d := range h.details {
			if strings.Contains(d, want) {
				h.mu.Unlock()
				return
			}
		}
		h.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	t.Fatalf("server handshake errors = %q, want one containing %q", h.details, want)
}

type testServer struct {
	url  string
	addr string
	log  *handshakeLog
}

// startServer serves an echo of the caller's SPIFFE ID over mTLS.
func startServer(t *testing.T, src identity.Source, authorize spiffeid.Matcher, opts transport.ServerOptions) *testServer {
	t.Helper()
	hl := &handshakeLog{}
	opts.OnHandshakeError = hl.add
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := identity.PeerIDFromContext(r.Context())
		if !ok {
			t.Errorf("handler: no peer ID in context")
		}
		_, _ = io.WriteString(w, r.Proto+" "+id.String())
	})
	srv, err := transport.NewServer(src, authorize, h, opts)
	if err != nil {
		t.Fatalf("NewServer() error = %v", err)
	}
	addr := serveLoopback(t, srv)
	return &testServer{url: "https://" + addr + "/", addr: addr, log: hl}
}

// serveLoopback serves srv on a loopback port until the test ends, then
// checks that Serve returned as a closed server should; it returns the
// address.
func serveLoopback(t *testing.T, srv *transport.Server) string {
	t.Helper()
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve() = %v, want http.ErrServerClosed", err)
		}
	})
	return ln.Addr().String()
}

// get returns the body of a GET and the connection state it came over.
func get(t *testing.T, c *http.Client, url string) (string, *tls.ConnectionState, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b), resp.TLS, nil
}

func newStatic(t *testing.T, svid *x509svid.SVID, bundles ...*x509bundle.Bundle) *identity.StaticSource {
	t.Helper()
	s, err := identity.NewStaticSource(svid, bundles, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestMutualTLS(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	srv := startServer(t, newStatic(t, ca.CreateX509SVID(serverID), ca.Bundle()), identity.MatchPatterns(callers), transport.ServerOptions{})
	c, err := transport.NewClient(newStatic(t, ca.CreateX509SVID(clientID), ca.Bundle()), spiffeid.MatchID(serverID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	body, state, err := get(t, c, srv.url)
	if err != nil {
		t.Fatalf("GET error = %v", err)
	}
	if want := "HTTP/2.0 " + clientID.String(); body != want {
		t.Errorf("server saw %q, want %q", body, want)
	}
	if v := state.Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version = %#x, want TLS 1.3", v)
	}
	// A second request reuses the pooled connection.
	var conns sync.Map
	for range 3 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.url, nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { conns.Store(i.Conn, i.Reused) },
		}))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("GET error = %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if got, err := transport.PeerID(resp); err != nil || got != serverID {
			t.Errorf("PeerID() = %v, %v; want %v", got, err, serverID)
		}
	}
	n := 0
	conns.Range(func(_, _ any) bool { n++; return true })
	if n != 1 {
		t.Errorf("3 requests used %d connections, want 1 (reuse)", n)
	}
}

// TestRefused shows that each bad client is refused at the handshake, and
// that the server says why.
func TestRefused(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	other := identitytest.NewCA(t, otherTD)
	rogue := identitytest.NewCA(t, td) // same trust domain name, different key
	// The server holds the other trust domain's bundle but does not allow it.
	srv := startServer(t, newStatic(t, ca.CreateX509SVID(serverID), ca.Bundle(), other.Bundle()),
		identity.MatchPatterns(callers), transport.ServerOptions{})

	tests := []struct {
		name       string
		cert       *tls.Certificate // nil: no client certificate
		maxVersion uint16
		wantServer string // in the server's handshake error
	}{
		{name: "no client certificate", wantServer: "client didn't provide a certificate"},
		{name: "wrong trust domain", cert: ptr(identitytest.TLSCertificate(other.CreateX509SVID(spiffeid.RequireFromString("spiffe://other.org/agent/orchestrator/dev")))), wantServer: `trust domain not allowed: "other.org"`},
		{name: "expired", cert: ptr(identitytest.TLSCertificate(ca.CreateX509SVID(clientID, identitytest.Expired()))), wantServer: "certificate has expired or is not yet valid"},
		{name: "not yet valid", cert: ptr(identitytest.TLSCertificate(ca.CreateX509SVID(clientID, identitytest.NotYetValid()))), wantServer: "certificate has expired or is not yet valid"},
		{name: "no SPIFFE ID", cert: ptr(ca.CreateCertificate(identitytest.CertOptions{DNSNames: []string{"orchestrator.example.org"}})), wantServer: "certificate contains no URI SAN"},
		{name: "SPIFFE ID in CN", cert: ptr(ca.CreateCertificate(identitytest.CertOptions{CommonName: clientID.String()})), wantServer: "certificate contains no URI SAN"},
		{name: "two URI SANs", cert: ptr(ca.CreateCertificate(identitytest.CertOptions{URIs: []string{clientID.String(), serverID.String()}})), wantServer: "more than one URI SAN"},
		{name: "untrusted CA", cert: ptr(identitytest.TLSCertificate(rogue.CreateX509SVID(clientID))), wantServer: "certificate signed by unknown authority"},
		{name: "unauthorized ID", cert: ptr(identitytest.TLSCertificate(ca.CreateX509SVID(ca.ID("agent", "orchestrator", "dev", "admin")))), wantServer: "is not authorized"},
		{name: "TLS 1.2 only", cert: ptr(identitytest.TLSCertificate(ca.CreateX509SVID(clientID))), maxVersion: tls.VersionTLS12, wantServer: "client offered only unsupported versions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := &tls.Config{InsecureSkipVerify: true, MaxVersion: tt.maxVersion, MinVersion: tls.VersionTLS12} //nolint:gosec // a hostile client
			if tt.cert != nil {
				cfg.Certificates = []tls.Certificate{*tt.cert}
			}
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true}}
			defer c.CloseIdleConnections()
			body, _, err := get(t, c, srv.url)
			if err == nil {
				t.Fatalf("GET succeeded (%q), want a handshake failure", body)
			}
			srv.log.wait(t, tt.wantServer)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestClientRefusesServer shows the client side: a server whose ID the
// client does not expect, or from an untrusted CA, is refused with
// ErrPeerRejected and nothing is sent.
func TestClientRefusesServer(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	rogue := identitytest.NewCA(t, td)
	tests := []struct {
		name   string
		server *x509svid.SVID
		want   string
	}{
		{name: "other ID", server: ca.CreateX509SVID(ca.ID("agent", "impostor", "dev")), want: "server spiffe://example.org/agent/impostor/dev is not authorized"},
		{name: "untrusted CA", server: rogue.CreateX509SVID(serverID), want: "certificate signed by unknown authority"},
		{name: "expired", server: ca.CreateX509SVID(serverID, identitytest.Expired()), want: "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, newStatic(t, tt.server, ca.Bundle(), rogue.Bundle()), spiffeid.MatchAny(), transport.ServerOptions{})
			var rejected []error
			var mu sync.Mutex
			c, err := transport.NewClient(newStatic(t, ca.CreateX509SVID(clientID), ca.Bundle()), spiffeid.MatchID(serverID),
				transport.ClientOptions{TLSOptions: transport.TLSOptions{OnReject: func(err error) { mu.Lock(); rejected = append(rejected, err); mu.Unlock() }}})
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = get(t, c, srv.url)
			if !errors.Is(err, transport.ErrPeerRejected) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("GET error = %v, want ErrPeerRejected containing %q", err, tt.want)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(rejected) != 1 {
				t.Errorf("OnReject called %d times, want 1", len(rejected))
			}
		})
	}
}

// TestRotationWithoutRestart: a new SVID in the source is presented on the
// next handshake, with no restart of the server.
func TestRotationWithoutRestart(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	first := ca.CreateX509SVID(serverID)
	src := ca.Source(first)
	srv := startServer(t, src, identity.MatchPatterns(callers), transport.ServerOptions{})
	c, err := transport.NewClient(ca.Source(ca.CreateX509SVID(clientID)), spiffeid.MatchID(serverID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		t.Helper()
		c.CloseIdleConnections() // force a new handshake
		_, state, err := get(t, c, srv.url)
		if err != nil {
			t.Fatalf("GET error = %v", err)
		}
		return state.PeerCertificates[0].SerialNumber.String()
	}
	if got, want := serial(), first.Certificates[0].SerialNumber.String(); got != want {
		t.Fatalf("serial = %s, want %s", got, want)
	}
	second := ca.CreateX509SVID(serverID)
	src.SetX509SVID(second)
	if got, want := serial(), second.Certificates[0].SerialNumber.String(); got != want {
		t.Fatalf("after rotation serial = %s, want %s", got, want)
	}
}

func TestTLSVersions(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	src := ca.Source(ca.CreateX509SVID(serverID))
	if _, err := transport.ServerTLSConfig(src, spiffeid.MatchAny(), transport.TLSOptions{MinVersion: tls.VersionTLS11}); err == nil {
		t.Error("ServerTLSConfig(TLS 1.1) succeeded, want an error")
	}
	if _, err := transport.ClientTLSConfig(src, spiffeid.MatchAny(), transport.TLSOptions{MinVersion: tls.VersionTLS10}); err == nil {
		t.Error("ClientTLSConfig(TLS 1.0) succeeded, want an error")
	}
	for _, s := range []string{"1.0", "1.1", "1.4", "", "TLS1.3"} {
		if _, err := transport.ParseTLSVersion(s); err == nil {
			t.Errorf("ParseTLSVersion(%q) succeeded, want an error", s)
		}
	}
	// TLS 1.3 (the default) is allowed silently; 1.2 with a warning, once
	// for each configuration that allows it.
	const warning = "TLS 1.2 is allowed"
	for _, v := range []uint16{0, tls.VersionTLS13} {
		logs := &recordLog{}
		opts := transport.TLSOptions{MinVersion: v, Logger: slog.New(logs)}
		if _, err := transport.ServerTLSConfig(src, spiffeid.MatchAny(), opts); err != nil {
			t.Fatalf("ServerTLSConfig(%#x) error = %v", v, err)
		}
		if _, err := transport.ClientTLSConfig(src, spiffeid.MatchAny(), opts); err != nil {
			t.Fatalf("ClientTLSConfig(%#x) error = %v", v, err)
		}
		if n := logs.count(slog.LevelWarn, warning); n != 0 {
			t.Errorf("MinVersion %#x: %d warnings containing %q, want 0", v, n, warning)
		}
	}
	// With 1.2 allowed explicitly, a 1.2-only client gets through.
	serverLog, clientLog := &recordLog{}, &recordLog{}
	tls12 := transport.TLSOptions{MinVersion: tls.VersionTLS12, Logger: slog.New(serverLog)}
	srv := startServer(t, src, identity.MatchPatterns(callers), transport.ServerOptions{TLSOptions: tls12})
	tls12.Logger = slog.New(clientLog)
	rt, err := transport.NewRoundTripper(ca.Source(ca.CreateX509SVID(clientID)), spiffeid.MatchID(serverID), transport.ClientOptions{TLSOptions: tls12})
	if err != nil {
		t.Fatal(err)
	}
	for side, logs := range map[string]*recordLog{"NewServer": serverLog, "NewRoundTripper": clientLog} {
		if n := logs.count(slog.LevelWarn, warning); n != 1 {
			t.Errorf("%s with MinVersion TLS 1.2: %d warnings containing %q, want 1; logged: %q", side, n, warning, logs.messages())
		}
	}
	rt.TLSClientConfig.MaxVersion = tls.VersionTLS12
	_, state, err := get(t, &http.Client{Transport: rt}, srv.url)
	if err != nil {
		t.Fatalf("GET over TLS 1.2 error = %v", err)
	}
	if state.Version != tls.VersionTLS12 {
		t.Errorf("TLS version = %#x, want 1.2", state.Version)
	}
}

// TestSlowClientDisconnected: a client that connects and never finishes
// its handshake or headers is cut off by the server's timeout.
func TestSlowClientDisconnected(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	srv := startServer(t, ca.Source(ca.CreateX509SVID(serverID)), identity.MatchPatterns(callers),
		transport.ServerOptions{ReadHeaderTimeout: 300 * time.Millisecond})
	for _, name := range []string{"silent TCP", "silent after handshake"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			conn, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", srv.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if name == "silent after handshake" {
				cfg, err := transport.ClientTLSConfig(ca.Source(ca.CreateX509SVID(clientID)), spiffeid.MatchID(serverID), transport.TLSOptions{})
				if err != nil {
					t.Fatal(err)
				}
				cfg.NextProtos = []string{"http/1.1"}
				tc := tls.Client(conn, cfg)
				if err := tc.HandshakeContext(t.Context()); err != nil {
					t.Fatalf("handshake: %v", err)
				}
				conn = tc
			}
			start := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
			if err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
				t.Fatalf("Read() = %v, want the server to close the connection", err)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("server closed after %v, want about 300ms", d)
			}
		})
	}
}

// recordLog is a slog.Handler that keeps every record's level and message.
type recordLog struct {
	mu      sync.Mutex
	records []slog.Record
}

func (*recordLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *recordLog) WithAttrs([]slog.Attr) slog.Handler     { return l }
func (l *recordLog) WithGroup(string) slog.Handler          { return l }

func (l *recordLog) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}

// count returns the number of records at level whose message contains
// substr.
func (l *recordLog) count(level slog.Level, substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.records {
		if r.Level == level && strings.Contains(r.Message, substr) {
			n++
		}
	}
	return n
}

func (l *recordLog) messages() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.records))
	for _, r := range l.records {
		out = append(out, r.Level.String()+" "+r.Message)
	}
	return out
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestClientNeverUsesProxy: agent traffic never goes through an HTTP proxy
// named in the environment (it would see who talks to whom). Loopback is
// exempt from proxies anyway, so this checks the transport's setting.
func TestClientNeverUsesProxy(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	rt, err := transport.NewRoundTripper(ca.Source(ca.CreateX509SVID(clientID)), spiffeid.MatchID(serverID), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rt.Proxy != nil {
		t.Error("RoundTripper.Proxy is set, want nil (no proxy, whatever the environment says)")
	}
}
