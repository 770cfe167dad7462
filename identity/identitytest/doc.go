// Package identitytest is a test certificate authority for SPIFFE identities,
// so tests of AgentWeave agents, and users' tests of their own agents, can
// mint X509-SVIDs without SPIRE.
//
//	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
//	svid := ca.CreateX509SVID(spiffeid.RequireFromString("spiffe://example.org/agent/search/dev"))
//	src := ca.Source(svid) // an identity.Source serving svid and ca's bundle
//
// Options shape the SVID: [WithTTL], [WithLifetime], [Expired],
// [NotYetValid]. [CA.CreateCertificate] makes certificates that are not valid
// SVIDs (no URI SAN, the ID in the common name, two URI SANs) to test what a
// verifier refuses. A CA of another trust domain is simply another [NewCA].
//
// Failures call t.Fatal; nothing here returns an error.
package identitytest
