package client_test

import "github.com/agentweave/agentweave-go/a2a/internal/fixture"

// The test agent and its callers (a2a/internal/fixture).
type (
	env       = fixture.Env
	decisions = fixture.Decisions
)

var (
	agentID       = fixture.AgentID
	aliceID       = fixture.AliceID
	everyone      = fixture.Everyone
	newEnv        = fixture.New
	newEnvWrapped = fixture.NewWrapped
	asTask        = fixture.AsTask
)
