// Package attack is the "slow and hostile clients" and "identity attacks"
// part of the reliability suite: real AgentWeave agents (package
// agentweavetest: production mode, mutual TLS, embedded OPA, audit file)
// on loopback, attacked by clients that stall, abuse HTTP/2, send
// oversized or malformed requests, or present forged identities. Each
// test asserts the agent's behaviour and reports its figures with t.Logf.
//
// `make test` runs the short version (the whole package in well under a
// minute); with AGENTWEAVE_SOAK=1 (`make soak`) the floods are ten times
// larger.
package attack
