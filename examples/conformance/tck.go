package main

import (
	"context"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
)

// legacyRun plays one of the older TCK's scenarios for one message.
type legacyRun func(s *scenarios, ctx context.Context, r *a2a.Request) error

// legacyScenarios are the older TCK's scenarios, named by the message ID's
// prefix, the longest matching: each message picks its own (the TCK answers
// an input-required task with a "tck-complete-task-..." message to finish
// it).
var legacyScenarios = map[string]legacyRun{
	"tck-complete-task":           ignoreResult(completeTask),
	"tck-artifact-text":           ignoreResult(artifactText),
	"tck-artifact-file-url":       ignoreResult(artifactFileURL),
	"tck-artifact-file":           ignoreResult(artifactFile),
	"tck-artifact-data":           ignoreResult(artifactData),
	"tck-message-response":        ignoreResult(messageResponse),
	"tck-input-required":          ignoreResult(inputRequired),
	"tck-reject-task":             ignoreResult(rejectTask),
	"tck-stream-001":              streamed("Stream hello from TCK"),
	"tck-stream-002":              func(_ *scenarios, ctx context.Context, r *a2a.Request) error { return r.Complete(ctx, "") },
	"tck-stream-003":              streamed("Stream task lifecycle"),
	"tck-stream-ordering-001":     streamed("Ordered output"),
	"tck-stream-artifact-text":    streamed("Streamed text content"),
	"tck-stream-artifact-file":    streamedFile,
	"tck-stream-artifact-chunked": streamedChunks,
	"test-resubscribe-message-id": (*scenarios).resubscribe,
}

func legacyScenario(messageID string) (legacyRun, bool) {
	name, ok := longestPrefix(messageID, legacyScenarios, false)
	return legacyScenarios[name], ok
}

func ignoreResult(f func(*scenarios, context.Context, *a2a.Request) (any, error)) legacyRun {
	return func(s *scenarios, ctx context.Context, r *a2a.Request) error {
		_, err := f(s, ctx, r)
		return err
	}
}

// streamed is the streaming scenarios' shape: working, one text artifact,
// completed.
func streamed(content string) legacyRun {
	return func(_ *scenarios, ctx context.Context, r *a2a.Request) error {
		if err := r.Progress(ctx, "Working"); err != nil {
			return err
		}
		return r.Artifact(ctx, "output", text(content))
	}
}

func streamedFile(_ *scenarios, ctx context.Context, r *a2a.Request) error {
	if err := r.Progress(ctx, "Working"); err != nil {
		return err
	}
	return r.Artifact(ctx, "output", file("output.txt", "text/plain", []byte("Streamed file content")))
}

func streamedChunks(_ *scenarios, ctx context.Context, r *a2a.Request) error {
	if err := r.Progress(ctx, "Working"); err != nil {
		return err
	}
	chunk := a2acore.NewArtifactID()
	if err := r.Chunk(ctx, chunk, "output", false, text("chunk-1 ")); err != nil {
		return err
	}
	return r.Chunk(ctx, chunk, "output", true, text("chunk-2"))
}

// resubscribe stays working for Resubscribe, so that a client can drop its
// stream and subscribe again.
func (s *scenarios) resubscribe(ctx context.Context, r *a2a.Request) error {
	if err := r.Progress(ctx, "Working"); err != nil {
		return err
	}
	if err := s.Wait(ctx, r.TaskID, s.Resubscribe); err != nil {
		return err
	}
	return r.Complete(ctx, "Resubscribe complete")
}
