package observe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// DefaultAdminAddr is where [ServeAdmin] listens when given no address:
// loopback only.
const DefaultAdminAddr = "127.0.0.1:9090"

// AdminHandler serves /metrics from m and the health routes of h (see
// [Health.Handler]). A nil m or h leaves its routes out (404).
func AdminHandler(m *Metrics, h *Health) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /metrics", m.Handler())
	}
	if h != nil {
		hh := h.Handler()
		for _, paths := range [][]string{livenessPaths, readinessPaths} {
			for _, p := range paths {
				mux.Handle(p, hh)
			}
		}
	}
	return mux
}

// AdminServer serves the admin endpoints over plain HTTP on its own
// listener, apart from the agent's mTLS port.
type AdminServer struct {
	http   *http.Server
	addr   string
	done   chan struct{}
	err    error // from Serve, read after done
	closed atomic.Bool
}

// ServeAdmin listens on addr and serves handler in the background until
// [AdminServer.Shutdown] or [AdminServer.Close]; ctx bounds only the
// listen. An empty addr means [DefaultAdminAddr], and an empty host
// (":9090") means 127.0.0.1: listening on every interface takes an explicit
// "0.0.0.0:9090" or "[::]:9090". Port 0 picks a free port; see
// [AdminServer.Addr].
func ServeAdmin(ctx context.Context, addr string, handler http.Handler) (*AdminServer, error) {
	if handler == nil {
		return nil, errors.New("observe: admin server needs a handler")
	}
	if addr == "" {
		addr = DefaultAdminAddr
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && host == "" {
		addr = net.JoinHostPort("127.0.0.1", port)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("observe: admin listen on %s: %w", addr, err)
	}
	s := &AdminServer{
		http: &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
		},
		addr: ln.Addr().String(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.http.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on, with the actual port.
func (s *AdminServer) Addr() string { return s.addr }

// Shutdown stops accepting connections and waits, until ctx ends, for
// active requests to finish. If ctx ends first, call [AdminServer.Close].
// Calls after a completed Shutdown or Close return an error wrapping
// net.ErrClosed.
func (s *AdminServer) Shutdown(ctx context.Context) error {
	if s.closed.Load() {
		return fmt.Errorf("observe: admin server: %w", net.ErrClosed)
	}
	if err := s.http.Shutdown(ctx); err != nil {
		return fmt.Errorf("observe: admin server: %w", err)
	}
	return s.finish()
}

// Close closes the listener and all connections at once. Later calls
// return an error wrapping net.ErrClosed.
func (s *AdminServer) Close() error {
	if s.closed.Load() {
		return fmt.Errorf("observe: admin server: %w", net.ErrClosed)
	}
	if err := s.http.Close(); err != nil {
		return fmt.Errorf("observe: admin server: %w", err)
	}
	return s.finish()
}

// finish waits for Serve to return and reports its error, once.
func (s *AdminServer) finish() error {
	<-s.done
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("observe: admin server: %w", net.ErrClosed)
	}
	if s.err != nil {
		return fmt.Errorf("observe: admin server: %w", s.err)
	}
	return nil
}
