# METADATA
# title: AgentWeave quickstart
# description: >-
#   The operator may call the orchestrator's plan; the orchestrator may
#   call search's search; nobody else may call anything. Agents of the
#   quickstart may use the A2A task operations (the task engine shows a
#   caller only the tasks it created). Every decision says why: the reason
#   is written to the audit trail and returned to a denied caller.
package agentweave.authz

# The quickstart's workloads, by the SPIFFE IDs `agentweave dev up` issues
# (spiffe://<trust domain>/agent/<name>/dev). With SPIRE, register entries
# with the same IDs, or change them here and in the configurations.
operator := "spiffe://example.org/agent/operator/dev"

orchestrator := "spiffe://example.org/agent/orchestrator/dev"

search := "spiffe://example.org/agent/search/dev"

# The quickstart's agents, as reasons name them.
agents := {operator: "the operator", orchestrator: "the orchestrator", search: "the search agent"}

# Capabilities: the agent that serves each one, and the only agent that may
# call it.
capabilities := {
	"plan": {"served_by": orchestrator, "caller": operator},
	"search": {"served_by": search, "caller": orchestrator},
}

# A2A methods that call a capability (input.action names it).
call_operations := {"SendMessage", "SendStreamingMessage"}

# A2A methods on existing tasks, and the agent card (input.action is "").
task_operations := {
	"GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
	"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
	"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig",
	"GetExtendedAgentCard", "GetAgentCard",
}

# The policy answers decision {allow, reason}, which wins over allow. Do not
# name a rule or function allow: the agents query it too.
default decision := {"allow": false, "reason": "denied by default"}

decision := capability_decision if input.action != ""

decision := task_decision if input.action == ""

# A capability call: the first rule that matches decides.
capability_decision := denied(sprintf("%s is not an agent of the quickstart", [input.caller_spiffe_id])) if {
	not agents[input.caller_spiffe_id]
} else := denied(sprintf("%s offers no capability %q", [name(input.callee_spiffe_id), input.action])) if {
	not served
} else := denied(sprintf("%s does not call a capability", [input.operation])) if {
	not input.operation in call_operations
} else := allowed(sprintf("%s may call %s", [name(input.caller_spiffe_id), input.action])) if {
	input.caller_spiffe_id == capabilities[input.action].caller
} else := denied(sprintf("only %s may call %s, not %s", [
	name(capabilities[input.action].caller), input.action,
	name(input.caller_spiffe_id),
]))

# served: the callee serves the capability called.
served if capabilities[input.action].served_by == input.callee_spiffe_id

# An operation on existing tasks (or the card): any agent of the quickstart.
task_decision := denied(sprintf("%s is not an A2A task operation", [input.operation])) if {
	not input.operation in task_operations
} else := allowed(sprintf("%s may use %s on its own tasks", [name(input.caller_spiffe_id), input.operation])) if {
	agents[input.caller_spiffe_id]
} else := denied(sprintf("%s is not an agent of the quickstart", [input.caller_spiffe_id]))

allowed(reason) := {"allow": true, "reason": reason}

denied(reason) := {"allow": false, "reason": reason}

# name names an agent, or is its SPIFFE ID when it is not one of ours.
name(id) := agents[id]

name(id) := id if not agents[id]
