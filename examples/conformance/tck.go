package main

import (
	"context"
	"strings"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
)

// resubscribeDelay is how long the resubscribe scenario stays working, so a
// client can drop its stream and subscribe again.
var resubscribeDelay = 3 * time.Second

// tck is the capability behind the A2A TCK's scenario contract: it routes
// on the incoming message's ID prefix. It is the agent's default
// capability, so TCK clients need no AgentWeave metadata.
func tck() a2a.Capability {
	return a2a.Capability{
		Name:        "tck",
		Description: "A2A TCK scenarios, chosen by the messageId prefix",
		Tags:        []string{"conformance"},
		Replies:     true,
		Default:     true,
		Handler:     func(ctx context.Context, c *a2a.Request) (any, error) { return nil, runScenario(ctx, c) },
	}
}

func text(s string) *a2acore.Part { return a2acore.NewTextPart(s) }

func file(name, mediaType string, content []byte) *a2acore.Part {
	p := a2acore.NewRawPart(content)
	p.Filename, p.MediaType = name, mediaType
	return p
}

// streamed is the streaming scenarios' shape: working, one text artifact,
// completed.
func streamed(ctx context.Context, c *a2a.Request, content string) error {
	if err := c.Progress(ctx, "Working"); err != nil {
		return err
	}
	return c.Artifact(ctx, "output", text(content))
}

func runScenario(ctx context.Context, c *a2a.Request) error {
	id := c.Message.ID
	switch {
	case strings.HasPrefix(id, "tck-complete-task"):
		return c.Complete(ctx, "Hello from TCK")
	case strings.HasPrefix(id, "tck-artifact-text"):
		return c.Artifact(ctx, "output", text("Generated text content"))
	case strings.HasPrefix(id, "tck-artifact-file-url"):
		p := a2acore.NewFileURLPart("https://example.com/output.txt", "text/plain")
		p.Filename = "output.txt"
		return c.Artifact(ctx, "output", p)
	case strings.HasPrefix(id, "tck-artifact-file"):
		return c.Artifact(ctx, "output", file("output.txt", "text/plain", []byte("Generated file content")))
	case strings.HasPrefix(id, "tck-artifact-data"):
		return c.Artifact(ctx, "output", a2acore.NewDataPart(map[string]any{"key": "value", "count": 42}))
	case strings.HasPrefix(id, "tck-message-response"):
		return c.Reply(ctx, text("Direct message response"))
	case strings.HasPrefix(id, "tck-input-required"):
		return c.RequireInput(ctx, "Please provide more input")
	case strings.HasPrefix(id, "tck-reject-task"):
		return c.Reject(ctx, "rejected")
	case strings.HasPrefix(id, "tck-stream-001"):
		return streamed(ctx, c, "Stream hello from TCK")
	case strings.HasPrefix(id, "tck-stream-002"):
		return c.Complete(ctx, "")
	case strings.HasPrefix(id, "tck-stream-003"):
		return streamed(ctx, c, "Stream task lifecycle")
	case strings.HasPrefix(id, "tck-stream-ordering-001"):
		return streamed(ctx, c, "Ordered output")
	case strings.HasPrefix(id, "tck-stream-artifact-text"):
		return streamed(ctx, c, "Streamed text content")
	case strings.HasPrefix(id, "tck-stream-artifact-file"):
		if err := c.Progress(ctx, "Working"); err != nil {
			return err
		}
		return c.Artifact(ctx, "output", file("output.txt", "text/plain", []byte("Streamed file content")))
	case strings.HasPrefix(id, "tck-stream-artifact-chunked"):
		if err := c.Progress(ctx, "Working"); err != nil {
			return err
		}
		chunk := a2acore.NewArtifactID()
		if err := c.Chunk(ctx, chunk, "output", false, text("chunk-1 ")); err != nil {
			return err
		}
		return c.Chunk(ctx, chunk, "output", true, text("chunk-2"))
	case strings.HasPrefix(id, "test-resubscribe-message-id"):
		if err := c.Progress(ctx, "Working"); err != nil {
			return err
		}
		select {
		case <-time.After(resubscribeDelay):
		case <-ctx.Done():
			return ctx.Err()
		}
		return c.Complete(ctx, "Resubscribe complete")
	}
	// Anything else: answer with the text it carried.
	return c.Reply(ctx, text("Echo: "+c.Text()))
}
