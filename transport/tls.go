package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/spiffetls/tlsconfig"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/identity"
)

// ErrPeerRejected wraps every reason a peer's certificate is refused during
// the handshake: no certificate, not an X509-SVID, not signed by a trusted
// bundle, expired, or a SPIFFE ID the authorizer does not accept.
var ErrPeerRejected = errors.New("transport: peer rejected")

// RefusedByPeer reports whether err is the other side ending the TLS
// handshake with an alert: typically a server that did not accept this
// agent's SVID (unknown trust domain, or an ID outside its allowed
// callers). Retrying does not help.
//
// With TLS 1.3 the client finishes its handshake before the server has
// judged its certificate, so the server's alert can arrive while Go's
// HTTP/2 client reads the connection preface, which reports it only as
// "client conn could not be established" (an unexported error): that is
// recognized by its text, the one place we match an error string.
func RefusedByPeer(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	return err != nil && strings.Contains(err.Error(), "http2: client conn could not be established")
}

// TLSOptions are settings shared by servers and clients.
type TLSOptions struct {
	// MinVersion is the lowest TLS version accepted: tls.VersionTLS13 (the
	// default, when zero) or tls.VersionTLS12, which logs a warning. Anything
	// lower is an error.
	MinVersion uint16
	// Logger receives the TLS 1.2 warning. Default: slog.Default().
	Logger *slog.Logger
	// OnReject, when set, is called with every handshake this side refused
	// because of the peer's certificate (for metrics and logs). It must be
	// safe for concurrent use.
	OnReject func(err error)
}

func (o TLSOptions) minVersion() (uint16, error) {
	switch o.MinVersion {
	case 0, tls.VersionTLS13:
		return tls.VersionTLS13, nil
	case tls.VersionTLS12:
		log := o.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Warn("TLS 1.2 is allowed: peers may connect without TLS 1.3's protections; set transport.tls_min_version to 1.3 where every peer supports it")
		return tls.VersionTLS12, nil
	default:
		return 0, fmt.Errorf("transport: TLS minimum version %#04x is not allowed: use TLS 1.3 (or 1.2)", o.MinVersion)
	}
}

// ParseTLSVersion maps "1.2" and "1.3" to their tls constants.
func ParseTLSVersion(s string) (uint16, error) {
	switch s {
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.2":
		return tls.VersionTLS12, nil
	}
	return 0, fmt.Errorf("transport: TLS version %q is not supported: use \"1.3\" or \"1.2\"", s)
}

// ServerTLSConfig returns a TLS config for a server that presents src's
// X509-SVID and requires every client to present an X509-SVID that verifies
// against src's bundles and that authorize accepts.
func ServerTLSConfig(src identity.Source, authorize spiffeid.Matcher, opts TLSOptions) (*tls.Config, error) {
	if src == nil || authorize == nil {
		return nil, errors.New("transport: server TLS config needs an identity source and an authorizer")
	}
	minV, err := opts.minVersion()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: minV}
	tlsconfig.HookMTLSServerConfig(cfg, src, src, authorizer(authorize))
	cfg.VerifyPeerCertificate = nil
	cfg.VerifyConnection = verifier(src, authorize, "client", opts.OnReject)
	cfg.ClientAuth = tls.RequireAnyClientCert
	cfg.SessionTicketsDisabled = true
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg, nil
}

// ClientTLSConfig returns a TLS config for a client that presents src's
// X509-SVID and accepts only a server whose X509-SVID verifies against src's
// bundles and that authorize accepts. It never checks host names.
func ClientTLSConfig(src identity.Source, authorize spiffeid.Matcher, opts TLSOptions) (*tls.Config, error) {
	if src == nil || authorize == nil {
		return nil, errors.New("transport: client TLS config needs an identity source and an authorizer")
	}
	minV, err := opts.minVersion()
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: minV}
	tlsconfig.HookMTLSClientConfig(cfg, src, src, authorizer(authorize))
	// Go verifies nothing itself (InsecureSkipVerify, set by go-spiffe); the
	// SPIFFE verification below is the only check. VerifyConnection runs on
	// every connection, resumed or not.
	cfg.VerifyPeerCertificate = nil
	cfg.VerifyConnection = verifier(src, authorize, "server", opts.OnReject)
	cfg.NextProtos = []string{"h2", "http/1.1"}
	return cfg, nil
}

func authorizer(m spiffeid.Matcher) tlsconfig.Authorizer {
	return func(id spiffeid.ID, _ [][]*x509.Certificate) error { return m(id) }
}

// verifier verifies the peer's chain as go-spiffe does and wraps every
// refusal in ErrPeerRejected with the peer's role and, when known, its ID.
func verifier(src identity.Source, authorize spiffeid.Matcher, role string, onReject func(error)) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		err := verifyPeer(cs.PeerCertificates, src, authorize, role)
		if err != nil && onReject != nil {
			onReject(err)
		}
		return err
	}
}

func verifyPeer(certs []*x509.Certificate, src identity.Source, authorize spiffeid.Matcher, role string) error {
	if len(certs) == 0 {
		return fmt.Errorf("%w: %s presented no certificate", ErrPeerRejected, role)
	}
	id, _, err := x509svid.Verify(certs, src)
	if err != nil {
		return fmt.Errorf("%w: %s certificate is not a valid X509-SVID: %w", ErrPeerRejected, role, err)
	}
	if err := authorize(id); err != nil {
		return fmt.Errorf("%w: %s %s is not authorized: %w", ErrPeerRejected, role, id, err)
	}
	return nil
}
