package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	agentweave "github.com/agentweave/agentweave-go"
)

// document is one entry of the search agent's index.
type document struct {
	Title string `json:"title"`
	Text  string `json:"text"`
}

// index is what the search agent searches.
var index = []document{
	{"SPIFFE IDs", "A SPIFFE ID names a workload, as in spiffe://example.org/agent/search/prod. It travels in the URI SAN of the workload's X.509 SVID."},
	{"X.509 SVIDs", "The SPIFFE Workload API hands each workload a short-lived certificate, its SVID, and rotates it before it expires. No secret is ever configured by hand."},
	{"Mutual TLS", "Both sides of a connection present their SVIDs and verify each other's against the trust bundle of the SPIFFE trust domain. A header claiming an identity proves nothing."},
	{"OPA policies", "Open Policy Agent decides every call from an input document naming caller, callee and capability. A decision carries a reason."},
	{"Audit trails", "Every decision becomes a hash-chained record. Editing, deleting or reordering a record breaks the chain."},
	{"The A2A protocol", "Agents send each other messages and stream task progress and artifacts. A task belongs to the identity that created it."},
}

// searchQuery is the search capability's input.
type searchQuery struct {
	Query string `json:"query"`
	Limit int    `json:"limit,omitempty"` // default 3
}

// searchResult is the search capability's result.
type searchResult struct {
	Query string `json:"query"`
	// Caller is the caller's SPIFFE ID as the search agent verified it,
	// from the client certificate of the mTLS connection.
	Caller    string     `json:"caller"`
	Documents []document `json:"documents"`
}

// summarizeRequest is the summarize capability's input.
type summarizeRequest struct {
	Topic     string     `json:"topic"`
	Documents []document `json:"documents"`
}

// researchRequest is the orchestrator's research capability's input.
type researchRequest struct {
	Topic string `json:"topic"`
}

// researchResult is what research returns: a summary, not the index's
// documents (its callers may read summaries, not search the index).
type researchResult struct {
	Topic   string   `json:"topic"`
	Summary string   `json:"summary"`
	Sources []string `json:"sources"`
}

// chunkDelay paces the summary's chunks, as a model producing text would,
// so that streaming shows.
const chunkDelay = 40 * time.Millisecond

// searchCapability searches the index; runs counts its runs.
func searchCapability(runs *atomic.Int64) agentweave.Capability {
	return agentweave.Capability{
		Name:        "search",
		Description: "Searches the demo index; answers with the documents found and the verified caller",
		Examples:    []string{`{"query":"spiffe"}`},
		Handler: agentweave.Func(func(_ context.Context, req *agentweave.Request, q searchQuery) (searchResult, error) {
			runs.Add(1)
			if strings.TrimSpace(q.Query) == "" {
				return searchResult{}, &agentweave.InputError{Err: errors.New(`no query: send {"query":"…"}`)}
			}
			if q.Limit <= 0 {
				q.Limit = 3
			}
			res := searchResult{Query: q.Query, Caller: req.Caller.String(), Documents: []document{}}
			for _, d := range index {
				if len(res.Documents) < q.Limit && strings.Contains(strings.ToLower(d.Title+" "+d.Text), strings.ToLower(q.Query)) {
					res.Documents = append(res.Documents, d)
				}
			}
			return res, nil
		}),
	}
}

// summarizeCapability streams a summary of documents: progress updates,
// then one artifact chunk per document.
func summarizeCapability() agentweave.Capability {
	return agentweave.Capability{
		Name:        "summarize",
		Description: "Summarizes documents, streaming the summary as it is written",
		Examples:    []string{`{"topic":"spiffe","documents":[{"title":"SPIFFE IDs","text":"A SPIFFE ID names a workload."}]}`},
		Handler: func(ctx context.Context, req *agentweave.Request) (any, error) {
			var in summarizeRequest
			if err := req.Decode(&in); err != nil {
				return nil, &agentweave.InputError{Err: err}
			}
			if len(in.Documents) == 0 {
				return nil, &agentweave.InputError{Err: errors.New(`no documents: send {"documents":[{"title":"…","text":"…"}]}`)}
			}
			if err := req.Progress(ctx, fmt.Sprintf("reading %d document(s) about %q", len(in.Documents), in.Topic)); err != nil {
				return nil, err
			}
			if err := req.Progress(ctx, "writing the summary"); err != nil {
				return nil, err
			}
			id := a2acore.NewArtifactID()
			for i, d := range in.Documents {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(chunkDelay):
				}
				line := fmt.Sprintf("%s: %s\n", d.Title, firstSentence(d.Text))
				if err := req.Chunk(ctx, id, "summary", i == len(in.Documents)-1, a2acore.NewTextPart(line)); err != nil {
					return nil, err
				}
			}
			return nil, nil
		},
	}
}

// researchCapability is the orchestrator's: it searches (as the
// orchestrator), has the documents summarized, and returns the summary.
func researchCapability(orchestrator *agentweave.Agent, search, summarizer string) agentweave.Capability {
	return agentweave.Capability{
		Name:        "research",
		Description: "Researches a topic: searches the index, has the documents summarized, returns the summary",
		Examples:    []string{`{"topic":"spiffe"}`},
		Handler: agentweave.Func(func(ctx context.Context, req *agentweave.Request, in researchRequest) (researchResult, error) {
			if strings.TrimSpace(in.Topic) == "" {
				return researchResult{}, &agentweave.InputError{Err: errors.New(`no topic: send {"topic":"…"}`)}
			}
			if err := req.Progress(ctx, "searching"); err != nil {
				return researchResult{}, err
			}
			res, err := orchestrator.Call(ctx, search, "search", searchQuery{Query: in.Topic})
			if err != nil {
				return researchResult{}, fmt.Errorf("search: %w", err)
			}
			var found searchResult
			if err := res.Decode(&found); err != nil {
				return researchResult{}, err
			}
			out := researchResult{Topic: in.Topic, Sources: []string{}}
			for _, d := range found.Documents {
				out.Sources = append(out.Sources, d.Title)
			}
			if len(found.Documents) == 0 {
				out.Summary = "nothing found"
				return out, nil
			}
			if err := req.Progress(ctx, fmt.Sprintf("summarizing %d document(s)", len(found.Documents))); err != nil {
				return researchResult{}, err
			}
			var (
				summary strings.Builder
				final   a2acore.TaskState
			)
			for ev, err := range orchestrator.Stream(ctx, summarizer, "summarize", summarizeRequest{Topic: in.Topic, Documents: found.Documents}) {
				if err != nil {
					return researchResult{}, fmt.Errorf("summarize: %w", err)
				}
				final = ev.State
				if ev.Kind == agentweave.EventArtifact {
					for _, p := range ev.Artifact.Parts {
						summary.WriteString(p.Text())
					}
				}
			}
			if final != a2acore.TaskStateCompleted {
				return researchResult{}, fmt.Errorf("summarize: the task ended %s", final)
			}
			out.Summary = strings.TrimSpace(summary.String())
			return out, nil
		}),
	}
}

// firstSentence is text up to its first full stop.
func firstSentence(text string) string {
	if i := strings.Index(text, ". "); i >= 0 {
		return text[:i+1]
	}
	return text
}
