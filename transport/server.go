package transport

import (
	"context"
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
// handshake; its SPIFFE ID is in the request context
// ([identity.PeerIDFromContext]).
type Server struct {
	http *http.Server
	log  *slog.Logger
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
	h2 := &http.HTTP2Config{MaxConcurrentStreams: or(opts.MaxConcurrentStreams, DefaultMaxConcurrentStreams)}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	s := &Server{log: lg}
	s.http = &http.Server{
		Handler:           withPeerID(handler),
		TLSConfig:         cfg,
		ReadHeaderTimeout: or(opts.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		ReadTimeout:       opts.ReadTimeout,
		WriteTimeout:      opts.WriteTimeout,
		IdleTimeout:       or(opts.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    or(opts.MaxHeaderBytes, DefaultMaxHeaderBytes),
		HTTP2:             h2,
		Protocols:         &protocols,
		ErrorLog:          log.New(errorLogWriter{lg, opts.OnHandshakeError}, "", 0),
	}
	return s, nil
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
	return s.http.ServeTLS(ln, "", "")
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
// refused rather than served anonymously.
func withPeerID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		growstack.Grow()
		id, err := identity.PeerIDFromConnectionState(r.TLS)
		if err != nil {
			http.Error(w, "no verified client identity", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(identity.WithPeerID(r.Context(), id)))
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
