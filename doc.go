// Package agentweave builds AI agents that talk to each other securely.
//
// An [Agent] has a SPIFFE workload identity (an X.509 SVID from SPIRE, or
// from the embedded development CA), serves the A2A protocol over mutual
// TLS only, and has every call it receives or makes decided by OPA policy
// and written to a hash-chained audit trail before any business code
// runs. A developer writes capabilities and calls other agents by SPIFFE
// ID; identity, mTLS, policy, audit, metrics, traces, breakers, retries
// and rate limits come from the configuration:
//
//	cfg, err := agentweave.LoadConfig("search.yaml")
//	...
//	agent, err := agentweave.New(ctx, cfg)
//	...
//	agent.Register(agentweave.Capability{
//		Name: "search",
//		Handler: agentweave.Func(func(ctx context.Context, req *agentweave.Request, q Query) ([]Hit, error) {
//			return index.Search(ctx, q)
//		}),
//	})
//	err = agent.Run(ctx) // until ctx ends (SIGTERM), then drains in-flight tasks
//
// and from another agent:
//
//	res, err := orchestrator.Call(ctx, "spiffe://example.org/agent/search/prod", "search", Query{Text: "spiffe"})
//
// Outside environment development nothing switches identity, mTLS or
// authorization off: the configuration refuses allow-all, log-only
// decisions and a disabled audit trail, and [New] refuses an allow-all
// authorizer.
package agentweave
