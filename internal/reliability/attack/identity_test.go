package attack_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/identity/identitytest"
	"github.com/agentweave/agentweave-go/observe"
)

// TestIdentityAttacks presents forged, stale and malformed identities to a
// real agent. Each must be refused at the handshake: the client's request
// fails, the agent counts agentweave_tls_handshake_failures_total with the
// right reason, and nothing of it reaches the audit trail.
func TestIdentityAttacks(t *testing.T) { //nolint:tparallel // subtests in turn: each reads the agent's counters
	t.Parallel()
	tg := newTarget(t, nil)
	ca := tg.net.CA()
	// An attacker's identities use names no legitimate caller has, so the
	// audit trail can be searched for them.
	id := func(name string) spiffeid.ID { return ca.ID("agent", name, "production") }
	other := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("evil.org"))

	tests := []struct {
		name       string
		cert       *tls.Certificate // nil: no client certificate
		maxVersion uint16
		claims     string // the SPIFFE ID the attack claims, searched in the audit trail
		reason     string // agentweave_tls_handshake_failures_total reason
	}{
		{
			name: "expired SVID", claims: id("expired").String(), reason: observe.ReasonBadCertificate,
			cert: ptr(identitytest.TLSCertificate(ca.CreateX509SVID(id("expired"), identitytest.Expired()))),
		},
		{
			name: "not yet valid SVID", claims: id("early").String(), reason: observe.ReasonBadCertificate,
			cert: ptr(identitytest.TLSCertificate(ca.CreateX509SVID(id("early"), identitytest.NotYetValid()))),
		},
		{
			// Another trust domain, signed by its own CA, which the agent
			// neither holds nor federates with: the SVID cannot be
			// verified.
			name: "other trust domain", claims: "spiffe://evil.org/agent/orchestrator/production", reason: observe.ReasonBadCertificate,
			cert: ptr(identitytest.TLSCertificate(other.CreateX509SVID(other.ID("agent", "orchestrator", "production")))),
		},
		{
			name: "self-signed with the right SPIFFE ID", claims: id("selfsigned").String(), reason: observe.ReasonBadCertificate,
			cert: ptr(selfSigned(t, id("selfsigned"))),
		},
		{
			name: "SPIFFE ID in the CN", claims: id("cn").String(), reason: observe.ReasonBadCertificate,
			cert: ptr(ca.CreateCertificate(identitytest.CertOptions{CommonName: id("cn").String()})),
		},
		{
			name: "two URI SANs", claims: id("twosans").String(), reason: observe.ReasonBadCertificate,
			cert: ptr(ca.CreateCertificate(identitytest.CertOptions{URIs: []string{id("twosans").String(), id("twosans2").String()}})),
		},
		{
			name: "TLS 1.2 only", claims: id("tls12").String(), reason: observe.ReasonProtocol,
			cert: ptr(identitytest.TLSCertificate(ca.CreateX509SVID(id("tls12")))), maxVersion: tls.VersionTLS12,
		},
		{name: "no client certificate", reason: observe.ReasonNoCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tg.handshakeFailures(t, tt.reason)
			total := allHandshakeFailures(t, tg)
			cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12, MaxVersion: tt.maxVersion} //nolint:gosec // a hostile client
			if tt.cert != nil {
				cfg.Certificates = []tls.Certificate{*tt.cert}
			}
			hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: true, DisableKeepAlives: true}}
			start := time.Now()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, tg.agent.URL()+"/",
				strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ListTasks","params":{}}`))
			req.Header.Set("A2A-Version", "1.0")
			resp, err := hc.Do(req)
			if err == nil {
				_ = resp.Body.Close()
				t.Fatalf("request succeeded with status %d, want a handshake failure", resp.StatusCode)
			}
			refused := time.Since(start)
			counted := tt.reason
			eventually(t, 5*time.Second, "handshake failure not counted with reason "+tt.reason, func() bool {
				return tg.handshakeFailures(t, tt.reason) > before
			})
			if d := allHandshakeFailures(t, tg) - total; d != 1 {
				t.Errorf("handshake failures rose by %v over all reasons, want 1", d)
			}
			t.Logf("refused in %v; client error: %v; server reason: %s", refused.Round(time.Microsecond), err, counted)
			if tt.claims != "" && strings.Contains(tg.audit(t), tt.claims) {
				t.Errorf("the audit trail has a record of %s", tt.claims)
			}
		})
	}
	// The audit trail is written and reachable: a legitimate call shows
	// up in it, so the absence above means something.
	before := tg.audit(t)
	caller := tg.caller(t, "legit")
	if err := tg.call(t.Context(), caller); err != nil {
		t.Fatalf("legitimate call after the attacks: %v", err)
	}
	eventually(t, 5*time.Second, "the legitimate call is not in the audit trail", func() bool {
		return strings.Contains(strings.TrimPrefix(tg.audit(t), before), caller.ID().String())
	})
	if n := tg.echoes.Load(); n != 1 {
		t.Errorf("the capability ran %d times, want 1 (the legitimate call only)", n)
	}
}

// allHandshakeFailures sums agentweave_tls_handshake_failures_total over
// every reason.
func allHandshakeFailures(t *testing.T, tg *target) float64 {
	t.Helper()
	var sum float64
	for _, r := range []string{observe.ReasonNoCertificate, observe.ReasonBadCertificate, observe.ReasonUnauthorized, observe.ReasonProtocol, observe.ReasonTimeout, "other"} {
		sum += tg.handshakeFailures(t, r)
	}
	return sum
}

// selfSigned is a certificate that carries id as its one URI SAN, exactly
// like an SVID, but signs itself.
func selfSigned(t *testing.T, id spiffeid.ID) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(id.String())
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Organization: []string{"SPIRE"}},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs:         []*url.URL{u},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

func ptr[T any](v T) *T { return &v }
