package main

// The CLI links every task store, so that any configuration it validates
// or serves can name one (tasks.store: sqlite | postgres).
import (
	_ "github.com/agentweave/agentweave-go/a2a/taskstore/postgres"
	_ "github.com/agentweave/agentweave-go/a2a/taskstore/sqlite"
)
