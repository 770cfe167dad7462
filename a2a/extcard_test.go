package a2a_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/agentweave/agentweave-go/a2a"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/identity"
)

// TestExtendedAgentCard: GetExtendedAgentCard answers each caller with the
// skills its policy lets it call (A2A §3.1.11), over both bindings, in A2A
// 1.0's JSON; the operation is authorized and audited like any, the
// per-skill questions are not audited; a caller denied the operation gets
// the permission error; a failed decision leaves its skill out.
func TestExtendedAgentCard(t *testing.T) {
	t.Parallel()
	carolID := spiffeid.RequireFromString("spiffe://example.org/agent/carol/dev")
	grants := map[string][]string{aliceID.String(): {"ask", "echo", "boom"}, bobID.String(): {"hello"}}
	audit := &decisions{}
	policy := authz.AuthorizerFunc(func(_ context.Context, in *authz.Input) (authz.Decision, error) {
		switch {
		case in.Direction != authz.Inbound || in.CalleeSPIFFEID != agentID.String():
			return authz.Decision{}, errors.New("malformed input")
		case in.Operation == "GetExtendedAgentCard":
			return authz.Decision{Allow: in.CallerSPIFFEID != carolID.String(), Reason: "carol may not read the card"}, nil
		case in.Operation != "SendMessage":
			return authz.Decision{Reason: "unexpected operation " + in.Operation}, nil
		case in.Action == "boom":
			return authz.Decision{}, errors.New("policy engine exploded")
		}
		return authz.Decision{Allow: slices.Contains(grants[in.CallerSPIFFEID], in.Action), Reason: "not granted"}, nil
	})
	e := newEnvWith(t, func(o *a2a.EngineOptions, _ identity.Source) {
		o.Enforcer = &authz.Enforcer{Authorizer: policy, Auditor: audit}
	})
	if public := e.Card(e.HTTPClient(aliceID)); !public.Capabilities.ExtendedAgentCard || len(public.Skills) != 7 {
		t.Fatalf("public card: extendedAgentCard %v, %d skills; want true and every skill", public.Capabilities.ExtendedAgentCard, len(public.Skills))
	}
	skills := func(c *a2acore.AgentCard) string {
		var ids []string
		for _, s := range c.Skills {
			ids = append(ids, s.ID)
		}
		return strings.Join(ids, ",")
	}
	for _, b := range []a2acore.TransportProtocol{a2acore.TransportProtocolJSONRPC, a2acore.TransportProtocolHTTPJSON} {
		for _, tt := range []struct {
			caller spiffeid.ID
			want   string
		}{{aliceID, "ask,echo"}, {bobID, "hello"}} {
			card := extendedCard(t, e, tt.caller, b)
			if got := skills(card); got != tt.want || !card.Capabilities.ExtendedAgentCard || card.Name != "search" {
				t.Errorf("%s %s: skills %s, extendedAgentCard %v; want %s, true", b, tt.caller, got, card.Capabilities.ExtendedAgentCard, tt.want)
			}
		}
		_, err := e.Client(carolID, b).GetExtendedAgentCard(t.Context(), &a2acore.GetExtendedAgentCardRequest{})
		if d, ok := a2a.DenialOf(err); !errors.Is(err, a2acore.ErrUnauthorized) || !ok || d.Reason != "carol may not read the card" {
			t.Errorf("%s carol: error = %v, want the permission error with the reason", b, err)
		}
	}
	want := strings.Repeat("GetExtendedAgentCard  alice/dev allowed\nGetExtendedAgentCard  bob/dev allowed\nGetExtendedAgentCard  carol/dev denied\n", 2)
	if got := strings.Join(audit.Snapshot(), "\n") + "\n"; got != want {
		t.Errorf("audited:\n%swant (no per-skill records):\n%s", got, want)
	}
	// The card's JSON is A2A 1.0's, as the public card's; the spec's
	// request without params works.
	for _, c := range []struct{ method, path, body string }{
		{http.MethodGet, "/extendedAgentCard", ""},
		{http.MethodPost, "/", `{"jsonrpc":"2.0","id":6,"method":"GetExtendedAgentCard"}`},
	} {
		status, _, raw := e.Do(c.method, c.path, c.body)
		if status != http.StatusOK || !bytes.Contains(raw, []byte(`"securityRequirements":[{"schemes":{"mtls":{"list":[]}}}]`)) || !bytes.Contains(raw, []byte(`"extendedAgentCard":true`)) {
			t.Errorf("%s %s: %d %s, want the card in A2A 1.0's JSON", c.method, c.path, status, raw)
		}
	}
}

