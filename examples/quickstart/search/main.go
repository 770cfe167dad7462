// Command search is the quickstart's search agent: it serves one
// capability, search, over a small in-memory index, to the agents its
// policy allows (the orchestrator).
//
//	SPIFFE_ENDPOINT_SOCKET=unix:///tmp/aw/search.sock go run ./examples/quickstart/search
//
// Its configuration is examples/quickstart/search.yaml (or --config); its
// identity comes from the Workload API named by SPIFFE_ENDPOINT_SOCKET.
// It serves until SIGINT or SIGTERM, then drains in-flight tasks and exits
// 0. See examples/quickstart/README.md.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	agentweave "github.com/agentweave/agentweave-go"
)

// Query is the search capability's input.
type Query struct {
	Query string `json:"query"`
	// Limit bounds the hits returned: default 3, at most 10.
	Limit int `json:"limit,omitempty"`
}

// Hit is one document found.
type Hit struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet"`
	Score   int    `json:"score"`
}

// document is one entry of the index.
type document struct{ title, url, text string }

// index is the agent's whole corpus.
var index = []document{
	{
		title: "SPIFFE",
		url:   "https://spiffe.io/docs/latest/spiffe-about/overview/",
		text:  "SPIFFE gives every workload a cryptographic identity, a SPIFFE ID such as spiffe://example.org/agent/search, in an X.509 SVID.",
	},
	{
		title: "SPIRE",
		url:   "https://spiffe.io/docs/latest/spire-about/",
		text:  "SPIRE attests workloads and issues and rotates their SVIDs through the Workload API.",
	},
	{
		title: "Mutual TLS",
		url:   "https://spiffe.io/docs/latest/spiffe-about/spiffe-concepts/",
		text:  "With mutual TLS both agents present an SVID, so each one authenticates the other before any request is sent.",
	},
	{
		title: "Open Policy Agent",
		url:   "https://www.openpolicyagent.org/docs/latest/",
		text:  "OPA decides with Rego policies which agent may call which capability; every decision is audited.",
	},
	{
		title: "A2A protocol",
		url:   "https://a2a-protocol.org/latest/specification/",
		text:  "A2A lets agents discover each other with agent cards and exchange messages and tasks over JSON-RPC.",
	},
	{
		title: "Audit trail",
		url:   "https://github.com/agentweave/agentweave-go",
		text:  "Every authorization decision is written to a hash-chained audit trail that agentweave audit verify checks.",
	},
}

// search ranks the documents by the words of the query they contain, in
// their title (2 points each) and text (1 point each).
func search(_ context.Context, _ *agentweave.Request, q Query) ([]Hit, error) {
	words := strings.Fields(strings.ToLower(q.Query))
	if len(words) == 0 {
		// InputError rejects the task: the caller's fault, not a failure.
		return nil, &agentweave.InputError{Err: errors.New("query is empty")}
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 3
	}
	limit = min(limit, 10)
	hits := []Hit{}
	for _, d := range index {
		title, text := strings.ToLower(d.title), strings.ToLower(d.text)
		score := 0
		for _, w := range words {
			if len(w) < 3 { // "a", "of", …
				continue
			}
			if strings.Contains(title, w) {
				score += 2
			}
			if strings.Contains(text, w) {
				score++
			}
		}
		if score > 0 {
			hits = append(hits, Hit{Title: d.title, URL: d.url, Snippet: d.text, Score: score})
		}
	}
	slices.SortStableFunc(hits, func(a, b Hit) int { return cmp.Compare(b.Score, a.Score) })
	return hits[:min(len(hits), limit)], nil
}

func main() {
	config := flag.String("config", filepath.Join("examples", "quickstart", "search.yaml"), "the agent's configuration file (the default is relative to the repository's root)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *config)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "search:", err)
		os.Exit(1)
	}
}

// run serves the search agent configured in the file at config until ctx
// ends.
func run(ctx context.Context, config string) error {
	cfg, err := agentweave.LoadConfig(config)
	if err != nil {
		return err
	}
	agent, err := agentweave.New(ctx, cfg)
	if err != nil {
		return err
	}
	// The description and tags come from agent.capabilities in the file.
	if err := agent.Register(agentweave.Capability{Name: "search", Handler: agentweave.Func(search)}); err != nil {
		_ = agent.Close()
		return err
	}
	return agent.Run(ctx)
}
