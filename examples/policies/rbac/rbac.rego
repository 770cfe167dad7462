# METADATA
# title: Role-based access by caller SPIFFE ID
# description: >-
#   Roles are SPIFFE ID patterns; each role may call some capabilities
#   (input.action). Orchestrators may call search and summarize, analysts
#   search, admins anything. Any caller with a role may use the A2A task
#   operations (the task engine checks that the task is the caller's).
package agentweave.authz

# Roles by SPIFFE ID pattern. "*" matches within one path segment:
# agent/orchestrator/* matches agent/orchestrator/prod, never
# agent/orchestrator/x/admin.
orchestrators := "spiffe://example.org/agent/orchestrator/*"

analysts := "spiffe://example.org/agent/analyst-*/*"

admins := "spiffe://example.org/admin/*"

default allow := false

# Each rule checks the action first, then the pattern: a decision runs one
# glob match for the caller's capability, not one per role.

# Orchestrators may call search and summarize.
allow if {
	input.action in {"search", "summarize"}
	glob.match(orchestrators, ["/"], input.caller_spiffe_id)
}

# Analysts may call search.
allow if {
	input.action == "search"
	glob.match(analysts, ["/"], input.caller_spiffe_id)
}

# Admins may call any capability.
allow if {
	input.action != ""
	glob.match(admins, ["/"], input.caller_spiffe_id)
}

# A2A methods on existing tasks and the extended card (input.action is "").
task_operations := {
	"GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
	"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
	"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
	"GetExtendedAgentCard",
}

allow if {
	input.action == ""
	input.operation in task_operations
	some role in [orchestrators, analysts, admins]
	glob.match(role, ["/"], input.caller_spiffe_id)
}
