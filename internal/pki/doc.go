// Package pki mints the X.509 material that AgentWeave's development and test
// trust domains hand out: a self-signed root per trust domain and leaf
// certificates signed by it.
//
// It is the one place that builds certificates, shared by
// [github.com/agentweave/agentweave-go/identity/devca] (the embedded
// development Workload API) and
// [github.com/agentweave/agentweave-go/identity/identitytest] (the exported
// test CA). Keys are ECDSA P-256 and never leave memory.
package pki
