package identity

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// ErrTrustDomainNotAllowed is returned for a bundle of a trust domain that is
// neither the agent's own nor listed in its allowed trust domains.
var ErrTrustDomainNotAllowed = errors.New("identity: trust domain not allowed")

// ErrNoSVID is returned when a source has no X509-SVID to present.
var ErrNoSVID = errors.New("identity: no X509-SVID")

// Source supplies an agent's own X509-SVID and the bundles it verifies peers
// against. Implementations are safe for concurrent use and cheap to call: the
// TLS stack calls them on every handshake.
type Source interface {
	x509svid.Source
	x509bundle.Source
	// ID returns the agent's own SPIFFE ID.
	ID() spiffeid.ID
	// Close releases the source. It is idempotent.
	Close() error
}

// trustPolicy limits bundle lookups to the own trust domain plus an allow
// list.
type trustPolicy struct {
	own     spiffeid.TrustDomain
	allowed []spiffeid.TrustDomain
}

func (p trustPolicy) check(td spiffeid.TrustDomain) error {
	if td == p.own || slices.Contains(p.allowed, td) {
		return nil
	}
	return fmt.Errorf("%w: %q (trusted: %s)", ErrTrustDomainNotAllowed, td.Name(), p.describe())
}

func (p trustPolicy) describe() string {
	names := []string{strconv.Quote(p.own.Name())}
	for _, td := range p.allowed {
		if td != p.own {
			names = append(names, strconv.Quote(td.Name()))
		}
	}
	return strings.Join(names, ", ")
}

// bundleFor looks td up in set after checking the trust policy.
func (p trustPolicy) bundleFor(set *x509bundle.Set, td spiffeid.TrustDomain) (*x509bundle.Bundle, error) {
	if err := p.check(td); err != nil {
		return nil, err
	}
	if set == nil {
		return nil, fmt.Errorf("identity: no bundle for trust domain %q", td.Name())
	}
	b, ok := set.Get(td)
	if !ok {
		return nil, fmt.Errorf("identity: no bundle for trust domain %q", td.Name())
	}
	return b, nil
}

// ParseTrustDomains parses trust domain names such as "example.org".
func ParseTrustDomains(names []string) ([]spiffeid.TrustDomain, error) {
	out := make([]spiffeid.TrustDomain, 0, len(names))
	var errs []error
	for _, n := range names {
		td, err := spiffeid.TrustDomainFromString(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("identity: trust domain %q: %w", n, err))
			continue
		}
		out = append(out, td)
	}
	return out, errors.Join(errs...)
}
