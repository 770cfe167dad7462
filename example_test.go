package agentweave_test

import (
	"context"
	"fmt"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
)

// Two agents on loopback, each with its own SVID, policy and audit trail:
// the orchestrator calls the search agent's capability by SPIFFE ID over
// mutual TLS, and the handler learns who called from the verified
// certificate. agentweavetest stands in for SPIRE and the configuration
// files; in production each agent comes from [agentweave.LoadConfig] and
// [agentweave.New].
func Example() {
	net, err := agentweavetest.Open(agentweavetest.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer net.Close()

	type query struct {
		Text string `json:"text"`
	}
	type hit struct {
		Title  string `json:"title"`
		Caller string `json:"caller"`
	}
	search := agentweave.Capability{
		Name:        "search",
		Description: "finds documents",
		Handler: agentweave.Func(func(_ context.Context, req *agentweave.Request, q query) ([]hit, error) {
			return []hit{{Title: "all about " + q.Text, Caller: req.Caller.String()}}, nil
		}),
	}
	if _, err := net.Start("search", search); err != nil {
		fmt.Println(err)
		return
	}
	orchestrator, err := net.Start("orchestrator")
	if err != nil {
		fmt.Println(err)
		return
	}

	res, err := orchestrator.Call(context.Background(), net.ID("search"), "search", query{Text: "SPIFFE"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var hits []hit
	if err := res.Decode(&hits); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.State)
	fmt.Printf("%+v\n", hits)
	// Output:
	// TASK_STATE_COMPLETED
	// [{Title:all about SPIFFE Caller:spiffe://example.org/agent/orchestrator/production}]
}
