// Package opa decides with Open Policy Agent policies written in Rego:
// in process ([Embedded]) or by asking an OPA server ([Remote]). Both are
// [authz.Authorizer]s and fail closed.
//
// # The contract
//
// Each decision evaluates the policy package (default agentweave/authz, that
// is `package agentweave.authz`, queried as data.agentweave.authz) with the
// [authz.Input] as the input document, under its JSON names:
//
//	{"direction": "inbound", "caller_spiffe_id": "spiffe://example.org/agent/orchestrator/prod",
//	 "callee_spiffe_id": "spiffe://example.org/agent/search/prod", "caller_trust_domain": "example.org",
//	 "callee_trust_domain": "example.org", "action": "search", "operation": "SendMessage",
//	 "task_id": "…", "context": {…}, "time": "2026-01-02T03:04:05Z"}
//
// The package answers with `allow` (a boolean) or `decision` (an object
// {"allow": bool, "reason": string}); decision wins when it is defined.
// Anything else denies, and the Decision's Reason says why: "no decision:
// data.agentweave.authz.allow is undefined", "… is a string, want a boolean",
// "policy error: …" (evaluation errors, such as conflicting rule outputs),
// "OPA unreachable …". Every Decision names the PolicyRevision that made it.
//
// # Embedded
//
// [NewEmbedded] loads Rego files, directories (every *.rego below, except
// *_test.rego) or OPA bundle tarballs, and prepares the query once per
// policy revision; [Embedded.Authorize] is one evaluation of the prepared
// query on OPA's evaluator (for the example RBAC policy on a 2-core machine,
// under 10 µs at the median and 50 µs at the 99th percentile;
// BenchmarkEmbedded):
//
//	a, err := opa.NewEmbedded(ctx, opa.EmbeddedOptions{Paths: []string{"policies/"}})
//	if err != nil { … }
//	defer a.Close()
//	d, err := a.Authorize(ctx, in) // d.Allow, d.Reason, d.PolicyRevision
//
// The input document holds only the fields the policy refers to (input.action
// and so on, found when the policy loads): the others cannot change its
// decisions, and encoding them would cost more than evaluating a small
// policy. A policy that uses the input as a whole (input, input[k], a
// function given input) gets them all.
//
// The files are polled (every second by default) and a changed policy is
// prepared and swapped in atomically; a change that does not compile is
// refused, logged and counted ([Embedded.Stats]) while the last good policy
// keeps serving.
//
// Decisions are cached per revision (EmbeddedOptions.CacheSize, default
// [DefaultCacheSize]) when the revision cannot depend on the time of the
// call: it does not read input.time and calls no builtin that reads the
// clock, the network, the environment or a random source (time.now_ns,
// http.send, rand.intn, io.jwt.decode_verify, …), which is decided when it
// loads. The key is the input fields the policy reads, so a hit costs a map
// lookup; a reload starts an empty cache.
//
// # Remote
//
// [NewRemote] POSTs {"input": …} to {endpoint}/v1/data/{policy path} of an
// OPA server, usually a sidecar, over one keep-alive transport, with a
// per-decision timeout (500 ms) and a circuit breaker: after consecutive
// failures it denies at once with "OPA unreachable (circuit open)", then
// probes again after a recovery timeout. Policy errors OPA reports are
// denials but do not open the breaker: one caller's odd input must not deny
// everyone.
//
// Policies are tested like any OPA policy (`opa test DIR`, or `agentweave
// authz test DIR`); see docs/policy.md and examples/policies.
package opa
