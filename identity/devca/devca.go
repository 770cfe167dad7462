package devca

import (
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/internal/pki"
)

const (
	// DefaultTTL is the X509-SVID lifetime used when [Options.TTL] is zero.
	DefaultTTL = time.Hour
	// MinTTL is the shortest X509-SVID lifetime [New] accepts.
	MinTTL = 2 * time.Second
	// MaxSocketPathLen is the longest absolute socket path [CA.Serve]
	// accepts, in bytes. Unix domain socket paths are limited by the kernel
	// (104 bytes on macOS, 108 on Linux, including the terminating NUL).
	MaxSocketPathLen = 100

	// rootBackdate is how far before "now" the CA root becomes valid.
	rootBackdate = time.Minute
	// svidBackdate is how far before "now" each X509-SVID becomes valid, to
	// absorb small clock differences between processes.
	svidBackdate = 10 * time.Second
	// minRootLifetime is the shortest lifetime of the CA root.
	minRootLifetime = 24 * time.Hour
)

// NamePattern is the pattern a workload name must match.
const NamePattern = `^[a-z][a-z0-9-]*$`

var nameRE = regexp.MustCompile(NamePattern)

// DefaultTrustDomain is the trust domain used when [Options.TrustDomain] is
// zero.
var DefaultTrustDomain = spiffeid.RequireTrustDomainFromString("example.org")

var (
	// ErrInvalidName is returned (wrapped) for a workload name that does not
	// match [NamePattern].
	ErrInvalidName = errors.New("devca: invalid workload name")
	// ErrTTLTooShort is returned (wrapped) by [New] for a TTL below [MinTTL].
	ErrTTLTooShort = errors.New("devca: TTL too short")
	// ErrSocketPathTooLong is returned (wrapped) by [CA.Serve] for a socket
	// path longer than [MaxSocketPathLen] bytes.
	ErrSocketPathTooLong = errors.New("devca: socket path too long")
	// ErrSocketInUse is returned (wrapped) by [CA.Serve] when another server
	// is already listening on the socket path.
	ErrSocketInUse = errors.New("devca: socket already in use")
)

// Options configure a development [CA].
type Options struct {
	// TrustDomain is the trust domain the CA issues for; default
	// example.org.
	TrustDomain spiffeid.TrustDomain
	// TTL is the lifetime of each X509-SVID; default 1h, minimum 2s. SVIDs
	// are re-minted when half of it has passed.
	TTL time.Duration
	// Now is the clock used for certificate validity periods; default
	// time.Now. Rotation timers always run on real time.
	Now func() time.Time
	// Federated are bundles of other trust domains that every workload
	// also receives, as SPIRE hands out the bundles of federated trust
	// domains (entries created with -federatesWith). Each must be of a
	// different trust domain than the CA's and than each other.
	Federated []*x509bundle.Bundle
}

// CA is an in-memory development certificate authority for one trust
// domain. It is safe for concurrent use.
type CA struct {
	pki       *pki.CA
	td        spiffeid.TrustDomain
	ttl       time.Duration
	now       func() time.Time
	bundlePEM []byte
	federated map[string][]byte // trust domain ID → concatenated DER roots
}

// New creates a development CA. Its self-signed root is valid from one
// minute ago for max(24h, 10*TTL).
func New(opts Options) (*CA, error) {
	td := opts.TrustDomain
	if td.IsZero() {
		td = DefaultTrustDomain
	}
	ttl := opts.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL {
		return nil, fmt.Errorf("%w: %s is below the minimum of %s", ErrTTLTooShort, ttl, MinTTL)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}

	t := now()
	lifetime := max(minRootLifetime, 10*ttl)
	root, err := pki.NewCA(td, t.Add(-rootBackdate), t.Add(lifetime))
	if err != nil {
		return nil, fmt.Errorf("devca: create CA for %q: %w", td.Name(), err)
	}
	bundlePEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Certificate().Raw})
	federated := map[string][]byte{}
	for _, b := range opts.Federated {
		key := b.TrustDomain().IDString()
		if b.TrustDomain() == td {
			return nil, fmt.Errorf("devca: federated bundle for %q: that is the CA's own trust domain", td.Name())
		}
		if _, dup := federated[key]; dup {
			return nil, fmt.Errorf("devca: federated bundle for %q given twice", b.TrustDomain().Name())
		}
		var der []byte
		for _, c := range b.X509Authorities() {
			der = append(der, c.Raw...)
		}
		if len(der) == 0 {
			return nil, fmt.Errorf("devca: federated bundle for %q has no X.509 authorities", b.TrustDomain().Name())
		}
		federated[key] = der
	}
	return &CA{pki: root, td: td, ttl: ttl, now: now, bundlePEM: bundlePEM, federated: federated}, nil
}

// TrustDomain returns the trust domain the CA issues for.
func (ca *CA) TrustDomain() spiffeid.TrustDomain { return ca.td }

// TTL returns the lifetime of the X509-SVIDs the CA issues.
func (ca *CA) TTL() time.Duration { return ca.ttl }

// Bundle returns a new X.509 bundle holding the CA's root certificate.
func (ca *CA) Bundle() *x509bundle.Bundle { return ca.pki.Bundle() }

// BundlePEM returns the CA's root certificate, PEM-encoded. The caller may
// modify the returned slice.
func (ca *CA) BundlePEM() []byte { return append([]byte(nil), ca.bundlePEM...) }

// WorkloadID returns spiffe://TD/agent/NAME/dev, the SPIFFE ID of the
// development workload called name. Name must match [NamePattern].
func (ca *CA) WorkloadID(name string) (spiffeid.ID, error) {
	if !nameRE.MatchString(name) {
		return spiffeid.ID{}, fmt.Errorf("%w %q: must match %s", ErrInvalidName, name, NamePattern)
	}
	id, err := spiffeid.FromSegments(ca.td, "agent", name, "dev")
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("devca: SPIFFE ID for workload %q: %w", name, err)
	}
	return id, nil
}
