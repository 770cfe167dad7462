package identitytest

import (
	"crypto/tls"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/internal/pki"
)

// DefaultTTL is the lifetime of SVIDs minted without options.
const DefaultTTL = time.Hour

// CA is a test certificate authority for one trust domain. It is safe for
// concurrent use.
type CA struct {
	tb testing.TB
	ca *pki.CA
}

// NewCA creates a CA for td, valid from an hour ago for a day.
func NewCA(tb testing.TB, td spiffeid.TrustDomain) *CA {
	tb.Helper()
	now := time.Now()
	ca, err := pki.NewCA(td, now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		tb.Fatalf("identitytest: %v", err)
	}
	return &CA{tb: tb, ca: ca}
}

// TrustDomain returns the CA's trust domain.
func (ca *CA) TrustDomain() spiffeid.TrustDomain { return ca.ca.TrustDomain() }

// Bundle returns the CA's trust bundle.
func (ca *CA) Bundle() *x509bundle.Bundle { return ca.ca.Bundle() }

// ID returns the SPIFFE ID with the given path segments in the CA's trust
// domain, e.g. ca.ID("agent", "search", "dev").
func (ca *CA) ID(segments ...string) spiffeid.ID {
	ca.tb.Helper()
	id, err := spiffeid.FromSegments(ca.TrustDomain(), segments...)
	if err != nil {
		ca.tb.Fatalf("identitytest: %v", err)
	}
	return id
}

// Option shapes a minted certificate's validity.
type Option func(*validity)

type validity struct{ notBefore, notAfter time.Time }

// WithTTL makes the certificate valid from a minute ago until ttl from now.
func WithTTL(ttl time.Duration) Option {
	return func(v *validity) {
		now := time.Now()
		v.notBefore, v.notAfter = now.Add(-time.Minute), now.Add(ttl)
	}
}

// WithLifetime sets the validity window exactly.
func WithLifetime(notBefore, notAfter time.Time) Option {
	return func(v *validity) { v.notBefore, v.notAfter = notBefore, notAfter }
}

// Expired makes a certificate that expired a minute ago.
func Expired() Option {
	return func(v *validity) {
		now := time.Now()
		v.notBefore, v.notAfter = now.Add(-time.Hour), now.Add(-time.Minute)
	}
}

// NotYetValid makes a certificate that becomes valid in an hour.
func NotYetValid() Option {
	return func(v *validity) {
		now := time.Now()
		v.notBefore, v.notAfter = now.Add(time.Hour), now.Add(2*time.Hour)
	}
}

func newValidity(opts []Option) validity {
	v := validity{}
	WithTTL(DefaultTTL)(&v)
	for _, o := range opts {
		o(&v)
	}
	return v
}

// CreateX509SVID mints an X509-SVID for id. The ID may be in another trust
// domain than the CA's, to test cross-domain refusal.
func (ca *CA) CreateX509SVID(id spiffeid.ID, opts ...Option) *x509svid.SVID {
	ca.tb.Helper()
	v := newValidity(opts)
	svid, err := ca.ca.IssueSVID(id, v.notBefore, v.notAfter)
	if err != nil {
		ca.tb.Fatalf("identitytest: %v", err)
	}
	return svid
}

// CertOptions describes a leaf certificate that need not be a valid SVID.
type CertOptions struct {
	// URIs become URI SANs as given (zero, one or several).
	URIs []string
	// CommonName is the subject CN, e.g. a SPIFFE ID where it does not belong.
	CommonName string
	// DNSNames become DNS SANs.
	DNSNames []string
}

// CreateCertificate mints a leaf certificate signed by the CA, exactly as
// described, for presenting in a TLS handshake.
func (ca *CA) CreateCertificate(c CertOptions, opts ...Option) tls.Certificate {
	ca.tb.Helper()
	v := newValidity(opts)
	uris := make([]*url.URL, 0, len(c.URIs))
	for _, s := range c.URIs {
		u, err := url.Parse(s)
		if err != nil {
			ca.tb.Fatalf("identitytest: URI %q: %v", s, err)
		}
		uris = append(uris, u)
	}
	certs, key, err := ca.ca.Issue(pki.Leaf{URIs: uris, CommonName: c.CommonName, DNSNames: c.DNSNames, NotBefore: v.notBefore, NotAfter: v.notAfter})
	if err != nil {
		ca.tb.Fatalf("identitytest: %v", err)
	}
	return tls.Certificate{Certificate: [][]byte{certs[0].Raw}, PrivateKey: key, Leaf: certs[0]}
}

// TLSCertificate converts an SVID into a tls.Certificate.
func TLSCertificate(svid *x509svid.SVID) tls.Certificate {
	c := tls.Certificate{PrivateKey: svid.PrivateKey, Leaf: svid.Certificates[0]}
	for _, cert := range svid.Certificates {
		c.Certificate = append(c.Certificate, cert.Raw)
	}
	return c
}

// Source returns an [identity.Source] that presents svid and trusts this
// CA's bundle plus extra bundles (federated trust domains).
func (ca *CA) Source(svid *x509svid.SVID, extra ...*x509bundle.Bundle) *Source {
	s := &Source{bundles: x509bundle.NewSet(append([]*x509bundle.Bundle{ca.Bundle()}, extra...)...)}
	s.svid = svid
	return s
}

// Source is an in-memory [identity.Source] whose SVID and bundles tests can
// replace at any time, e.g. to simulate rotation. It trusts every bundle it
// holds. It is safe for concurrent use.
type Source struct {
	mu      sync.RWMutex
	svid    *x509svid.SVID
	bundles *x509bundle.Set
}

var _ identity.Source = (*Source)(nil)

// SetX509SVID replaces the SVID presented from the next handshake on.
func (s *Source) SetX509SVID(svid *x509svid.SVID) {
	s.mu.Lock()
	s.svid = svid
	s.mu.Unlock()
}

// AddBundle adds or replaces a trusted bundle.
func (s *Source) AddBundle(b *x509bundle.Bundle) {
	s.mu.Lock()
	s.bundles.Add(b)
	s.mu.Unlock()
}

// GetX509SVID implements the x509svid.Source interface.
func (s *Source) GetX509SVID() (*x509svid.SVID, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.svid == nil {
		return nil, identity.ErrNoSVID
	}
	return s.svid, nil
}

// GetX509BundleForTrustDomain implements the x509bundle.Source interface.
func (s *Source) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.bundles.GetX509BundleForTrustDomain(td)
}

// ID returns the current SVID's SPIFFE ID.
func (s *Source) ID() spiffeid.ID {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.svid == nil {
		return spiffeid.ID{}
	}
	return s.svid.ID
}

// Close implements [identity.Source]; it does nothing.
func (*Source) Close() error { return nil }
