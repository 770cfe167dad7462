# METADATA
# title: Deny by default, with reasons
# description: >-
#   Answers decision {allow, reason}. A call is allowed only when a grant
#   names the caller and the capability and no deny rule fires; every denial
#   says why, and the reason reaches the audit log and the caller's error.
package agentweave.authz

# Grants: caller SPIFFE ID -> capabilities it may call.
grants := {
	"spiffe://example.org/agent/orchestrator/prod": {"search", "summarize"},
	"spiffe://example.org/agent/reporter/prod": {"summarize"},
}

# Capabilities nobody may call through A2A, whatever the grants say.
blocked_capabilities := {"shutdown"}

deny contains "caller has no SPIFFE ID" if input.caller_spiffe_id == ""

deny contains msg if {
	input.caller_trust_domain != input.callee_trust_domain
	msg := sprintf("caller trust domain %q is not the callee's (%q)", [input.caller_trust_domain, input.callee_trust_domain])
}

deny contains msg if {
	input.action in blocked_capabilities
	msg := sprintf("capability %q is blocked", [input.action])
}

granted if input.action in grants[input.caller_spiffe_id]

default decision := {"allow": false, "reason": "denied by default: no grant matches"}

decision := {"allow": false, "reason": concat("; ", sort(deny))} if count(deny) > 0

decision := {"allow": true, "reason": sprintf("%s is granted %q", [input.caller_spiffe_id, input.action])} if {
	count(deny) == 0
	granted
}

decision := {"allow": false, "reason": sprintf("%s has no grant for %q", [input.caller_spiffe_id, input.action])} if {
	count(deny) == 0
	not granted
	input.caller_spiffe_id in object.keys(grants)
}
