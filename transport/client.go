package transport

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity"
)

// Client defaults used when [ClientOptions] leaves them zero.
const (
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxConnsPerHost  = 100
	DefaultIdleConnTimeout  = 60 * time.Second
)

// ClientOptions configures [NewClient]. The zero value is a production
// default.
type ClientOptions struct {
	TLSOptions
	// DialTimeout bounds the TCP connect. Default 10s.
	DialTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake. Default 10s.
	HandshakeTimeout time.Duration
	// MaxConnsPerHost bounds connections per peer address. Default 100.
	MaxConnsPerHost int
	// IdleConnTimeout closes pooled connections idle this long. Default 60s.
	IdleConnTimeout time.Duration
	// Timeout bounds a whole request; zero means the request's context alone
	// decides (the usual way).
	Timeout time.Duration
}

// NewClient returns an HTTP client that speaks mTLS with src's SVID and
// connects only to servers whose SPIFFE ID authorize accepts. Connections
// are pooled and reused (HTTP/2 where the server offers it), but none
// outlives the server certificate it was established with: see
// [NewRoundTripper]. It is safe for concurrent use.
func NewClient(src identity.Source, authorize spiffeid.Matcher, opts ClientOptions) (*http.Client, error) {
	rt, err := NewRoundTripper(src, authorize, opts)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt, Timeout: opts.Timeout}, nil
}

// NewRoundTripper returns the *http.Transport behind [NewClient].
//
// Its DialTLSContext dials with its DialContext and TLSClientConfig (read
// at each dial, so later changes to them apply) and bounds each connection
// by the server certificate's NotAfter: at that moment the connection fails
// every read and write, the transport drops it, and later requests go out on
// a new connection, verified afresh. A request in flight on it then fails
// (AgentWeave servers ask clients to reconnect shortly before, so with them
// that does not happen). Replacing DialTLSContext removes this bound.
func NewRoundTripper(src identity.Source, authorize spiffeid.Matcher, opts ClientOptions) (*http.Transport, error) {
	cfg, err := ClientTLSConfig(src, authorize, opts.TLSOptions)
	if err != nil {
		return nil, err
	}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	dialer := &net.Dialer{Timeout: or(opts.DialTimeout, DefaultDialTimeout), KeepAlive: 30 * time.Second}
	t := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     cfg,
		TLSHandshakeTimeout: or(opts.HandshakeTimeout, DefaultHandshakeTimeout),
		ForceAttemptHTTP2:   true,
		Protocols:           &protocols,
		MaxConnsPerHost:     or(opts.MaxConnsPerHost, DefaultMaxConnsPerHost),
		MaxIdleConnsPerHost: or(opts.MaxConnsPerHost, DefaultMaxConnsPerHost),
		IdleConnTimeout:     or(opts.IdleConnTimeout, DefaultIdleConnTimeout),
		Proxy:               nil, // never send agent traffic through an HTTP proxy
	}
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		return dialTLS(ctx, t, network, addr)
	}
	return t, nil
}

// PeerID returns the verified SPIFFE ID of the server that answered resp.
func PeerID(resp *http.Response) (spiffeid.ID, error) {
	return identity.PeerIDFromConnectionState(resp.TLS)
}
