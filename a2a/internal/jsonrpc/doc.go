// Package jsonrpc fronts a2a-go's JSON-RPC binding: it fixes the
// envelope errors the binding gets wrong at the boundary (batches, wrong
// JSON types) and decodes and answers SendMessage, the call every
// capability invocation makes, in one pass each ([NewFront]). Whatever the
// fast path is not sure to decode exactly as the binding would goes to the
// binding unchanged (FuzzSendDecoding).
package jsonrpc
