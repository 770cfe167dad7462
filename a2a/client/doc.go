// Package client calls A2A agents by SPIFFE ID over mutual TLS.
//
// A [Client] holds the caller's identity, an authorization Enforcer and a
// [Resolver] that says where an agent with a given SPIFFE ID listens. Every
// operation is authorized by the caller's own policy before any network
// I/O, and the connection is accepted only if the server presents exactly
// the target's SPIFFE ID: the URL says where to connect, never who answers.
//
// [Client.Call] calls a capability and waits for the task; [Client.Stream]
// streams its events, resuming the subscription when a connection drops.
// [Client.Peer] gives the target's verified card (cached, revalidated with
// ETag) and every A2A operation, each authorized the same way.
//
// Calls go over the first binding of [Options].Bindings that the card
// offers (JSON-RPC, HTTP+JSON or gRPC), else over the card's first. gRPC connections are verified as
// the HTTP ones are ([GRPCDialOptions]); [GRPCResolver] lets any gRPC
// client dial a card's https URL.
package client
