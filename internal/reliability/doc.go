// Package reliability holds AgentWeave's reliability suite: agents under
// load while what they depend on fails (SPIRE, OPA, peers, the task
// store), and under attack (slow and hostile clients, forged identities).
// Each case reports its figures with t.Logf. `make test` runs the short
// version; `make soak` (AGENTWEAVE_SOAK=1) runs each case for minutes.
package reliability
