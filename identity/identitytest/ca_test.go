package identitytest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"

	"github.com/agentweave/agentweave-go/identity/identitytest"
)

var td = spiffeid.RequireTrustDomainFromString("example.org")

func TestCreateX509SVID(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	other := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("other.org"))
	id := ca.ID("agent", "search", "dev")
	now := time.Now()

	tests := []struct {
		name       string
		opts       []identitytest.Option
		verifyAt   time.Time
		wantVerify bool
	}{
		{"default", nil, now, true},
		{"ttl", []identitytest.Option{identitytest.WithTTL(time.Minute)}, now.Add(2 * time.Minute), false},
		{"expired", []identitytest.Option{identitytest.Expired()}, now, false},
		{"not yet valid", []identitytest.Option{identitytest.NotYetValid()}, now, false},
		{"lifetime", []identitytest.Option{identitytest.WithLifetime(now.Add(time.Hour), now.Add(3*time.Hour))}, now.Add(2 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			svid := ca.CreateX509SVID(id, tt.opts...)
			if svid.ID != id {
				t.Errorf("ID = %v, want %v", svid.ID, id)
			}
			_, _, err := x509svid.Verify(svid.Certificates, ca.Source(svid), x509svid.WithTime(tt.verifyAt))
			if (err == nil) != tt.wantVerify {
				t.Errorf("Verify() error = %v, want success %v", err, tt.wantVerify)
			}
			if _, _, err := x509svid.Verify(svid.Certificates, other.Source(svid)); err == nil {
				t.Error("SVID verified against another CA's bundle")
			}
		})
	}
}

func TestCreateCertificate(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	c := ca.CreateCertificate(identitytest.CertOptions{CommonName: "spiffe://example.org/x", URIs: []string{"spiffe://example.org/a", "spiffe://example.org/b"}})
	if c.Leaf.Subject.CommonName != "spiffe://example.org/x" || len(c.Leaf.URIs) != 2 {
		t.Errorf("certificate = CN %q, %d URIs; want the CN and 2 URIs", c.Leaf.Subject.CommonName, len(c.Leaf.URIs))
	}
	if _, err := x509svid.IDFromCert(c.Leaf); err == nil {
		t.Error("IDFromCert accepted two URI SANs")
	}
}

func TestSourceRotation(t *testing.T) {
	t.Parallel()
	ca := identitytest.NewCA(t, td)
	first := ca.CreateX509SVID(ca.ID("a"))
	src := ca.Source(first)
	second := ca.CreateX509SVID(ca.ID("b"))
	src.SetX509SVID(second)
	got, err := src.GetX509SVID()
	if err != nil || got != second || src.ID() != second.ID {
		t.Errorf("after SetX509SVID: %v, %v, ID %v", got, err, src.ID())
	}
}

func ExampleCA() {
	t := &testing.T{} // in a real test, the test's own *testing.T
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	svid := ca.CreateX509SVID(ca.ID("agent", "search", "dev"), identitytest.WithTTL(time.Minute))
	fmt.Println(svid.ID)
	// Output: spiffe://example.org/agent/search/dev
}
