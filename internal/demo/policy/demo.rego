# METADATA
# title: Who may call whom in `agentweave demo`
# description: >-
#   The demo's agents are named by their SPIFFE IDs,
#   spiffe://<trust domain>/agent/<name>/<environment>. The orchestrator may
#   search the index and ask for summaries, search may summarize what it
#   found, reporters may ask the orchestrator for research and read
#   summaries but not search the index. Task operations (no capability) are
#   open to the demo's agents: the task engine only shows a caller its own
#   tasks. Every decision carries a reason, which ends up in the audit trail
#   and in the caller's error. Agents decide with the same rules in both
#   directions: the caller before it sends anything (outbound), the callee
#   before its handler runs (inbound).
package agentweave.authz

# The demo's agents, by name. The policy names agents rather than trust
# domains, so that it holds for any --trust-domain.
agents := {"orchestrator", "search", "summarizer", "reporter"}

# grants[callee][capability][caller] is why caller may call capability of
# callee.
grants := {
	"orchestrator": {"research": {"reporter": "reporters may ask the orchestrator for research"}},
	"search": {"search": {"orchestrator": "the orchestrator may search the index"}},
	"summarizer": {"summarize": {
		"orchestrator": "the orchestrator may ask for summaries",
		"search": "search may summarize what it found",
		"reporter": "reporters may read summaries",
	}},
}

# refusals[callee][capability][caller] explains a refusal better than the
# generic reason.
refusals := {"search": {"search": {"reporter": "reporters may read summaries, not search the index"}}}

# agent_name is the <name> of spiffe://<td>/agent/<name>/<env>, else the
# whole ID.
agent_name(id) := parts[4] if {
	parts := split(id, "/")
	count(parts) == 6
	parts[3] == "agent"
} else := id

caller := agent_name(input.caller_spiffe_id)

callee := agent_name(input.callee_spiffe_id)

permit(reason) := {"allow": true, "reason": reason}

refuse(reason) := {"allow": false, "reason": reason}

default decision := {"allow": false, "reason": "no rule of the demo policy applies"}

# The first rule that applies decides.
decision := refuse(sprintf("%s is not in trust domain %s", [input.caller_spiffe_id, input.callee_trust_domain])) if {
	input.caller_trust_domain != input.callee_trust_domain
} else := refuse(sprintf("%s is not an agent of the demo", [input.caller_spiffe_id])) if {
	not caller in agents
} else := permit("task operations are open to the demo's agents; task ownership decides") if {
	input.action == ""
} else := permit(reason) if {
	reason := grants[callee][input.action][caller]
} else := refuse(reason) if {
	reason := refusals[callee][input.action][caller]
} else := refuse(sprintf("%s may not call %s of %s", [caller, input.action, callee]))
