// Package wire encodes A2A results as JSON in one pass, byte for byte as
// a2a-go's binding does (FuzzWireEncoding checks that): the JSON-RPC fast
// path answers with it, and the memory store keeps finished tasks in it.
package wire
