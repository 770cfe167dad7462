// Package transport is how agents connect: mutual TLS between SPIFFE
// identities, carried over HTTP/2.
//
// [ServerTLSConfig] and [ClientTLSConfig] build tls.Configs that present the
// agent's current X509-SVID (read from an [identity.Source] on every
// handshake, so rotation needs no restart), verify the peer's X509-SVID
// against the source's trust bundles, and then ask an authorizer, a
// [spiffeid.Matcher], whether that SPIFFE ID may connect: an exact ID
// (spiffeid.MatchID), a pattern ([identity.MatchPatterns]) or a trust domain
// (spiffeid.MatchMemberOf). Host names are never verified: the SPIFFE ID is
// the identity. TLS 1.3 is the minimum; 1.2 can be allowed explicitly (a
// warning is logged) and nothing lower ever. Session tickets are off, so
// every connection is a full handshake that verifies the peer's current
// certificate.
//
// [Server] serves an http.Handler over those configs with timeouts against
// slow clients, HTTP/2 first, and puts the verified peer ID in every
// request's context ([identity.PeerIDFromContext]). [NewClient] returns an
// http.Client that pools and reuses mTLS connections.
//
// No connection outlives the certificates it was established with, although
// HTTP/2 keeps connections open for as long as they are used. The server
// refuses a request whose connection's client certificate has expired (401,
// before the handler runs, and the connection is told to close), closes
// each connection when its client's or its own certificate expires, and
// shortly before asks the client to reconnect, so that a client that has
// rotated its SVID loses no request. The client stops using a connection
// when the server's certificate on it expires.
//
//	srv, err := transport.NewServer(src, identity.MatchPatterns(callers...), handler, transport.ServerOptions{})
//	go srv.Serve(ln)
//	client, err := transport.NewClient(src, spiffeid.MatchID(serverID), transport.ClientOptions{})
//	resp, err := client.Get("https://" + ln.Addr().String() + "/")
package transport
