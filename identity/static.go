package identity

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// StaticSource is a [Source] that serves one X509-SVID and a fixed set of
// bundles. It never rotates: use it for development and tests only. It is
// safe for concurrent use.
type StaticSource struct {
	svid    *x509svid.SVID
	bundles *x509bundle.Set
	policy  trustPolicy
	closed  atomic.Bool
}

var _ Source = (*StaticSource)(nil)

// NewStaticSource serves svid and trusts the bundles given, limited to svid's
// trust domain plus allowed.
func NewStaticSource(svid *x509svid.SVID, bundles []*x509bundle.Bundle, allowed []spiffeid.TrustDomain) (*StaticSource, error) {
	if svid == nil || len(svid.Certificates) == 0 {
		return nil, errors.New("identity: static source needs an X509-SVID")
	}
	return &StaticSource{
		svid:    svid,
		bundles: x509bundle.NewSet(bundles...),
		policy:  trustPolicy{own: svid.ID.TrustDomain(), allowed: allowed},
	}, nil
}

// LoadStaticSource reads an X509-SVID (certificate chain and PKCS#8 key) and
// the agent's trust bundle from PEM files. The bundle is taken to belong to
// the SVID's trust domain. An SVID that has already expired is refused.
func LoadStaticSource(certFile, keyFile, bundleFile string, allowed []spiffeid.TrustDomain) (*StaticSource, error) {
	svid, err := x509svid.Load(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("identity: static SVID from %s and %s: %w", certFile, keyFile, err)
	}
	if na := svid.Certificates[0].NotAfter; time.Now().After(na) {
		return nil, fmt.Errorf("identity: static SVID %s in %s expired at %s", svid.ID, certFile, na.Format(time.RFC3339))
	}
	b, err := x509bundle.Load(svid.ID.TrustDomain(), bundleFile)
	if err != nil {
		return nil, fmt.Errorf("identity: trust bundle %s: %w", bundleFile, err)
	}
	return NewStaticSource(svid, []*x509bundle.Bundle{b}, allowed)
}

// GetX509SVID implements [x509svid.Source].
func (s *StaticSource) GetX509SVID() (*x509svid.SVID, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("%w: source is closed", ErrNoSVID)
	}
	return s.svid, nil
}

// GetX509BundleForTrustDomain implements [x509bundle.Source], limited to the
// own and allowed trust domains.
func (s *StaticSource) GetX509BundleForTrustDomain(td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	return s.policy.bundleFor(s.bundles, td)
}

// ID returns the SVID's SPIFFE ID.
func (s *StaticSource) ID() spiffeid.ID { return s.svid.ID }

// Close marks the source closed. It is idempotent.
func (s *StaticSource) Close() error {
	s.closed.Store(true)
	return nil
}
