package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
)

// actsPrefix starts every ACTS behaviour name.
const actsPrefix = "tck-"

// actsBehavior is one behaviour of the ACTS contract (ACTS section 11).
type actsBehavior struct {
	run func(s *scenarios, ctx context.Context, r *a2a.Request) (any, error)
	// turns: the task may wait for its client, whose answers run the
	// behaviour again.
	turns bool
}

// actsBehaviors are the ACTS behaviours this agent implements, by name.
// acts/sut-behaviors.yaml at the repository root declares the same names
// (TestContract holds the two together).
var actsBehaviors = map[string]actsBehavior{
	"tck-complete-task":     {run: completeTask},
	"tck-long-running":      {run: (*scenarios).longRunning},
	"tck-multi-turn":        {run: (*scenarios).multiTurn, turns: true},
	"tck-stream-basic":      {run: (*scenarios).streamBasic},
	"tck-stream-chunked":    {run: (*scenarios).streamChunked},
	"tck-message-response":  {run: messageResponse},
	"tck-cancel":            {run: workUntilCanceled},
	"tck-task-failure":      {run: taskFailure},
	"tck-artifact-text":     {run: artifactText},
	"tck-artifact-data":     {run: artifactData},
	"tck-artifact-file":     {run: artifactFile},
	"tck-artifact-file-url": {run: artifactFileURL},
	"tck-input-required":    {run: inputRequired, turns: true},
	"tck-reject-task":       {run: rejectTask},
	"tck-client-parse":      {run: clientParse},
}

// actsMissing are ACTS behaviours this agent cannot play yet, and why.
var actsMissing = map[string]string{
	"tck-auth-required": "not played yet: a2a.Request.RequireAuth exists; the credential exchange ACTS expects after auth-required is still to be implemented",
}

// actsName returns the implemented behaviour that text names: the longest
// name it starts with, ending at a word boundary. ok is false when text
// names none, or names one of actsMissing.
func actsName(text string) (string, bool) {
	text = strings.TrimSpace(text)
	name, ok := longestPrefix(text, actsBehaviors, true)
	if missing, isMissing := longestPrefix(text, actsMissing, true); isMissing && len(missing) > len(name) {
		return "", false
	}
	return name, ok
}

// unknownBehavior is the error for a "tck-" text naming no behaviour: it
// fails the task, loudly.
func unknownBehavior(text string) error {
	text = strings.TrimSpace(text)
	if name, ok := longestPrefix(text, actsMissing, true); ok {
		return fmt.Errorf("ACTS behaviour %s is not implemented by this agent: %s", name, actsMissing[name])
	}
	word, _, _ := strings.Cut(text, " ")
	names := make([]string, 0, len(actsBehaviors))
	for n := range actsBehaviors {
		names = append(names, n)
	}
	slices.Sort(names)
	return fmt.Errorf("unknown ACTS behaviour %q: the first text part must start with one of %s", word, strings.Join(names, ", "))
}

func (s *scenarios) runACTS(ctx context.Context, name string, r *a2a.Request) (any, error) {
	return actsBehaviors[name].run(s, ctx, r)
}

func completeTask(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	return nil, r.Complete(ctx, "Hello from TCK")
}

// longRunning is observably working for LongRunning, then leaves an
// artifact (the corpus checks the finished task has one) and completes.
func (s *scenarios) longRunning(ctx context.Context, r *a2a.Request) (any, error) {
	if err := r.Progress(ctx, "Working on it"); err != nil {
		return nil, err
	}
	if err := s.Wait(ctx, r.TaskID, s.LongRunning); err != nil {
		return nil, err
	}
	if err := r.Artifact(ctx, "long-running", text("long running result")); err != nil {
		return nil, err
	}
	return nil, r.Complete(ctx, "long running work finished")
}

// multiTurn asks for input after every message until one starts with
// "done".
func (s *scenarios) multiTurn(ctx context.Context, r *a2a.Request) (any, error) {
	said, _ := firstText(r.Message)
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(said)), "done") {
		s.tasks.forget(r.TaskID)
		return nil, r.Complete(ctx, "multi-turn complete")
	}
	return nil, r.RequireInput(ctx, "Send more input, or a message starting with done to finish")
}

// streamBasic is working, one text artifact, completed: separate events.
func (s *scenarios) streamBasic(ctx context.Context, r *a2a.Request) (any, error) {
	if err := s.streamStart(ctx, r); err != nil {
		return nil, err
	}
	if err := r.Artifact(ctx, "streamed", text("streamed content")); err != nil {
		return nil, err
	}
	return nil, r.Complete(ctx, "stream complete")
}

// streamChunked is working, one artifact in three appended chunks,
// completed.
func (s *scenarios) streamChunked(ctx context.Context, r *a2a.Request) (any, error) {
	if err := s.streamStart(ctx, r); err != nil {
		return nil, err
	}
	id := a2acore.NewArtifactID()
	chunks := []string{"chunk one ", "chunk two ", "chunk three"}
	for i, c := range chunks {
		if err := r.Chunk(ctx, id, "chunked", i == len(chunks)-1, text(c)); err != nil {
			return nil, err
		}
	}
	return nil, r.Complete(ctx, "stream complete")
}

// streamStart reports working and holds it for StreamHold, so that a
// client subscribing to the task sees the rest.
func (s *scenarios) streamStart(ctx context.Context, r *a2a.Request) error {
	if err := r.Progress(ctx, "streaming started"); err != nil {
		return err
	}
	return s.Wait(ctx, r.TaskID, s.StreamHold)
}

func messageResponse(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	return nil, r.Reply(ctx, text("Direct message response"))
}

// workUntilCanceled stays working until the task is canceled (the engine
// then cancels ctx and records the cancellation).
func workUntilCanceled(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	if err := r.Progress(ctx, "Working until canceled"); err != nil {
		return nil, err
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

var errAsked = errors.New("tck-task-failure: the task fails, as asked")

func taskFailure(*scenarios, context.Context, *a2a.Request) (any, error) {
	return nil, errAsked
}

func artifactText(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	return nil, r.Artifact(ctx, "output", text("Generated text content"))
}

func artifactData(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	return nil, r.Artifact(ctx, "output", a2acore.NewDataPart(map[string]any{"key": "value", "count": 42}))
}

func artifactFile(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	return nil, r.Artifact(ctx, "output", file("output.txt", "text/plain", []byte("Generated file content")))
}

func artifactFileURL(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	return nil, r.Artifact(ctx, "output", fileURL("output.txt", "text/plain", "https://example.com/output.txt"))
}

// inputRequired asks for input, at every message of its task.
func inputRequired(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	return nil, r.RequireInput(ctx, "Please provide more input")
}

func rejectTask(_ *scenarios, ctx context.Context, r *a2a.Request) (any, error) {
	return nil, r.Reject(ctx, "rejected")
}
