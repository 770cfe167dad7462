package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/agentweave/agentweave-go/internal/growstack"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
)

// Server timeouts and limits used when [ServerOptions] leaves them zero.
const (
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxConcurrentStreams = 250
)

// ServerOptions configures a [Server]. The zero value is a production
// default.
type ServerOptions struct {
	TLSOptions
	// ReadHeaderTimeout bounds the TLS handshake plus reading a request's
	// headers; a client that stalls is disconnected. Default 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included. Default: none
	// (bodies are bounded by size at the handler).
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response. Default: none, so streams (SSE)
	// can stay open; they end with their context.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Default 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers. Default 64 KiB.
	MaxHeaderBytes int
	// MaxConcurrentStreams bounds HTTP/2 streams per connection. Default 250.
	MaxConcurrentStreams int
	// OnHandshakeError, when set, is called with the description of every
	// failed TLS handshake, including those refused by the TLS stack itself
	// (no client certificate, an unsupported TLS version). It must be safe
	// for concurrent use.
	OnHandshakeError func(detail string)
}

// Server serves HTTP over mutual TLS. Every request that reaches the handler
// comes from a peer whose X509-SVID was verified and authorized during the
// handshake and is still valid when the request arrives; its SPIFFE ID is in
// the request context ([identity.PeerIDFromContext]).
//
// A connection lives no longer than the certificates it was established
// with: a request on a connection whose client certificate has expired is
// refused with 401 Unauthorized and the connection is closed; a connection
// is closed when its client's or this server's certificate expires, even if
// idle; shortly before that (a tenth of the certificate's lifetime, at most a
// minute) its responses ask the client to reconnect, which a client that has
// rotated its SVID does without losing a request.
type Server struct {
	http *http.Server
	log  *slog.Logger
	// keepExpired leaves connections open past their certificates' expiry
	// (requests are still refused): tests set it to reach the per-request
	// check.
	keepExpired bool
}

// NewServer returns a server that presents src's SVID, accepts clients
// authorize allows, and serves handler.
func NewServer(src identity.Source, authorize spiffeid.Matcher, handler http.Handler, opts ServerOptions) (*Server, error) {
	if handler == nil {
		return nil, errors.New("transport: server needs a handler")
	}
	lg := opts.Logger
	if lg == nil {
		lg = slog.Default()
	}
	lg = lg.With("component", "transport")
	cfg, err := ServerTLSConfig(src, authorize, opts.TLSOptions)
	if err != nil {
		return nil, err
	}
	if cfg.GetCertificate != nil {
		cfg.GetCertificate = recordOwn(cfg.GetCertificate)
	}
	h2 := &http.HTTP2Config{MaxConcurrentStreams: or(opts.MaxConcurrentStreams, DefaultMaxConcurrentStreams)}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	s := &Server{log: lg}
	s.http = &http.Server{
		Handler:           withPeerID(handler, lg),
		TLSConfig:         cfg,
		ReadHeaderTimeout: or(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       or(opts.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    or(opts.MaxHeaderBytes, DefaultMaxHeaderBytes),
		HTTP2:             h2,
		Protocols:         &protocols,
		ErrorLog:          log.New(errorLogWriter{lg, opts.OnHandshakeError}, "", 0),
		ConnContext:       connContext,
		ConnState:         s.connState,
	}
	return s, nil
}

// connState arms each connection's expiry once net/http reports it active,
// which is after its handshake.
func (s *Server) connState(c net.Conn, state http.ConnState) {
	if state != http.StateActive {
		return
	}
	tc, ok := c.(*tls.Conn)
	if !ok {
		return
	}
	if t, ok := tc.NetConn().(*trackedConn); ok && !t.armed() {
		t.arm(tc, s.keepExpired)
	}
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Serve accepts connections on ln (a plain TCP listener: the server does TLS)
// until [Server.Shutdown] or [Server.Close]. It returns http.ErrServerClosed
// after a shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.http.ServeTLS(trackingListener{ln}, "", "")
}

// ListenAndServe listens on the TCP address addr and serves.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		return fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	return s.Serve(ln)
}

// Shutdown stops accepting connections and waits, until ctx ends, for active
// requests to finish.
func (s *Server) Shutdown(ctx context.Context) error { return s.http.Shutdown(ctx) }

// Close closes all listeners and connections at once.
func (s *Server) Close() error { return s.http.Close() }

// withPeerID puts the verified peer ID in the request context. A request on a
// connection without one cannot happen through [ServerTLSConfig]; it is
// refused rather than served anonymously. So is a request on a connection
// whose client certificate, verified at the handshake, has expired since (or
// is not valid yet): 401, and the connection is told to close. On a
// connection that is draining (see [Server]) the response carries
// "Connection: close", which net/http sends as a graceful GOAWAY on HTTP/2.
func withPeerID(next http.Handler, lg *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		growstack.Grow()
		id, err := identity.PeerIDFromConnectionState(r.TLS)
		if err != nil {
			http.Error(w, "no verified client identity", http.StatusUnauthorized)
			return
		}
		now := time.Now()
		if leaf := r.TLS.PeerCertificates[0]; now.After(leaf.NotAfter) || now.Before(leaf.NotBefore) {
			refuseInvalidPeer(w, lg, leaf, id, now)
			return
		}
		ctx := r.Context()
		if c := trackedConnFrom(ctx); c != nil && c.draining(now) {
			w.Header().Set("Connection", "close")
		}
		next.ServeHTTP(w, r.WithContext(identity.WithPeerID(ctx, id)))
	})
}

// errorLogWriter sends net/http's server log lines (TLS handshake errors
// among them) to slog.
type errorLogWriter struct {
	log         *slog.Logger
	onHandshake func(string)
}

func (w errorLogWriter) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	if detail, ok := strings.CutPrefix(msg, "http: TLS handshake error from "); ok {
		w.log.Warn("mTLS handshake refused", "detail", detail)
		if w.onHandshake != nil {
			w.onHandshake(detail)
		}
	} else {
		w.log.Warn("http server", "detail", msg)
	}
	return len(p), nil
}
