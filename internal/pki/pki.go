package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// CA is a certificate authority for one trust domain. It is safe for
// concurrent use: its fields never change after [NewCA].
type CA struct {
	td   spiffeid.TrustDomain
	cert *x509.Certificate
	key  crypto.Signer
}

// NewCA creates a self-signed root CA for td, valid from notBefore to notAfter.
func NewCA(td spiffeid.TrustDomain, notBefore, notAfter time.Time) (*CA, error) {
	if td.IsZero() {
		return nil, errors.New("pki: trust domain is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"AgentWeave"}, CommonName: td.Name() + " root CA"},
		URIs:                  []*url.URL{td.ID().URL()},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	return &CA{td: td, cert: cert, key: key}, nil
}

// TrustDomain returns the trust domain the CA issues for.
func (ca *CA) TrustDomain() spiffeid.TrustDomain { return ca.td }

// Certificate returns the CA's root certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// Bundle returns a new X.509 bundle holding the CA's root certificate.
func (ca *CA) Bundle() *x509bundle.Bundle {
	return x509bundle.FromX509Authorities(ca.td, []*x509.Certificate{ca.cert})
}

// Leaf describes a leaf certificate to issue. Everything is copied into the
// certificate as given, so it can describe certificates that are not valid
// X509-SVIDs (for tests of what a verifier refuses).
type Leaf struct {
	URIs       []*url.URL
	CommonName string
	DNSNames   []string
	NotBefore  time.Time
	NotAfter   time.Time
}

// Issue signs a leaf certificate for a fresh key and returns the chain
// (leaf only: the CA is the root) and the key.
func (ca *CA) Issue(l Leaf) ([]*x509.Certificate, crypto.Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: generate leaf key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"AgentWeave"}, CommonName: l.CommonName},
		URIs:                  l.URIs,
		DNSNames:              l.DNSNames,
		NotBefore:             l.NotBefore,
		NotAfter:              l.NotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageKeyAgreement,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: create leaf certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: parse leaf certificate: %w", err)
	}
	return []*x509.Certificate{cert}, key, nil
}

// IssueSVID issues an X509-SVID for id, valid from notBefore to notAfter.
// The ID may belong to another trust domain than the CA's (a test of what a
// verifier refuses); it is written as the only URI SAN.
func (ca *CA) IssueSVID(id spiffeid.ID, notBefore, notAfter time.Time) (*x509svid.SVID, error) {
	if id.IsZero() {
		return nil, errors.New("pki: SPIFFE ID is empty")
	}
	certs, key, err := ca.Issue(Leaf{URIs: []*url.URL{id.URL()}, NotBefore: notBefore, NotAfter: notAfter})
	if err != nil {
		return nil, err
	}
	return &x509svid.SVID{ID: id, Certificates: certs, PrivateKey: key}, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return serial.Add(serial, big.NewInt(1)), nil
}
