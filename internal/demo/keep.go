package demo

import (
	"fmt"
	"io"
)

// printHints says how to call the running agents from another terminal.
func (n *network) printHints(out io.Writer) {
	srch, summ, orch := n.agents[search], n.agents[summarizer], n.agents[orchestrator]
	p := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	p("")
	p("The agents keep running. From another terminal (agentweave, or go run ./cmd/agentweave):")
	p("")
	p("  # orchestrator calls search: allowed")
	p("  agentweave call --socket %s --url %s --target %s --capability search --data '{\"query\":\"spiffe\"}'",
		n.sockets[orchestrator].Addr(), srch.URL(), srch.ID())
	p("  # orchestrator streams a summary from summarizer")
	p("  agentweave call --socket %s --url %s --target %s --capability summarize --stream --data '{\"topic\":\"tls\",\"documents\":[{\"title\":\"Mutual TLS\",\"text\":\"Both sides present an SVID. Neither trusts a header.\"}]}'",
		n.sockets[orchestrator].Addr(), summ.URL(), summ.ID())
	p("  # reporter asks orchestrator for research: orchestrator searches, then has the findings summarized")
	p("  agentweave call --socket %s --url %s --target %s --capability research --data '{\"topic\":\"audit\"}'",
		n.sockets[reporter].Addr(), orch.URL(), orch.ID())
	p("  # reporter calls search: denied by search's policy, with the reason")
	p("  agentweave call --socket %s --url %s --target %s --capability search --data '{\"query\":\"spiffe\"}'",
		n.sockets[reporter].Addr(), srch.URL(), srch.ID())
	p("  # search's health, readiness and metrics")
	p("  agentweave health http://%s/readyz", srch.AdminAddr())
	p("  curl -s http://%s/metrics | grep ^agentweave_auth_decisions_total", srch.AdminAddr())
	p("  # the audit trails, and the policy (edit it: the agents reload it within a second)")
	p("  agentweave audit verify %s", n.auditFile(search))
	p("  %s", n.policy)
	p("")
	p("Press Ctrl-C to stop.")
}
