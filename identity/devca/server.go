package devca

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
	"google.golang.org/grpc"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
)

const (
	// rotateRetry is how long the server waits before retrying a failed
	// rotation; the previous SVID keeps being served meanwhile.
	rotateRetry = time.Second
	// gracefulTimeout bounds how long Close waits for clients before it cuts
	// their connections.
	gracefulTimeout = time.Second
	// staleDialTimeout bounds the probe of an existing socket file.
	staleDialTimeout = 200 * time.Millisecond
)

// Server is a SPIFFE Workload API server for one development workload,
// listening on a unix socket. Every client of the socket gets the workload's
// X509-SVID. Create one with [CA.Serve].
type Server struct {
	ca   *CA
	name string
	id   spiffeid.ID
	path string
	gs   *grpc.Server

	mu         sync.Mutex
	svid       *x509svid.SVID
	svidResp   *workload.X509SVIDResponse
	bundleResp *workload.X509BundlesResponse
	changed    chan struct{} // closed (and replaced) on every rotation

	rotations atomic.Uint64

	closeOnce sync.Once
	closeReq  chan struct{} // closed to ask the run goroutine to stop
	stopping  chan struct{} // closed when shutdown starts: streams return
	serveDone chan struct{} // closed when grpc.Server.Serve has returned
	done      chan struct{} // closed when everything has stopped
	serveErr  error         // written before serveDone is closed
	closeErr  error         // written before done is closed
}

// Serve starts a Workload API server for the workload called name on a unix
// socket at socketPath, and returns once the socket is listening.
//
// The socket (mode 0600) is created, along with its parent directory if
// missing; a stale socket file left by a previous run is removed first, but
// Serve refuses a path a live server listens on ([ErrSocketInUse]), a path
// that exists and is not a socket, and an absolute path longer than
// [MaxSocketPathLen] bytes ([ErrSocketPathTooLong]).
//
// The server issues a fresh X509-SVID whenever half of the CA's TTL has
// passed and streams it to every client. It stops when ctx is done or
// [Server.Close] is called.
func (ca *CA) Serve(ctx context.Context, name, socketPath string) (*Server, error) {
	id, err := ca.WorkloadID(name)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("devca: serve %q: %w", name, err)
	}
	path, err := filepath.Abs(socketPath)
	if err != nil {
		return nil, fmt.Errorf("devca: socket path %q: %w", socketPath, err)
	}
	if len(path) > MaxSocketPathLen {
		return nil, fmt.Errorf("%w: %q is %d bytes, the limit is %d; use a shorter directory such as os.MkdirTemp(\"\", \"aw-\")",
			ErrSocketPathTooLong, path, len(path), MaxSocketPathLen)
	}

	s := &Server{
		ca:        ca,
		name:      name,
		id:        id,
		path:      path,
		changed:   make(chan struct{}),
		closeReq:  make(chan struct{}),
		stopping:  make(chan struct{}),
		serveDone: make(chan struct{}),
		done:      make(chan struct{}),
	}
	if err := s.mint(false); err != nil {
		return nil, err
	}
	lis, err := listenUnix(ctx, path)
	if err != nil {
		return nil, err
	}

	s.gs = grpc.NewServer(
		grpc.ChainUnaryInterceptor(unaryHeaderCheck),
		grpc.ChainStreamInterceptor(streamHeaderCheck),
	)
	workload.RegisterSpiffeWorkloadAPIServer(s.gs, &service{s: s})

	go s.serve(lis)
	go s.run(ctx)
	return s, nil
}

// ID returns the SPIFFE ID the server issues X509-SVIDs for.
func (s *Server) ID() spiffeid.ID { return s.id }

// Name returns the workload name the server was started for.
func (s *Server) Name() string { return s.name }

// SocketPath returns the absolute path of the server's unix socket.
func (s *Server) SocketPath() string { return s.path }

// Addr returns the Workload API address of the server, "unix:///abs/path",
// as accepted by go-spiffe's workloadapi.WithAddr and by the
// SPIFFE_ENDPOINT_SOCKET environment variable.
func (s *Server) Addr() string {
	return (&url.URL{Scheme: "unix", Path: s.path}).String()
}

// Env returns "SPIFFE_ENDPOINT_SOCKET=<Addr>", ready to append to the
// environment of a child process.
func (s *Server) Env() string { return "SPIFFE_ENDPOINT_SOCKET=" + s.Addr() }

// Current returns the X509-SVID being served now. It is shared: do not
// modify it.
func (s *Server) Current() *x509svid.SVID {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svid
}

// Rotations returns how many times the SVID has been re-minted since Serve.
func (s *Server) Rotations() uint64 { return s.rotations.Load() }

