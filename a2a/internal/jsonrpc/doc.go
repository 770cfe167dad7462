// Package jsonrpc fronts a2a-go's JSON-RPC binding ([NewFront]): it fixes
// the envelope errors the binding gets wrong at the boundary (batches,
// wrong JSON types), reads A2A 1.0 params as ProtoJSON (proto field names
// accepted next to JSON names), decodes and answers SendMessage, the call
// every capability invocation makes, in one pass each, answers
// GetExtendedAgentCard in A2A 1.0's JSON, and lets its user begin a stream
// before the binding writes SSE headers, so that an early error is a plain
// JSON-RPC error for clients that accept one ([AcceptsJSON];
// [PlainStreamErrors] adapts a2a-go's client). Whatever the fast path is
// not sure to decode exactly as the binding would goes to the binding
// unchanged (FuzzSendDecoding, TestFastPathKeys).
package jsonrpc
