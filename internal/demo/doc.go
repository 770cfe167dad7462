// Package demo is `agentweave demo`: a self-contained walk through
// AgentWeave's guarantees, printed as a transcript.
//
// It starts the embedded development trust domain
// ([github.com/agentweave/agentweave-go/identity/devca]: a CA and a real
// SPIFFE Workload API socket per workload) and three agents built with the
// root package from their configuration, in environment production:
// orchestrator, search and summarizer, plus reporter, an agent that only
// calls. Each gets its SVID through its Workload API socket as it would
// from SPIRE, decides with the embedded OPA policy in policy/demo.rego
// (tested by policy/demo_test.rego) and audits to a file. The scenario
// then shows an allowed call, a streaming task, calls denied by policy on
// the way out and on the way in, impostors refused at the TLS handshake,
// and the verified audit trails. [Options.KeepRunning] leaves the agents
// up for the CLI. It needs no outside services.
package demo
