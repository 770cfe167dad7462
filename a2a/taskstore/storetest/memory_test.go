package storetest_test

import (
	"testing"

	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/a2a/taskstore/storetest"
)

func TestMemoryStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(*testing.T) taskstore.Store { return taskstore.NewMemory(0) })
}
