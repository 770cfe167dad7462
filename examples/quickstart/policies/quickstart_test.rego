package agentweave.authz_test

import data.agentweave.authz

operator := "spiffe://example.org/agent/operator/dev"

orchestrator := "spiffe://example.org/agent/orchestrator/dev"

search := "spiffe://example.org/agent/search/dev"

stranger := "spiffe://example.org/agent/stranger/dev"

# call is the input of caller calling capability action of callee.
call(caller, callee, action) := {
	"direction": "inbound",
	"caller_spiffe_id": caller,
	"callee_spiffe_id": callee,
	"caller_trust_domain": "example.org",
	"callee_trust_domain": "example.org",
	"action": action,
	"operation": "SendMessage",
	"time": "2026-01-02T03:04:05Z",
}

# task is the input of caller operating on a task of callee.
task(caller, callee, operation) := object.union(call(caller, callee, ""), {"operation": operation, "task_id": "t1"})

test_orchestrator_may_call_search if {
	d := authz.decision with input as call(orchestrator, search, "search")
	d == {"allow": true, "reason": "the orchestrator may call search"}
}

test_outbound_call_is_decided_the_same if {
	d := authz.decision with input as object.union(call(orchestrator, search, "search"), {"direction": "outbound"})
	d.allow
}

test_streaming_call_allowed if {
	d := authz.decision with input as object.union(call(orchestrator, search, "search"), {"operation": "SendStreamingMessage"})
	d.allow
}

test_operator_may_call_plan if {
	d := authz.decision with input as call(operator, orchestrator, "plan")
	d == {"allow": true, "reason": "the operator may call plan"}
}

test_nobody_else_may_call_search if {
	d := authz.decision with input as call(operator, search, "search")
	d == {"allow": false, "reason": "only the orchestrator may call search, not the operator"}
	e := authz.decision with input as call(search, search, "search")
	e == {"allow": false, "reason": "only the orchestrator may call search, not the search agent"}
}

test_nobody_else_may_call_plan if {
	d := authz.decision with input as call(search, orchestrator, "plan")
	d == {"allow": false, "reason": "only the operator may call plan, not the search agent"}
}

test_unknown_caller_denied if {
	d := authz.decision with input as call(stranger, search, "search")
	d == {"allow": false, "reason": "spiffe://example.org/agent/stranger/dev is not an agent of the quickstart"}
}

test_other_trust_domain_denied if {
	d := authz.decision with input as call("spiffe://evil.example/agent/orchestrator/dev", search, "search")
	not d.allow
}

test_capability_of_another_agent_denied if {
	d := authz.decision with input as call(operator, search, "plan")
	d == {"allow": false, "reason": `the search agent offers no capability "plan"`}
}

test_unknown_capability_denied if {
	d := authz.decision with input as call(orchestrator, search, "delete_index")
	d == {"allow": false, "reason": `the search agent offers no capability "delete_index"`}
}

test_capability_with_a_task_operation_denied if {
	d := authz.decision with input as object.union(call(orchestrator, search, "search"), {"operation": "GetTask"})
	d == {"allow": false, "reason": "GetTask does not call a capability"}
}

test_known_agents_may_use_task_operations if {
	every op in ["GetTask", "ListTasks", "CancelTask", "SubscribeToTask", "GetAgentCard"] {
		d := authz.decision with input as task(operator, orchestrator, op)
		d.allow
	}
	d := authz.decision with input as task(orchestrator, search, "GetTask")
	d == {"allow": true, "reason": "the orchestrator may use GetTask on its own tasks"}
}

test_unknown_caller_may_not_use_task_operations if {
	d := authz.decision with input as task(stranger, search, "GetTask")
	d == {"allow": false, "reason": "spiffe://example.org/agent/stranger/dev is not an agent of the quickstart"}
}

test_unknown_operation_denied if {
	d := authz.decision with input as task(operator, orchestrator, "Frobnicate")
	d == {"allow": false, "reason": "Frobnicate is not an A2A task operation"}
}

test_no_decision_without_input_denies if {
	d := authz.decision with input as {}
	not d.allow
}
