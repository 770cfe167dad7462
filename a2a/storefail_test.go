package a2a_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/a2a/taskstore/sqlite"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// TestStoreFailureFailsTheCall: when the store cannot take the task, the
// caller gets an error at once (nothing is served from a task that was
// never recorded), for tasks created up front and deferred ones alike.
func TestStoreFailureFailsTheCall(t *testing.T) {
	t.Parallel()
	store, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "tasks.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	close(release)
	engine, err := a2a.NewEngine(a2a.EngineOptions{Capabilities: capabilities(release), Store: store, Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close() })
	if err := store.Close(); err != nil { // the database goes away
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(identity.WithPeerID(t.Context(), aliceID), 10*time.Second)
	defer cancel()

	if _, err := engine.SendMessage(ctx, call("echo", nil)); err == nil {
		t.Error("SendMessage(echo) with a closed store succeeded")
	}
	deferred := call("hello", nil)
	deferred.Message.Parts = a2acore.ContentParts{a2acore.NewTextPart("task please")}
	if _, err := engine.SendMessage(ctx, deferred); err == nil || ctx.Err() != nil {
		t.Errorf("SendMessage(deferred task) = %v (ctx %v), want a store error before the deadline", err, ctx.Err())
	}
	var streamErr error
	for _, err := range engine.SendStreamingMessage(ctx, deferred) {
		if err != nil {
			streamErr = err
		}
	}
	if streamErr == nil || ctx.Err() != nil {
		t.Errorf("stream of a deferred task = %v (ctx %v), want a store error", streamErr, ctx.Err())
	}
}
