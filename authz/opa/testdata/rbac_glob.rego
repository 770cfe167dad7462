# The example RBAC policy (examples/policies/rbac) as it was first written,
# with glob.match: the reference its faster checks must agree with
# (TestRBACExampleMatchesGlob, FuzzRBACExample).
package agentweave.authz

orchestrators := "spiffe://example.org/agent/orchestrator/*"

analysts := "spiffe://example.org/agent/analyst-*/*"

admins := "spiffe://example.org/admin/*"

default allow := false

allow if {
	input.action in {"search", "summarize"}
	glob.match(orchestrators, ["/"], input.caller_spiffe_id)
}

allow if {
	input.action == "search"
	glob.match(analysts, ["/"], input.caller_spiffe_id)
}

allow if {
	input.action != ""
	glob.match(admins, ["/"], input.caller_spiffe_id)
}

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
