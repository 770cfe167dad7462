package identity

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

type peerKey struct{}

// WithPeerID returns a copy of ctx carrying the verified SPIFFE ID of the
// peer. Only the transport layer calls it, after the TLS handshake verified
// the peer's X509-SVID.
func WithPeerID(ctx context.Context, id spiffeid.ID) context.Context {
	return context.WithValue(ctx, peerKey{}, id)
}

// PeerIDFromContext returns the verified SPIFFE ID of the peer of the
// connection that ctx belongs to, and whether there is one.
func PeerIDFromContext(ctx context.Context) (spiffeid.ID, bool) {
	id, ok := ctx.Value(peerKey{}).(spiffeid.ID)
	return id, ok && !id.IsZero()
}

// PeerIDFromConnectionState returns the SPIFFE ID of the peer's leaf
// certificate. It does not verify anything: call it only on a connection
// whose handshake verified the peer (as the transport's TLS configs do).
func PeerIDFromConnectionState(cs *tls.ConnectionState) (spiffeid.ID, error) {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return spiffeid.ID{}, errors.New("identity: connection has no peer certificate")
	}
	id, err := x509svid.IDFromCert(cs.PeerCertificates[0])
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("identity: peer certificate: %w", err)
	}
	return id, nil
}
