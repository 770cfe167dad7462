// Package demo is `agentweave demo`: a self-contained walk through
// AgentWeave's guarantees, printed as a transcript. It starts the embedded
// development trust domain ([github.com/agentweave/agentweave-go/identity/devca]),
// gives two agents their identities through the SPIFFE Workload API, lets
// them authenticate each other over mutual TLS, and shows impostors being
// refused at the handshake. It needs no outside services.
package demo