// Done returns a channel that is closed once the server has stopped, after
// Close or when the context passed to Serve is done.
func (s *Server) Done() <-chan struct{} { return s.done }

// Close stops the server: open streams end, the gRPC server stops and the
// socket file is removed. It waits for all of the server's goroutines to
// exit. It is idempotent and safe for concurrent use; every call returns the
// same result.
func (s *Server) Close() error {
	s.requestClose()
	<-s.done
	return s.closeErr
}

func (s *Server) requestClose() {
	s.closeOnce.Do(func() { close(s.closeReq) })
}

func (s *Server) serve(lis net.Listener) {
	defer close(s.serveDone)
	if err := s.gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		s.serveErr = fmt.Errorf("devca: serve %s: %w", s.path, err)
		s.requestClose()
	}
}

// run is the server's only long-lived goroutine besides grpc.Server.Serve:
// it rotates the SVID on a timer and shuts everything down at the end.
func (s *Server) run(ctx context.Context) {
	defer close(s.done)

	timer := time.NewTimer(s.ca.ttl / 2)
	defer timer.Stop()
loop:
	for {
		select {
		case <-timer.C:
			next := s.ca.ttl / 2
			if err := s.mint(true); err != nil {
				next = rotateRetry // keep serving the previous SVID
			}
			timer.Reset(next)
		case <-ctx.Done():
			break loop
		case <-s.closeReq:
			break loop
		}
	}

	close(s.stopping) // streaming handlers return
	stopped := make(chan struct{})
	go func() {
		s.gs.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(gracefulTimeout):
		s.gs.Stop() // a client is not reading; cut its connection
		<-stopped
	}
	<-s.serveDone

	err := s.serveErr
	if rmErr := os.Remove(s.path); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		err = errors.Join(err, fmt.Errorf("devca: remove socket: %w", rmErr))
	}
	s.closeErr = err
}

// mint issues a new X509-SVID and publishes it to all streams. rotation
// tells whether it replaces a previous SVID.
func (s *Server) mint(rotation bool) error {
	now := s.ca.now()
	notAfter := now.Add(s.ca.ttl)
	if rootNotAfter := s.ca.pki.Certificate().NotAfter; notAfter.After(rootNotAfter) {
		notAfter = rootNotAfter
	}
	if !notAfter.After(now) {
		return fmt.Errorf("devca: issue SVID for %s: CA root expired at %s", s.id, notAfter)
	}
	svid, err := s.ca.pki.IssueSVID(s.id, now.Add(-svidBackdate), notAfter)
	if err != nil {
		return fmt.Errorf("devca: issue SVID for %s: %w", s.id, err)
	}
	svid.Hint = s.name
	certsDER, keyDER, err := svid.MarshalRaw()
	if err != nil {
		return fmt.Errorf("devca: marshal SVID for %s: %w", s.id, err)
	}
	bundleDER := s.ca.pki.Certificate().Raw

	s.mu.Lock()
	defer s.mu.Unlock()
	s.svid = svid
	s.svidResp = &workload.X509SVIDResponse{
		Svids: []*workload.X509SVID{{
			SpiffeId:    s.id.String(),
			X509Svid:    certsDER,
			X509SvidKey: keyDER,
			Bundle:      bundleDER,
			Hint:        s.name,
		}},
		FederatedBundles: s.ca.federated,
	}
	bundles := map[string][]byte{s.ca.td.IDString(): bundleDER}
	for k, v := range s.ca.federated {
		bundles[k] = v
	}
	s.bundleResp = &workload.X509BundlesResponse{Bundles: bundles}
	if rotation {
		s.rotations.Add(1)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return nil
}

// snapshot returns the current responses and a channel closed on the next
// rotation. Waiting on that channel and re-reading the snapshot gives each
// stream the latest SVID without the rotator ever blocking on a slow client.
func (s *Server) snapshot() (*workload.X509SVIDResponse, *workload.X509BundlesResponse, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.svidResp, s.bundleResp, s.changed
}

// listenUnix listens on a unix socket at path (absolute), removing a stale
// socket file first.
func listenUnix(ctx context.Context, path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("devca: create socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("devca: %s exists and is not a socket", path)
		}
		if c, err := (&net.Dialer{Timeout: staleDialTimeout}).DialContext(ctx, "unix", path); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("%w: a server is listening on %s", ErrSocketInUse, path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("devca: remove stale socket: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("devca: socket path: %w", err)
	}

	lis, err := (&net.ListenConfig{}).Listen(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("devca: listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		_ = lis.Close()
		return nil, fmt.Errorf("devca: chmod socket: %w", err)
	}
	return lis, nil
}
