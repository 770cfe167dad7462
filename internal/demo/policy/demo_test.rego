package agentweave.authz_test

import data.agentweave.authz

id(name) := sprintf("spiffe://example.org/agent/%s/dev", [name])

# call is the input document of caller calling capability of callee.
call(caller, callee, capability) := {
	"direction": "inbound",
	"caller_spiffe_id": id(caller),
	"callee_spiffe_id": id(callee),
	"caller_trust_domain": "example.org",
	"callee_trust_domain": "example.org",
	"action": capability,
	"operation": "SendMessage",
	"time": "2026-01-02T03:04:05Z",
}

allowed(doc) if authz.decision.allow with input as doc

reason(doc) := r if {
	r := authz.decision.reason with input as doc
}

test_orchestrator_may_search if {
	allowed(call("orchestrator", "search", "search"))
	reason(call("orchestrator", "search", "search")) == "the orchestrator may search the index"
}

test_orchestrator_may_summarize if allowed(call("orchestrator", "summarizer", "summarize"))

test_search_may_summarize if allowed(call("search", "summarizer", "summarize"))

test_reporter_may_read_summaries if allowed(call("reporter", "summarizer", "summarize"))

test_reporter_may_ask_for_research if allowed(call("reporter", "orchestrator", "research"))

test_reporter_may_not_search if {
	not allowed(call("reporter", "search", "search"))
	reason(call("reporter", "search", "search")) == "reporters may read summaries, not search the index"
}

test_outbound_decides_alike if {
	doc := object.union(call("reporter", "search", "search"), {"direction": "outbound"})
	not allowed(doc)
	reason(doc) == "reporters may read summaries, not search the index"
	allowed(object.union(call("orchestrator", "search", "search"), {"direction": "outbound"}))
}

test_nobody_else_may_search if {
	not allowed(call("summarizer", "search", "search"))
	reason(call("summarizer", "search", "search")) == "summarizer may not call search of search"
}

test_unknown_capability_denied if {
	not allowed(call("orchestrator", "search", "delete_index"))
	reason(call("orchestrator", "search", "delete_index")) == "orchestrator may not call delete_index of search"
}

test_task_operations_open_to_agents if {
	get := object.union(call("reporter", "search", ""), {"operation": "GetTask", "task_id": "t1"})
	allowed(get)
	reason(get) == "task operations are open to the demo's agents; task ownership decides"
	allowed(object.union(get, {"operation": "GetAgentCard", "task_id": ""}))
}

test_unknown_workload_denied if {
	doc := object.union(call("reporter", "search", ""), {"caller_spiffe_id": id("intruder")})
	not allowed(doc)
	reason(doc) == "spiffe://example.org/agent/intruder/dev is not an agent of the demo"
	not allowed(object.union(doc, {"action": "search"}))
}

test_non_agent_id_denied if {
	doc := object.union(call("orchestrator", "search", "search"), {"caller_spiffe_id": "spiffe://example.org/orchestrator"})
	not allowed(doc)
}

test_other_trust_domain_denied if {
	doc := object.union(call("orchestrator", "search", "search"), {
		"caller_spiffe_id": "spiffe://evil.example/agent/orchestrator/dev",
		"caller_trust_domain": "evil.example",
	})
	not allowed(doc)
	reason(doc) == "spiffe://evil.example/agent/orchestrator/dev is not in trust domain example.org"
}

test_any_trust_domain_works if {
	doc := {
		"direction": "inbound",
		"caller_spiffe_id": "spiffe://acme.test/agent/orchestrator/dev",
		"callee_spiffe_id": "spiffe://acme.test/agent/search/dev",
		"caller_trust_domain": "acme.test",
		"callee_trust_domain": "acme.test",
		"action": "search",
		"operation": "SendMessage",
	}
	allowed(doc)
}

test_missing_input_denied if not allowed({})
