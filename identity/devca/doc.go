// Package devca is AgentWeave's embedded development trust domain: an
// in-memory certificate authority plus a real SPIFFE Workload API server
// that hands short-lived, automatically rotated X509-SVIDs to named
// development workloads.
//
// Agents read their identity from it through exactly the code path they use
// in production with SPIRE: go-spiffe's [github.com/spiffe/go-spiffe/v2/workloadapi.X509Source] dialling a
// unix socket. Only the address differs. It is what `agentweave demo` and
// local development use; it is not meant for production.
//
// # Creating the trust domain
//
// [New] creates a CA with a fresh ECDSA P-256 root that never leaves
// memory. The zero [Options] give trust domain example.org and one-hour
// SVIDs:
//
//	ca, err := devca.New(devca.Options{TTL: 10 * time.Minute})
//	if err != nil { ... }
//	bundle := ca.Bundle()       // trust anchor, for peers outside the demo
//	pemBytes := ca.BundlePEM()  // the same root, PEM-encoded
//
// # Serving a workload
//
// Each workload gets its own Workload API socket. [CA.Serve] starts a
// server for the workload called name, whose SPIFFE ID is
// spiffe://<trust domain>/agent/<name>/dev (see [CA.WorkloadID]):
//
//	dir, _ := os.MkdirTemp("", "aw-") // short: socket paths are limited to 100 bytes
//	srv, err := ca.Serve(ctx, "weather", filepath.Join(dir, "weather.sock"))
//	if err != nil { ... }
//	defer srv.Close()
//
// Every client that connects to the socket receives that workload's SVID;
// the socket's file mode (0600) is the only access control, which suits a
// single developer's machine. The server follows the SPIFFE Workload
// Endpoint specification: requests without the "workload.spiffe.io: true"
// metadata are refused with InvalidArgument, FetchX509SVID and
// FetchX509Bundles stream updates, and the JWT-SVID methods answer
// Unimplemented.
//
// # Consuming the SVID
//
// Point go-spiffe at [Server.Addr], or export [Server.Env] to a child
// process so that it finds the socket through SPIFFE_ENDPOINT_SOCKET:
//
//	source, err := workloadapi.NewX509Source(ctx,
//		workloadapi.WithClientOptions(workloadapi.WithAddr(srv.Addr())))
//	if err != nil { ... }
//	defer source.Close()
//	svid, err := source.GetX509SVID()
//
// # Rotation
//
// Each SVID is valid from ten seconds before it is minted until TTL after.
// When half the TTL has passed the server mints a new key and certificate
// and pushes them to every open stream; a slow client is never waited for
// and simply receives the latest SVID when it reads again.
// [Server.Rotations] counts the rotations and [Server.Current] returns the
// SVID being served.
//
// # Stopping
//
// [Server.Close], or cancelling the context passed to [CA.Serve], ends all
// streams, stops the gRPC server, removes the socket file and waits for the
// server's goroutines to exit.
package devca
