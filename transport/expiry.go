package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// Certificates are verified at the TLS handshake, but a connection can
// outlive them: HTTP/2 connections are pooled and kept alive for as long as
// they are used. This file bounds every connection by the certificates it
// was established with, on both sides:
//
//   - Server, every request ([withPeerID]): a request whose connection's
//     client certificate is expired or not yet valid is refused with 401
//     and "Connection: close" (for HTTP/2, net/http turns that header into
//     a graceful GOAWAY) before the handler runs.
//   - Server, every connection ([trackedConn]): the connection is closed
//     when the first of its two certificates (the client's and the one this
//     server presented) expires, even if it is idle. Shortly before that,
//     its responses carry "Connection: close", so a client that has rotated
//     its SVID moves to a new connection without losing a request.
//   - Client, every connection ([dialTLS]): the connection's deadline is the
//     server certificate's NotAfter, so the transport drops it then, idle or
//     not; and below TLS ([expiringConn]) no byte is written after NotAfter,
//     however late the deadline's timer runs.

// Drain windows: how long before the first certificate of a connection
// expires the server starts asking its client to reconnect. A tenth of that
// certificate's lifetime, at most maxDrainWindow. SPIRE rotates SVIDs at
// half their lifetime, so a client has its next SVID well before.
const (
	drainFraction  = 10
	maxDrainWindow = time.Minute
)

// drainStart returns when a connection established with leaf should start
// draining.
func drainStart(leaf *x509.Certificate) time.Time {
	w := min(leaf.NotAfter.Sub(leaf.NotBefore)/drainFraction, maxDrainWindow)
	return leaf.NotAfter.Add(-w)
}

// refuseInvalidPeer answers a request whose client certificate is outside
// its validity window at now, and tells the client to close the connection.
func refuseInvalidPeer(w http.ResponseWriter, lg *slog.Logger, leaf *x509.Certificate, peer spiffeid.ID, now time.Time) {
	var msg string
	if now.Before(leaf.NotBefore) {
		msg = "client certificate is not valid before " + leaf.NotBefore.UTC().Format(time.RFC3339) + "; check the clocks and reconnect"
	} else {
		msg = "client certificate expired at " + leaf.NotAfter.UTC().Format(time.RFC3339) + "; reconnect with a current SVID"
	}
	lg.Warn("request refused: the connection's client certificate is no longer valid",
		"peer", peer.String(), "not_before", leaf.NotBefore, "not_after", leaf.NotAfter)
	w.Header().Set("Connection", "close")
	http.Error(w, msg, http.StatusUnauthorized)
}

// trackingListener wraps every accepted connection in a [trackedConn].
type trackingListener struct{ net.Listener }

func (l trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &trackedConn{Conn: c}, nil
}

// trackedConn is an accepted connection, below TLS, that learns the
// certificates of its handshake and closes itself when the first of them
// expires.
type trackedConn struct {
	net.Conn
	own     atomic.Pointer[x509.Certificate] // the leaf this server presented
	drainAt atomic.Int64                     // unix ns; 0 until armed

	mu     sync.Mutex
	timer  *time.Timer
	closed bool
}

// connKey is the context key of the request's *trackedConn.
type connKey struct{}

// trackedConnFrom returns the connection a request arrived on, or nil when
// it was not accepted through [trackingListener].
func trackedConnFrom(ctx context.Context) *trackedConn {
	c, _ := ctx.Value(connKey{}).(*trackedConn)
	return c
}

// connContext puts the *trackedConn under c into the connection's context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		if t, ok := tc.NetConn().(*trackedConn); ok {
			return context.WithValue(ctx, connKey{}, t)
		}
	}
	return ctx
}

// recordOwn wraps a GetCertificate callback so that the connection
// remembers the certificate it was served with.
func recordOwn(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cert, err := get(hello)
		if err == nil && cert != nil && cert.Leaf != nil {
			if t, ok := hello.Conn.(*trackedConn); ok {
				t.own.Store(cert.Leaf)
			}
		}
		return cert, err
	}
}

