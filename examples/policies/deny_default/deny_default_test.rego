package agentweave.authz_test

import data.agentweave.authz

call(caller, action) := {
	"direction": "inbound",
	"caller_spiffe_id": caller,
	"callee_spiffe_id": "spiffe://example.org/agent/search/prod",
	"caller_trust_domain": "example.org",
	"callee_trust_domain": "example.org",
	"action": action,
	"operation": "SendMessage",
	"time": "2026-01-02T03:04:05Z",
}

orchestrator := "spiffe://example.org/agent/orchestrator/prod"

test_granted_call_allowed if {
	d := authz.decision with input as call(orchestrator, "search")
	d.allow
	d.reason == `spiffe://example.org/agent/orchestrator/prod is granted "search"`
}

test_unknown_caller_denied_by_default if {
	d := authz.decision with input as call("spiffe://example.org/agent/stranger/prod", "search")
	not d.allow
	d.reason == "denied by default: no grant matches"
}

test_known_caller_without_grant if {
	d := authz.decision with input as call("spiffe://example.org/agent/reporter/prod", "search")
	not d.allow
	d.reason == `spiffe://example.org/agent/reporter/prod has no grant for "search"`
}

test_blocked_capability_denied_even_if_granted if {
	d := authz.decision with input as call(orchestrator, "shutdown")
	not d.allow
	d.reason == `capability "shutdown" is blocked`
}

test_all_reasons_reported if {
	cross := object.union(call(orchestrator, "shutdown"), {"caller_trust_domain": "evil.example"})
	d := authz.decision with input as cross
	not d.allow
	d.reason == `caller trust domain "evil.example" is not the callee's ("example.org"); capability "shutdown" is blocked`
}

test_missing_identity_denied if {
	d := authz.decision with input as call("", "search")
	not d.allow
	contains(d.reason, "caller has no SPIFFE ID")
}
