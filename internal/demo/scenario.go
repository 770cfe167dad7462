package demo

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/identity"
	"github.com/agentweave/agentweave-go/transport"
)

// scenario is what the demo shows, once the agents run.
type scenario struct {
	t *transcript
	n *network

	task  string     // orchestrator's search task
	found []document // what search found
}

// run plays every section; an error means the demo could not go on.
func (s *scenario) run(ctx context.Context) error {
	s.allowedCall(ctx)
	s.streaming(ctx)
	if err := s.denials(ctx); err != nil {
		return err
	}
	if err := s.impostors(ctx); err != nil {
		return err
	}
	s.auditTrail()
	return nil
}

// allowedCall: orchestrator → search, allowed by both sides' policy.
func (s *scenario) allowedCall(ctx context.Context) {
	s.t.section(`orchestrator calls search's "search" capability (Agent.Call: A2A SendMessage over mTLS)`)
	orch, searchID := s.n.agents[orchestrator], s.n.id(search)
	res, err := orch.Call(ctx, searchID, "search", searchQuery{Query: "spiffe"})
	if !s.t.expect(err == nil && res.State == a2acore.TaskStateCompleted, "task %s", taskOutcome(res, err)) {
		return
	}
	s.task = res.TaskID
	var found searchResult
	err = res.Decode(&found)
	s.t.expect(err == nil && len(found.Documents) > 0, "result decoded: %d document(s) for %q", len(found.Documents), found.Query)
	for _, d := range found.Documents {
		s.t.line("      - %s", d.Title)
	}
	s.found = found.Documents
	s.t.expect(found.Caller == s.n.id(orchestrator),
		"search saw the caller as %s,\n         from the client certificate of the mTLS connection, not from a header", found.Caller)
	outRec, outOK := s.n.lastRecord(orchestrator, s.n.id(orchestrator), "search")
	inRec, inOK := s.n.lastRecord(search, s.n.id(orchestrator), "search")
	s.t.expect(outOK && inOK && outRec.Decision == audit.Allowed && inRec.Decision == audit.Allowed,
		"allowed by orchestrator's policy before sending (outbound) and by search's before its handler ran\n"+
			"         (inbound), each decision in the agent's audit trail: %q", inRec.Reason)
}

// streaming: orchestrator → summarizer, with progress and artifact chunks
// printed as they arrive.
func (s *scenario) streaming(ctx context.Context) {
	s.t.section(`orchestrator streams a summary from summarizer (Agent.Stream: A2A SendStreamingMessage)`)
	docs := s.found
	if len(docs) == 0 {
		docs = index[:3]
	}
	var (
		start            = time.Now()
		progress, chunks int
		final            a2acore.TaskState
		failure          error
	)
	for ev, err := range s.n.agents[orchestrator].Stream(ctx, s.n.id(summarizer), "summarize", summarizeRequest{Topic: "spiffe", Documents: docs}) {
		at := fmt.Sprintf("+%dms", time.Since(start).Milliseconds())
		if err != nil {
			failure = err
			break
		}
		switch ev.Kind {
		case agentweave.EventTask:
			final = ev.State
			s.t.line("%7s  task %s: %s", at, ev.TaskID, stateName(final))
		case agentweave.EventStatus:
			final = ev.State
			if ev.Message != "" {
				progress++
				s.t.line("%7s  progress: %s", at, ev.Message)
			} else {
				s.t.line("%7s  %s", at, stateName(final))
			}
		case agentweave.EventArtifact:
			chunks++
			last := ""
			if ev.LastChunk {
				last = " (last chunk)"
			}
			s.t.line("%7s  %s chunk %d%s: %s", at, ev.Artifact.Name, chunks, last, strings.TrimSpace(partsText(ev.Artifact.Parts)))
		}
	}
	if failure != nil {
		s.t.expect(false, "stream: %v", failure)
		return
	}
	s.t.expect(final == a2acore.TaskStateCompleted && progress >= 2 && chunks == len(docs),
		"%d progress update(s) and %d chunk(s) arrived as the summary was written; the task ended %s", progress, chunks, stateName(final))
}

