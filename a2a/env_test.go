package a2a_test

import "github.com/agentweave/agentweave-go/a2a/internal/fixture"

// The test agent and its callers (a2a/internal/fixture).
type (
	env       = fixture.Env
	decisions = fixture.Decisions
)

var (
	td       = fixture.TD
	agentID  = fixture.AgentID
	aliceID  = fixture.AliceID
	bobID    = fixture.BobID
	everyone = fixture.Everyone

	capabilities = fixture.Capabilities
	newEnv       = fixture.New
	newEnvWith   = fixture.NewWith
	call         = fixture.CallRequest
	asTask       = fixture.AsTask
	firstError   = fixture.FirstError
)
