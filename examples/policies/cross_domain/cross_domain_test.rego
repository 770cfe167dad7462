package agentweave.authz_test

import data.agentweave.authz

call(caller_td, action) := {
	"direction": "inbound",
	"caller_spiffe_id": sprintf("spiffe://%s/agent/client/prod", [caller_td]),
	"callee_spiffe_id": "spiffe://example.org/agent/search/prod",
	"caller_trust_domain": caller_td,
	"callee_trust_domain": "example.org",
	"action": action,
	"operation": "SendMessage",
	"time": "2026-01-02T03:04:05Z",
}

test_same_domain_may_call_anything if {
	authz.allow with input as call("example.org", "reindex")
	authz.allow with input as call("example.org", "search")
}

test_partner_may_call_public_capabilities if {
	authz.allow with input as call("partner.example.com", "search")
	authz.allow with input as call("research.example.net", "status")
}

test_partner_may_not_call_private_capabilities if {
	not authz.allow with input as call("partner.example.com", "reindex")
}

test_unknown_domain_denied if {
	not authz.allow with input as call("evil.example", "search")
}

test_partner_task_operations if {
	get := object.union(call("partner.example.com", ""), {"operation": "GetTask", "task_id": "t1"})
	authz.allow with input as get
	not authz.allow with input as object.union(get, {"operation": "CreateTaskPushNotificationConfig"})
}

test_empty_trust_domains_denied if {
	not authz.allow with input as object.union(call("", "search"), {"callee_trust_domain": ""})
}
