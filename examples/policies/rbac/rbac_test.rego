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

# The role checks (startswith and a slash count) must accept exactly what
# the glob patterns in rbac.rego accept: one whole path segment for each
# "*", nothing more, nothing less.

test_name_is_exactly_one_segment if {
	authz.allow with input as call("spiffe://example.org/agent/orchestrator/a.b-c_d", "search")
	not authz.allow with input as call("spiffe://example.org/agent/orchestrator/prod/", "search")
	not authz.allow with input as call("spiffe://example.org/agent/analyst-eu/prod/x", "search")
	not authz.allow with input as call("spiffe://example.org/agent/analyst-eu/x/prod", "search")
	not authz.allow with input as call("spiffe://example.org/admin/alice/x", "delete_index")
	not authz.allow with input as call("spiffe://example.org/admin//alice", "delete_index")
}

test_prefix_is_whole_segments if {
	not authz.allow with input as call("spiffe://example.org/agent/orchestrator", "search")
	not authz.allow with input as call("spiffe://example.org/agent/orchestrators/prod", "search")
	not authz.allow with input as call("spiffe://example.org/agent/orchestrator-x/prod", "search")
	not authz.allow with input as call("spiffe://example.org/agent/analyst/prod", "search")
	not authz.allow with input as call("spiffe://example.org/agent/analyst-eu", "search")
	not authz.allow with input as call("spiffe://example.org/agent/x/analyst-eu/prod", "search")
	not authz.allow with input as call("spiffe://example.org/administrator/alice", "delete_index")
	not authz.allow with input as call("spiffe://example.org/admin", "delete_index")
	not authz.allow with input as call("spiffe://example.org/agent/admin/alice", "delete_index")
}

test_prefix_is_at_the_start if {
	not authz.allow with input as call("spiffe://evil.example/spiffe://example.org/admin/alice", "delete_index")
	not authz.allow with input as call("spiffe://example.org.evil.example/admin/alice", "delete_index")
	not authz.allow with input as call("spiffe://example.org:8443/admin/alice", "delete_index")
	not authz.allow with input as call("SPIFFE://example.org/admin/alice", "delete_index")
	not authz.allow with input as call("spiffe://example.org/Admin/alice", "delete_index")
	not authz.allow with input as call(" spiffe://example.org/admin/alice", "delete_index")
}

# A "*" also matches an empty segment, and so do the checks. A verified
# SPIFFE ID never has one (the SDK only passes IDs from verified SVIDs):
# this only pins the policy to its patterns.
test_empty_segment_matches_as_in_the_patterns if {
	authz.allow with input as call("spiffe://example.org/admin/", "delete_index")
	authz.allow with input as call("spiffe://example.org/agent/analyst-/prod", "search")
	authz.allow with input as call("spiffe://example.org/agent/analyst-eu/", "search")
}

# rbac.rego lists the task operations once per role: every list must be
# this one.
task_operations := {
	"GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
	"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
	"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
	"GetExtendedAgentCard",
}

test_every_role_may_use_every_task_operation if {
	every caller in [orchestrator, admin, "spiffe://example.org/agent/analyst-eu/prod"] {
		every operation in task_operations {
			authz.allow with input as object.union(call(caller, ""), {"operation": operation, "task_id": "t1"})
		}
	}
}

test_other_operations_are_no_task_operations if {
	every caller in [orchestrator, admin, "spiffe://example.org/agent/analyst-eu/prod"] {
		every operation in {"SendMessage", "SendStreamingMessage", "gettask", "GetTask ", ""} {
			not authz.allow with input as object.union(call(caller, ""), {"operation": operation})
		}
	}
}

test_task_operations_need_a_whole_role if {
	every caller in [
		"spiffe://example.org/agent/orchestrator/x/admin",
		"spiffe://example.org/agent/analyst-eu/prod/x",
		"spiffe://example.org/admin/a/b",
		"spiffe://example.org/agent/analyst/prod",
	] {
		not authz.allow with input as object.union(call(caller, ""), {"operation": "GetTask", "task_id": "t1"})
	}
}

test_empty_action_is_no_capability if {
	not authz.allow with input as call(admin, "")
	not authz.allow with input as call(orchestrator, "")
}

test_malformed_caller_denied if {
	not authz.allow with input as object.union(call(admin, "search"), {"caller_spiffe_id": 42})
	not authz.allow with input as object.union(call(admin, ""), {"caller_spiffe_id": null, "operation": "GetTask"})
	not authz.allow with input as object.remove(call(admin, "search"), {"caller_spiffe_id"})
}
