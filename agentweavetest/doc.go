// Package agentweavetest runs AgentWeave agents on loopback: real agents
// (environment production, mutual TLS, embedded OPA, hash-chained audit
// files) whose SVIDs come from an in-memory CA instead of SPIRE.
//
// In a test, [New] gives a [Network] that stops with the test:
//
//	net := agentweavetest.New(t, agentweavetest.Options{})
//	net.Agent("search", agentweave.Capability{Name: "search", Description: "…", Handler: h})
//	orch := net.Agent("orchestrator")
//	res, err := orch.Call(ctx, net.ID("search"), "search", query)
//
// Outside a test (an Example, a demo program) [Open] gives the same network,
// which the caller closes; start agents there with [Network.Start], which
// returns its error:
//
//	net, err := agentweavetest.Open(agentweavetest.Options{})
//	…
//	defer net.Close()
//	orch, err := net.Start("orchestrator")
//
// # Configuration
//
// Every agent is built with [agentweave.New] from a configuration written
// in Go (no YAML): its name, the network's trust domain, environment
// production, the network's policy directory (reloaded every 100ms, see
// [Network.SetPolicy]), an audit file ([Network.AuditFile]) written without
// fsync, metrics on 127.0.0.1 and logs at level warn; New applies the
// defaults to every other key. [Options.Config] edits that configuration
// per agent before it is built, e.g. to set a rate limit on one agent:
//
//	agentweavetest.Options{Config: func(name string, cfg *agentweave.Config) {
//		if name == "search" {
//			cfg.Server.RateLimit = config.RateLimit{RequestsPerSecond: 10, Burst: 10}
//		}
//	}}
//
// The agent's SVID, listener, admin address and resolver are Go options
// the network passes after the configuration ([Options.AgentOptions] come
// last and can replace them), so the configuration's Workload API endpoint
// is a placeholder nothing dials.
//
// # Policy
//
// Every agent decides with [Options.Policy], by default [DefaultPolicy]:
// every workload of the trust domain may call every capability. A test about
// policy gives its own, or replaces it while the agents run with
// [Network.SetPolicy].
package agentweavetest
