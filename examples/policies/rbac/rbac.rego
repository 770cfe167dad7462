# METADATA
# title: Role-based access by caller SPIFFE ID
# description: >-
#   Roles are SPIFFE ID patterns; each role may call some capabilities
#   (input.action). Orchestrators may call search and summarize, analysts
#   search, admins anything. Any caller with a role may use the A2A task
#   operations (the task engine checks that the task is the caller's).
package agentweave.authz

# Roles by caller SPIFFE ID, where <name> and <team> are one path segment
# each: any text without "/" (even empty, as "*" in a glob pattern).
#
#   role          SPIFFE ID                                         as a glob
#   orchestrator  spiffe://example.org/agent/orchestrator/<name>    .../agent/orchestrator/*
#   analyst       spiffe://example.org/agent/analyst-<team>/<name>  .../agent/analyst-*/*
#   admin         spiffe://example.org/admin/<name>                 .../admin/*
#
# A role check is startswith on the fixed start of the ID, then a count of
# all its slashes: as many as in the pattern, so that no segment can follow
# (spiffe://example.org/agent/orchestrator/x/admin is no orchestrator).
# When you change a pattern, recount. The two builtins cost a fraction of
# one glob.match call, and OPA indexes rules on startswith (see below).
# rbac_test.rego pins the edges down.

default allow := false

# Each rule checks the call, then the caller's role. OPA's rule index
# understands the comparisons of input.action and input.operation and
# startswith: a decision only evaluates the rules whose call and SPIFFE ID
# prefix can match, usually one. A rule that referred to another rule (a
# has_role helper, a named set of operations) would add a lookup to every
# call, so the rules repeat their role checks instead: keep them in step.

# Orchestrators may call search and summarize.
allow if {
	input.action in {"search", "summarize"}
	id := input.caller_spiffe_id
	startswith(id, "spiffe://example.org/agent/orchestrator/")
	strings.count(id, "/") == 5 # the prefix's: <name> has none
}

# Analysts may call search.
allow if {
	input.action == "search"
	id := input.caller_spiffe_id
	startswith(id, "spiffe://example.org/agent/analyst-")
	strings.count(id, "/") == 5 # 4 in the prefix, 1 in <team>/<name>
}

# Admins may call any capability.
allow if {
	input.action != ""
	id := input.caller_spiffe_id
	startswith(id, "spiffe://example.org/admin/")
	strings.count(id, "/") == 4 # the prefix's: <name> has none
}

# Every role may call the A2A methods on existing tasks and the extended
# card (input.action is ""): one rule per role, with the same operations.

allow if {
	input.action == ""
	input.operation in {
		"GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
		"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
		"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
		"GetExtendedAgentCard",
	}
	id := input.caller_spiffe_id
	startswith(id, "spiffe://example.org/agent/orchestrator/")
	strings.count(id, "/") == 5
}

allow if {
	input.action == ""
	input.operation in {
		"GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
		"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
		"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
		"GetExtendedAgentCard",
	}
	id := input.caller_spiffe_id
	startswith(id, "spiffe://example.org/agent/analyst-")
	strings.count(id, "/") == 5
}

allow if {
	input.action == ""
	input.operation in {
		"GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
		"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
		"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
		"GetExtendedAgentCard",
	}
	id := input.caller_spiffe_id
	startswith(id, "spiffe://example.org/admin/")
	strings.count(id, "/") == 4
}