// arm runs once per connection, after its handshake (net/http reports the
// connection active: an HTTP/2 preface or an HTTP/1 request was read). It
// sets when the connection drains and, unless keepOpen, closes tc when the
// first of its certificates expires.
func (c *trackedConn) arm(tc *tls.Conn, keepOpen bool) {
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return // not reachable through ServerTLSConfig; withPeerID refuses its requests
	}
	first := certs[0]
	if own := c.own.Load(); own != nil && own.NotAfter.Before(first.NotAfter) {
		first = own
	}
	c.drainAt.Store(drainStart(first).UnixNano())
	if keepOpen {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.timer != nil {
		return
	}
	c.timer = time.AfterFunc(time.Until(first.NotAfter), func() { _ = tc.Close() })
}

// armed reports whether arm has run.
func (c *trackedConn) armed() bool { return c.drainAt.Load() != 0 }

// draining reports whether responses on c should ask the client to
// reconnect.
func (c *trackedConn) draining(now time.Time) bool {
	d := c.drainAt.Load()
	return d != 0 && now.UnixNano() >= d
}

func (c *trackedConn) Close() error {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

// dialTLS dials addr and runs the TLS handshake as t would itself (its
// DialContext, TLSClientConfig and TLSHandshakeTimeout, the host as
// ServerName, ALPN limited to its Protocols). It returns the *tls.Conn
// itself, which the transport needs for HTTP/2, bounded by the server
// certificate's NotAfter in two ways:
//
//   - its deadline: at NotAfter every read and write fails, so the
//     transport's reader drops the connection, idle or not. net/http's client
//     sets no deadlines of its own that would replace it (an HTTP/2
//     WriteByteTimeout, if configured, clears the write deadline after each
//     write; the read deadline still ends the connection).
//   - below TLS, each write compares the clock with NotAfter ([expiringConn]).
//     Deadlines fire on runtime timers, which a loaded machine can run late;
//     this check is exact, so nothing is sent once the certificate has
//     expired. A request that meets the connection in that instant fails, or
//     on HTTP/1 is retried on a new connection.
func dialTLS(ctx context.Context, t *http.Transport, network, addr string) (net.Conn, error) {
	if t.TLSClientConfig == nil {
		return nil, errors.New("transport: the client transport has no TLS config")
	}
	dial := t.DialContext
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	nc, err := dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	raw := &expiringConn{Conn: nc}
	cfg := t.TLSClientConfig.Clone()
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	if p := t.Protocols; p != nil { // offer only the protocols the transport speaks
		cfg.NextProtos = slices.DeleteFunc(slices.Clone(cfg.NextProtos), func(proto string) bool {
			return proto == "h2" && !p.HTTP2() || proto == "http/1.1" && !p.HTTP1()
		})
	}
	if d := t.TLSHandshakeTimeout; d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = nc.Close()
		return nil, err
	}
	certs := tc.ConnectionState().PeerCertificates
	if len(certs) == 0 {
		_ = nc.Close()
		return nil, fmt.Errorf("%w: server presented no certificate", ErrPeerRejected)
	}
	raw.notAfter = certs[0].NotAfter
	if err := tc.SetDeadline(raw.notAfter); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("transport: set the connection's deadline to the server certificate's expiry: %w", err)
	}
	return tc, nil
}

// expiringConn is a client connection, below TLS, that writes nothing once
// the server certificate verified on it has expired.
type expiringConn struct {
	net.Conn
	// notAfter is set once, after the handshake and before the transport
	// receives the connection; zero (during the handshake) checks nothing.
	notAfter time.Time
}

func (c *expiringConn) Write(p []byte) (int, error) {
	if !c.notAfter.IsZero() && time.Now().After(c.notAfter) {
		return 0, fmt.Errorf("transport: the server certificate of this connection expired at %s", c.notAfter.UTC().Format(time.RFC3339))
	}
	return c.Conn.Write(p)
}