// denials: reporter → search, denied by policy on the way out and, when
// reporter skips its own check, on the way in.
func (s *scenario) denials(ctx context.Context) error {
	s.t.section("The policy says no, with its reason: reporter calls search")
	rep, searchID, reporterID := s.n.agents[reporter], s.n.id(search), s.n.id(reporter)
	runs := s.n.searches.Load()

	s.t.line("reporter's own agent decides first (Agent.Call):")
	_, err := rep.Call(ctx, searchID, "search", searchQuery{Query: "salaries"})
	var de *authz.DenyError
	denied := errors.As(err, &de) && de.Input.Direction == authz.Outbound
	reason := ""
	if denied {
		reason = de.Decision.Reason
	}
	s.t.expect(denied, "denied by reporter's policy (outbound): %q", reasonOr(reason, err))
	seen := s.n.countRecords(search, reporterID)
	_, logged := s.n.lastRecord(reporter, reporterID, "search")
	s.t.expect(denied && seen == 0 && logged,
		"before any network I/O: search has no record of reporter; reporter's audit trail has the denial")

	s.t.line("reporter skips its own check, as the CLI `agentweave call --socket reporter.sock` does")
	s.t.line("(an operator's tool: the called agent enforces policy), and calls search directly:")
	src, err := identity.NewWorkloadSource(ctx, identity.WorkloadOptions{
		Addr: s.n.sockets[reporter].Addr(), StartTimeout: 10 * time.Second, Logger: s.n.log,
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer src.Close()
	client, err := client.New(src, client.Options{
		Resolver:  client.StaticResolver{s.n.sockets[search].ID(): s.n.agents[search].URL()},
		Enforcer:  &authz.Enforcer{Authorizer: authz.AllowAll()},
		Transport: transport.ClientOptions{TLSOptions: transport.TLSOptions{Logger: s.n.log}},
	})
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer client.Close()
	_, err = client.Call(ctx, s.n.sockets[search].ID(), "search", searchQuery{Query: "salaries"})
	reason, record := remoteReason(err)
	s.t.expect(errors.As(err, &de) && de.Peer, "denied by search's policy (inbound): %q", reason)
	s.t.expect(s.n.searches.Load() == runs && s.n.countRecords(search, reporterID) == 1,
		"search's handler never ran; search's audit trail has the denial%s", record)

	if s.task == "" {
		return nil
	}
	s.t.line("task operations are open to the demo's agents; whose task it is decides:")
	peer, err := rep.Client().Peer(ctx, s.n.sockets[search].ID())
	if err == nil {
		_, err = peer.GetTask(ctx, &a2acore.GetTaskRequest{ID: a2acore.TaskID(s.task)})
	}
	s.t.expect(errors.Is(err, a2acore.ErrTaskNotFound), "reporter asks search for orchestrator's task %s: %s", s.task, notFound(err))
	return nil
}

// taskOutcome describes a call's result.
func taskOutcome(res *agentweave.Result, err error) string {
	switch {
	case res != nil && err != nil:
		return fmt.Sprintf("%s: %s (%v)", res.TaskID, stateName(res.State), err)
	case err != nil:
		return err.Error()
	}
	return fmt.Sprintf("%s: %s", res.TaskID, stateName(res.State))
}

// stateName is TASK_STATE_COMPLETED as "completed".
func stateName(s a2acore.TaskState) string {
	return strings.ToLower(strings.TrimPrefix(string(s), "TASK_STATE_"))
}

func partsText(parts []*a2acore.Part) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString(p.Text())
	}
	return b.String()
}

// remoteReason is the reason of a denial answered by an agent, and
// " (audit ID)" naming the record in that agent's trail.
func remoteReason(err error) (reason, record string) {
	var de *authz.DenyError
	if !errors.As(err, &de) {
		return fmt.Sprint(err), ""
	}
	return de.Decision.Reason, " (audit " + de.Decision.AuditID + ")"
}

func reasonOr(reason string, err error) string {
	switch {
	case reason != "":
		return reason
	case err != nil:
		return err.Error()
	}
	return "not denied"
}

func notFound(err error) string {
	switch {
	case errors.Is(err, a2acore.ErrTaskNotFound):
		return "task not found (a task belongs to the identity that created it)"
	case err == nil:
		return "!! it got the task"
	}
	return err.Error()
}
