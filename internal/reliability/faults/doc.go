// Package faults is the fault part of AgentWeave's reliability suite: real
// AgentWeave agents under a bounded load while a real dependency fails.
// The dependencies are started by internal/harness: the OPA sidecar
// (killed and restarted), a peer agent (closed and restarted on its
// address), SPIRE (SVIDs rotating under load; the SPIRE agent killed and
// restarted) and the task store (an agent process SIGKILLed with SQLite
// and with PostgreSQL).
//
// Each case reports its figures with t.Logf and asserts them. The tests
// are short by default (the whole package runs in a few minutes under
// -race); AGENTWEAVE_SOAK=1 runs them at full length.
//
// The package has no API: everything is in its tests, and agentproc is
// the agent program the SIGKILL cases run as a child process.
package faults
