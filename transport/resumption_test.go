package transport_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/transport"
)

// countingCache is a client session cache that counts the sessions the
// server handed out (tickets) and the lookups the client made.
type countingCache struct {
	tls.ClientSessionCache
	puts, gets atomic.Int32
}

func newCountingCache() *countingCache {
	return &countingCache{ClientSessionCache: tls.NewLRUClientSessionCache(8)}
}

func (c *countingCache) Put(key string, cs *tls.ClientSessionState) {
	if cs != nil {
		c.puts.Add(1)
	}
	c.ClientSessionCache.Put(key, cs)
}

func (c *countingCache) Get(key string) (*tls.ClientSessionState, bool) {
	c.gets.Add(1)
	return c.ClientSessionCache.Get(key)
}

// TestNoSessionResumption: a client that keeps a session cache and
// reconnects is never resumed by a transport.Server: the server issues no
// session ticket, so every connection is a full handshake that verifies
// the client's current certificate. A control server, the same TLS
// configuration with tickets on, resumes the same client, so the test
// would see a resumption if the server allowed one. Our own client keeps
// no session cache.
func TestNoSessionResumption(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	serverSrc := ca.Source(ca.CreateX509SVID(serverID))
	quiet := slog.New(slog.DiscardHandler)

	for _, tt := range []struct {
		name    string
		version uint16
		proto   string
	}{
		{"TLS 1.3, HTTP/2", tls.VersionTLS13, "HTTP/2.0"},
		{"TLS 1.3, HTTP/1.1", tls.VersionTLS13, "HTTP/1.1"},
		{"TLS 1.2, HTTP/2", tls.VersionTLS12, "HTTP/2.0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := transport.TLSOptions{MinVersion: tt.version, Logger: quiet}
			// twice connects a client with a session cache, closes its
			// connection and connects again; it returns whether each
			// handshake was resumed and how many tickets the client got.
			twice := func(t *testing.T, url string) (first, second bool, tickets int32) {
				t.Helper()
				rt, err := transport.NewRoundTripper(ca.Source(ca.CreateX509SVID(clientID)), spiffeid.MatchID(serverID), transport.ClientOptions{TLSOptions: opts})
				if err != nil {
					t.Fatal(err)
				}
				if rt.TLSClientConfig.ClientSessionCache != nil {
					t.Fatal("transport.NewRoundTripper keeps a TLS session cache, want none")
				}
				cache := newCountingCache()
				rt.TLSClientConfig.ClientSessionCache = cache
				rt.TLSClientConfig.MaxVersion = tt.version
				if tt.proto == "HTTP/1.1" {
					var p http.Protocols
					p.SetHTTP1(true)
					rt.Protocols = &p
				}
				c := &http.Client{Transport: rt}
				t.Cleanup(c.CloseIdleConnections)
				resumed := make([]bool, 2)
				for i := range resumed {
					// The whole response is read, so that a TLS 1.3 ticket,
					// sent after the handshake, has reached the cache.
					body, state, err := get(t, c, url)
					if err != nil {
						t.Fatalf("connection %d: GET error = %v", i+1, err)
					}
					if want := tt.proto + " " + clientID.String(); body != want {
						t.Fatalf("connection %d: body = %q, want %q", i+1, body, want)
					}
					if state.Version != tt.version {
						t.Fatalf("connection %d: TLS version %#x, want %#x", i+1, state.Version, tt.version)
					}
					resumed[i] = state.DidResume
					c.CloseIdleConnections()
				}
				if cache.gets.Load() < 2 {
					t.Fatalf("the client looked up its session cache %d times, want 2: the test does not attempt resumption", cache.gets.Load())
				}
				return resumed[0], resumed[1], cache.puts.Load()
			}

			t.Run("transport.Server", func(t *testing.T) {
				t.Parallel()
				srv := startServer(t, serverSrc, identity.MatchPatterns(callers), transport.ServerOptions{TLSOptions: opts})
				first, second, tickets := twice(t, srv.url)
				if first || second {
					t.Errorf("DidResume = %v, %v; want false, false (session tickets off)", first, second)
				}
				if tickets != 0 {
					t.Errorf("the server issued %d session tickets, want 0", tickets)
				}
			})
			t.Run("control: tickets on", func(t *testing.T) {
				t.Parallel()
				cfg, err := transport.ServerTLSConfig(serverSrc, identity.MatchPatterns(callers), opts)
				if err != nil {
					t.Fatal(err)
				}
				cfg.SessionTicketsDisabled = false
				first, second, tickets := twice(t, serveWithTickets(t, cfg))
				if first || !second || tickets == 0 {
					t.Fatalf("with tickets on: DidResume = %v, %v, %d tickets; want false, true, > 0 (else the test cannot see a resumption)", first, second, tickets)
				}
			})
		})
	}
}

// serveWithTickets serves the peer-ID echo of startServer with a plain http.Server
// over cfg on a loopback port until the test ends, and returns its URL.
func serveWithTickets(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := identity.PeerIDFromConnectionState(r.TLS)
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, r.Proto+" "+id.String())
	})
	ln, err := (&net.ListenConfig{}).Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h, TLSConfig: cfg, ReadHeaderTimeout: transport.DefaultReadHeaderTimeout}
	done := make(chan error, 1)
	go func() { done <- hs.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS() = %v, want http.ErrServerClosed", err)
		}
	})
	return "https://" + ln.Addr().String() + "/"
}