// extendedCard reads caller's extended card over a binding. a2a-go's
// client cannot decode it: the card is in A2A 1.0's JSON, whose security
// requirements a2a-go v2.4.0 reads only in its own form
// (a2aproject/a2a-go#430; a2a.ParseCard reads both).
func extendedCard(t *testing.T, e *env, caller spiffeid.ID, b a2acore.TransportProtocol) *a2acore.AgentCard {
	t.Helper()
	method, path, body := http.MethodGet, "/extendedAgentCard", ""
	if b == a2acore.TransportProtocolJSONRPC {
		method, path, body = http.MethodPost, "/", `{"jsonrpc":"2.0","id":1,"method":"GetExtendedAgentCard","params":{}}`
	}
	req, _ := http.NewRequestWithContext(t.Context(), method, e.Base+path, strings.NewReader(body))
	req.Header.Set("A2A-Version", "1.0")
	resp, err := e.HTTPClient(caller).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s %v", b, caller, resp.StatusCode, raw, err)
	}
	if b == a2acore.TransportProtocolJSONRPC {
		var out struct{ Result json.RawMessage }
		if err := json.Unmarshal(raw, &out); err != nil || out.Result == nil {
			t.Fatalf("%s %s: %s %v", b, caller, raw, err)
		}
		raw = out.Result
	}
	card, err := a2a.ParseCard(raw)
	if err != nil {
		t.Fatalf("%s %s: %v", b, caller, err)
	}
	return card
}

// TestExtendedCardUnmounted: the engine called directly knows no card.
func TestExtendedCardUnmounted(t *testing.T) {
	t.Parallel()
	e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: capabilities(nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	if _, err := e.GetExtendedAgentCard(identity.WithPeerID(t.Context(), aliceID), &a2acore.GetExtendedAgentCardRequest{}); !errors.Is(err, a2acore.ErrExtendedCardNotConfigured) {
		t.Errorf("error = %v, want ExtendedAgentCardNotConfigured", err)
	}
}

// TestExtendedCardNotDeclared: a card built WithoutExtendedCard declares
// none, and the operation answers UnsupportedOperation (A2A §3.1.11).
func TestExtendedCardNotDeclared(t *testing.T) {
	t.Parallel()
	e, err := a2a.NewEngine(a2a.EngineOptions{Self: agentID, Enforcer: &authz.Enforcer{Authorizer: authz.AllowAll()}, Capabilities: capabilities(nil)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	card, err := a2a.BuildCard(a2a.CardOptions{Name: "x", Description: "x", URLs: []string{"https://127.0.0.1"}, WithoutExtendedCard: true}, e.Capabilities())
	if err != nil || card.Capabilities.ExtendedAgentCard {
		t.Fatalf("BuildCard = %+v, %v; want extendedAgentCard false", card.Capabilities, err)
	}
	h, err := a2a.NewHandler(e, card, a2a.HandlerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequestWithContext(identity.WithPeerID(t.Context(), aliceID), http.MethodGet, "/extendedAgentCard", nil)
	req.Header.Set("A2A-Version", "1.0")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "UNSUPPORTED_OPERATION") {
		t.Errorf("GET /extendedAgentCard: %d %s, want 400 UnsupportedOperation", rec.Code, rec.Body)
	}
}
