// Package identity answers "who am I" and "who are you" for an agent.
//
// An agent's identity is a SPIFFE X509-SVID. A [Source] supplies the agent's
// current SVID and the trust bundles it accepts peers from; it is read on
// every TLS handshake, so rotation never needs a restart and no key ever
// touches disk.
//
// Two sources exist:
//
//   - [WorkloadSource] streams SVIDs and bundles from a SPIFFE Workload API
//     (a SPIRE agent, or the embedded development CA in
//     [github.com/agentweave/agentweave-go/identity/devca]). It is the
//     production source. [NewWorkloadSource] waits, for a bounded time, until
//     the SVID it wants arrives, and otherwise fails with an error that names
//     the socket and what went wrong: an agent never starts without an SVID.
//   - [StaticSource] serves an SVID and bundle loaded from PEM files. It does
//     not rotate and is meant for development only.
//
// Both limit the bundles they hand out to the agent's own trust domain plus
// the federated trust domains it allows ([ErrTrustDomainNotAllowed] for the
// rest), so a peer from any other trust domain fails the handshake.
//
// Peers are matched with [Pattern]s such as spiffe://example.org/agent/*,
// whose wildcards match whole path segments only: agent/* matches
// agent/search but never agent/x/admin. [MatchPatterns] turns patterns into a
// [spiffeid.Matcher] for the transport layer.
//
// Once a connection is verified, the transport puts the peer's SPIFFE ID in
// the request context; handlers read it with [PeerIDFromContext].
package identity
