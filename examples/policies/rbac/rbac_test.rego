package agentweave.authz_test

import data.agentweave.authz

orchestrator := "spiffe://example.org/agent/orchestrator/prod"

admin := "spiffe://example.org/admin/alice"

search_agent := "spiffe://example.org/agent/search/prod"

call(caller, action) := {
	"direction": "inbound",
	"caller_spiffe_id": caller,
	"callee_spiffe_id": search_agent,
	"caller_trust_domain": "example.org",
	"callee_trust_domain": "example.org",
	"action": action,
	"operation": "SendMessage",
	"time": "2026-01-02T03:04:05Z",
}

test_orchestrator_may_search if authz.allow with input as call(orchestrator, "search")

test_orchestrator_may_summarize if authz.allow with input as call(orchestrator, "summarize")

test_orchestrator_may_not_delete if not authz.allow with input as call(orchestrator, "delete_index")

test_admin_may_call_anything if authz.allow with input as call(admin, "delete_index")

test_analyst_pattern if {
	authz.allow with input as call("spiffe://example.org/agent/analyst-eu/prod", "search")
	not authz.allow with input as call("spiffe://example.org/agent/analyst-eu/prod", "summarize")
}

test_pattern_matches_whole_segments if {
	not authz.allow with input as call("spiffe://example.org/agent/orchestrator/x/admin", "search")
	not authz.allow with input as call("spiffe://example.org/admin/a/b", "search")
}

test_other_trust_domain_has_no_role if {
	not authz.allow with input as call("spiffe://evil.example/agent/orchestrator/prod", "search")
}

test_unknown_caller_denied if not authz.allow with input as call(search_agent, "search")

test_task_operations_need_a_role if {
	get := object.union(call(orchestrator, ""), {"operation": "GetTask", "task_id": "t1"})
	authz.allow with input as get
	not authz.allow with input as object.union(get, {"caller_spiffe_id": search_agent})
}

test_unknown_operation_denied if {
	not authz.allow with input as object.union(call(admin, ""), {"operation": "Frobnicate"})
}
