// Package wire is A2A's JSON at the boundary. It encodes A2A results in
// one pass, byte for byte as a2a-go's binding does (FuzzWireEncoding checks
// that): the JSON-RPC fast path answers with it, and the memory store keeps
// finished tasks in it. And it reads requests as ProtoJSON does: the
// request messages' proto field names ("task_id") become the JSON names
// a2a-go decodes ("taskId"), at the positions the proto gives them and
// nowhere inside user data ([Object.CamelCase]; TestSchemaIsTheProto,
// FuzzCamelCase).
package wire
