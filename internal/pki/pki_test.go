package pki_test

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/internal/pki"
)

func TestIssueSVID(t *testing.T) {
	t.Parallel()
	td := spiffeid.RequireTrustDomainFromString("example.org")
	now := time.Now()
	ca, err := pki.NewCA(td, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Certificate().IsCA || ca.Certificate().KeyUsage&x509.KeyUsageCertSign == 0 {
		t.Error("root is not a signing CA")
	}
	id := spiffeid.RequireFromString("spiffe://example.org/agent/a")
	svid, err := ca.IssueSVID(id, now.Add(-time.Minute), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := x509svid.Verify(svid.Certificates, ca.Bundle())
	if err != nil || got != id {
		t.Fatalf("Verify() = %v, %v; want %v", got, err, id)
	}
	leaf := svid.Certificates[0]
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageCertSign != 0 {
		t.Error("leaf can sign certificates")
	}
	other, err := ca.IssueSVID(id, now, now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if other.Certificates[0].SerialNumber.Cmp(leaf.SerialNumber) == 0 {
		t.Error("two leaves share a serial number")
	}
	if _, err := pki.NewCA(spiffeid.TrustDomain{}, now, now.Add(time.Hour)); err == nil {
		t.Error("NewCA(zero trust domain) succeeded")
	}
	if _, err := ca.IssueSVID(spiffeid.ID{}, now, now.Add(time.Hour)); err == nil {
		t.Error("IssueSVID(zero ID) succeeded")
	}
}
