package a2a

import (
	"context"
	"fmt"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/a2aproject/a2a-go/v2/a2asrv"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/authz"
)

// GetExtendedAgentCard implements a2asrv.RequestHandler. The engine alone
// knows no card: mounted by [NewHandler], which knows the public one, it
// serves each caller its own extended card (see extendedCard), unless the
// card does not declare one (UnsupportedOperationError); called directly
// it answers ExtendedAgentCardNotConfiguredError, once authorized.
func (e *Engine) GetExtendedAgentCard(ctx context.Context, _ *a2acore.GetExtendedAgentCardRequest) (*a2acore.AgentCard, error) {
	return e.extendedCard(ctx, nil)
}

// extendedCard is the agent card for the caller (A2A §3.1.11: "MAY return
// different details based on client authentication level"): the public
// card with the skills the caller's policy lets it call, each decided as
// the SendMessage that calls it would be (inbound, operation SendMessage,
// action the skill). The GetExtendedAgentCard operation itself is
// authorized and audited like any; the per-skill decisions are questions,
// not calls, and are not audited one by one (a card request would write as
// many records as the agent has skills). A decision that fails leaves its
// skill out.
func (e *Engine) extendedCard(ctx context.Context, public *a2acore.AgentCard) (*a2acore.AgentCard, error) {
	ctx, caller, err := e.admitted(ctx, "GetExtendedAgentCard", "", "", nil)
	if err != nil {
		return nil, err
	}
	switch {
	case public == nil:
		return nil, a2acore.NewError(a2acore.ErrExtendedCardNotConfigured, "this engine is not mounted with an agent card (a2a.NewHandler)")
	case !public.Capabilities.ExtendedAgentCard:
		return nil, a2acore.NewError(a2acore.ErrUnsupportedOperation, "this agent's card does not offer an extended agent card (capabilities.extendedAgentCard)")
	}
	card := *public
	card.Capabilities.ExtendedAgentCard = true
	card.Signatures = nil // they sign the public card, not this one
	card.Skills = make([]a2acore.AgentSkill, 0, len(public.Skills))
	for _, s := range public.Skills {
		if e.mayCall(ctx, caller, s.ID) {
			card.Skills = append(card.Skills, s)
		}
	}
	return &card, nil
}

// mayCall asks the policy, without recording it, whether caller may call
// capability; failures and timeouts mean no. In log-only mode every call
// proceeds, so every skill is callable.
func (e *Engine) mayCall(ctx context.Context, caller spiffeid.ID, capability string) bool {
	if e.authz.LogOnly {
		return true
	}
	timeout := e.authz.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := e.ask(ctx, &authz.Input{
		Direction: authz.Inbound, Operation: "SendMessage", Action: capability, Time: time.Now().UTC(),
		CallerSPIFFEID: caller.String(), CallerTrustDomain: caller.TrustDomain().Name(),
		CalleeSPIFFEID: e.self.String(), CalleeTrustDomain: e.self.TrustDomain().Name(),
	})
	return err == nil && d.Allow
}

func (e *Engine) ask(ctx context.Context, in *authz.Input) (d authz.Decision, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("authorizer panicked: %v", r)
		}
	}()
	return e.authz.Authorizer.Authorize(ctx, in)
}

// carded is the engine as NewHandler serves it: with the public card, to
// serve extended cards.
type carded struct {
	*Engine
	card *a2acore.AgentCard
}

var _ a2asrv.RequestHandler = carded{}

func (c carded) GetExtendedAgentCard(ctx context.Context, _ *a2acore.GetExtendedAgentCardRequest) (*a2acore.AgentCard, error) {
	return c.extendedCard(ctx, c.card)
}
