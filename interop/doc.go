// Package interop holds tests, and nothing else, that prove AgentWeave agents
// interoperate with the official A2A JavaScript SDK (@a2a-js/sdk, pinned in
// js/package.json): the SDK's client calls an AgentWeave agent, and an
// AgentWeave client calls an agent built with the SDK's server, both over
// mutual TLS with X509-SVIDs.
//
// The tests need Node (>= 20.18.1) and the SDK installed:
//
//	npm ci --prefix interop/js
//	go test -race ./interop/
//
// Without them the tests skip, or fail when CI=true or
// AGENTWEAVE_REQUIRE_INFRA=1 (see internal/harness.Required).
package interop
