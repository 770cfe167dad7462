// Package taskstore keeps A2A tasks: the [Store] interface the engine
// writes every task snapshot to, the in-memory [Memory] store (the default)
// and page [Cursor]s for listing.
//
// A task belongs to the SPIFFE ID that created it: every method takes the
// owner, and another owner's task behaves exactly like one that does not
// exist. Updates are a compare-and-swap on the task's version, so replicas
// sharing a store never overwrite each other.
//
// Durable stores live beneath this package and are linked into a program
// only when it imports them: [github.com/agentweave/agentweave-go/a2a/taskstore/sqlite]
// (one node, survives restarts) and
// [github.com/agentweave/agentweave-go/a2a/taskstore/postgres] (replicas).
// [github.com/agentweave/agentweave-go/a2a/taskstore/storetest] is the
// conformance suite every implementation passes.
package taskstore
