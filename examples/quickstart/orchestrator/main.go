// Command orchestrator is the quickstart's orchestrator agent: its
// capability plan asks the search agent (by SPIFFE ID, over mutual TLS,
// authorized by policy on both sides) for sources and returns a summary.
//
//	SPIFFE_ENDPOINT_SOCKET=unix:///tmp/aw/orchestrator.sock go run ./examples/quickstart/orchestrator
//
// Its configuration is examples/quickstart/orchestrator.yaml (or
// --config), which lists the search agent under peers. It serves until
// SIGINT or SIGTERM, then drains in-flight tasks and exits 0. See
// examples/quickstart/README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	agentweave "github.com/agentweave/agentweave-go"
)

// searchAgent is the SPIFFE ID of the search agent: the orchestrator calls
// it by identity, and the configuration's peers say where it listens.
const searchAgent = "spiffe://example.org/agent/search/dev"

// Goal is the plan capability's input.
type Goal struct {
	Goal string `json:"goal"`
}

// Plan is the plan capability's output.
type Plan struct {
	Goal    string   `json:"goal"`
	Summary string   `json:"summary"`
	Steps   []string `json:"steps"`
	Sources []Source `json:"sources"`
}

// SearchQuery is the input of the search agent's search capability.
type SearchQuery struct {
	Query string `json:"query"`
	Limit int    `json:"limit"`
}

// Source is a search hit the plan relies on: the search agent's Hit, as
// far as the orchestrator reads it.
type Source struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet"`
}

// planner serves plan with the agent's client.
type planner struct{ agent *agentweave.Agent }

func (p planner) plan(ctx context.Context, req *agentweave.Request, g Goal) (*Plan, error) {
	if strings.TrimSpace(g.Goal) == "" {
		return nil, &agentweave.InputError{Err: errors.New("goal is empty")}
	}
	_ = req.Progress(ctx, "searching for sources") // best effort: a status for callers that stream
	// Authorized by this agent's policy (outbound), then by the search
	// agent's (inbound), and audited on both sides.
	res, err := p.agent.Call(ctx, searchAgent, "search", SearchQuery{Query: g.Goal, Limit: 3})
	if err != nil {
		return nil, fmt.Errorf("asking the search agent: %w", err)
	}
	var sources []Source
	if err := res.Decode(&sources); err != nil {
		return nil, err
	}
	out := &Plan{Goal: g.Goal, Sources: sources, Steps: []string{}}
	for _, s := range sources {
		out.Steps = append(out.Steps, "read "+s.Title+": "+s.URL)
	}
	if len(sources) == 0 {
		out.Summary = fmt.Sprintf("No sources found for %q.", g.Goal)
		return out, nil
	}
	titles := make([]string, len(sources))
	for i, s := range sources {
		titles[i] = s.Title
	}
	out.Summary = fmt.Sprintf("%d sources for %q (%s). Start with %s: %s",
		len(sources), g.Goal, strings.Join(titles, ", "), sources[0].Title, sources[0].Snippet)
	return out, nil
}

func main() {
	config := flag.String("config", filepath.Join("examples", "quickstart", "orchestrator.yaml"), "the agent's configuration file (the default is relative to the repository's root)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *config)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "orchestrator:", err)
		os.Exit(1)
	}
}

// run serves the orchestrator configured in the file at config until ctx
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
	p := planner{agent: agent}
	if err := agent.Register(agentweave.Capability{Name: "plan", Handler: agentweave.Func(p.plan)}); err != nil {
		_ = agent.Close()
		return err
	}
	return agent.Run(ctx)
}
