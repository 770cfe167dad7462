# METADATA
# title: Cross-domain calls from partner trust domains
# description: >-
#   Agents of our own trust domain may call any capability. Agents of an
#   allowed partner trust domain may call only public capabilities. Every
#   other trust domain is denied (the TLS handshake already refuses domains
#   outside allowed_trust_domains; this is the second line).
package agentweave.authz

partner_domains := {"partner.example.com", "research.example.net"}

public_capabilities := {"search", "status"}

default allow := false

# Our own trust domain: everything.
allow if {
	input.caller_trust_domain == input.callee_trust_domain
	input.caller_trust_domain != ""
}

# Partners: public capabilities only.
allow if {
	input.caller_trust_domain in partner_domains
	input.action in public_capabilities
}

# Partners may follow and cancel their own tasks (the task engine checks
# ownership), but not configure push notifications or read the extended card.
allow if {
	input.caller_trust_domain in partner_domains
	input.action == ""
	input.operation in {"GetTask", "CancelTask", "SubscribeToTask"}
}
